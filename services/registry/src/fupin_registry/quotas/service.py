"""Quota control (规模控制): quotas split down the region tree and checked at county approval."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.registry import QuotaSet
from fupin_kit.auth import Caller
from fupin_kit.outbox import add_event
from fupin_kit.problems import Forbidden
from fupin_registry.access import ADMIN_ROLE, require_writer
from fupin_registry.quotas.exceptions import QuotaTreeViolation
from fupin_registry.quotas.models import Quota
from fupin_registry.quotas.repository import QuotaRepository
from fupin_registry.quotas.schemas import QuotaRead
from fupin_registry.regions.directory import RegionDirectory

# County approval is checked against the county's quota and its parents'; township and village
# quotas are planning figures held only to the tree rule.
APPROVAL_PREFIX_LENGTHS = (6, 4, 2)


@dataclass(frozen=True)
class QuotaPosition:
    region_code: str
    year: int
    quota: int
    used: int
    adding: int

    @property
    def exceeded(self) -> bool:
        return self.used + self.adding > self.quota


class QuotaService:
    def __init__(self, session: AsyncSession, regions: RegionDirectory) -> None:
        self.session = session
        self.regions = regions
        self.quotas = QuotaRepository(session)

    async def set(self, region_code: str, year: int, quota: int, caller: Caller) -> Quota:
        """Set a region's quota: the level above owns it (or an administrator)."""
        require_writer(caller)
        region = self.regions.require_region(region_code, "#/path/region_code")
        caller.require_region_write(region_code)
        if len(caller.jurisdiction) >= len(region_code) and ADMIN_ROLE not in caller.roles:
            raise Forbidden("a region's quota is set by the level above it")
        parent = region.parent_code
        if parent is not None:
            parent_quota = await self.quotas.get(parent, year, for_update=True)
            if parent_quota is not None:
                siblings = await self.quotas.children_total(parent, year, excluding=region_code)
                if siblings + quota > parent_quota.quota:
                    raise QuotaTreeViolation(
                        f"the regions under {parent} would total {siblings + quota}, "
                        f"above its quota of {parent_quota.quota} for {year}"
                    )
        await self.quotas.get(region_code, year, for_update=True)  # serialise with child updates
        children = await self.quotas.children_total(region_code, year)
        if children > quota:
            raise QuotaTreeViolation(
                f"the quotas already split below {region_code} total {children}, more than {quota}"
            )
        saved = await self.quotas.upsert(region_code, year, quota, parent, caller.actor)
        await add_event(
            self.session,
            QuotaSet(region_code=region_code, year=year, quota=quota, parent_code=parent),
            subject=region_code,
        )
        return saved

    async def describe(self, quota: Quota) -> QuotaRead:
        return QuotaRead(
            region_code=quota.region_code,
            region_name=self.regions.name_of(quota.region_code),
            year=quota.year,
            quota=quota.quota,
            parent_code=quota.parent_code,
            set_by=quota.set_by,
            used=await self.quotas.people_registered(quota.region_code, quota.year),
            children_total=await self.quotas.children_total(quota.region_code, quota.year),
        )

    async def positions_for_approval(
        self, village_code: str, year: int, adding: int
    ) -> list[QuotaPosition]:
        """Lock and count the county's quota and its parents' for an approval of ``adding``
        people; the locks hold until the approving transaction ends."""
        codes = [village_code[:n] for n in APPROVAL_PREFIX_LENGTHS]
        positions = []
        for quota in await self.quotas.lock(codes, year):
            used = await self.quotas.people_registered(quota.region_code, year)
            positions.append(QuotaPosition(quota.region_code, year, quota.quota, used, adding))
        return positions


__all__ = ["QuotaPosition", "QuotaService"]
