"""Quota control (规模控制): quotas split down the region tree and checked at county approval."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.registry import QuotaSet
from fupin_kit.auth import Caller
from fupin_kit.outbox import add_event
from fupin_kit.problems import Forbidden
from fupin_registry.access import ADMIN_ROLE, require_writer
from fupin_registry.quotas.exceptions import QuotaBelowUsed, QuotaTreeViolation
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
        # one change at a time per province and year, so checks never race each other
        await self.quotas.lock_tree(region_code[:2], year)
        ancestor = await self.quotas.nearest_ancestor(self._ancestors(region_code), year)
        if ancestor is not None:
            others = await self.quotas.nearest_descendants_total(
                ancestor.region_code, year, excluding=region_code
            )
            if others + quota > ancestor.quota:
                raise QuotaTreeViolation(
                    f"the regions under {ancestor.region_code} would total {others + quota}, "
                    f"above its quota of {ancestor.quota} for {year}"
                )
        below = await self.quotas.nearest_descendants_total(region_code, year)
        if below > quota:
            raise QuotaTreeViolation(
                f"the quotas already split below {region_code} total {below}, more than {quota}"
            )
        # Lowering a quota below the people its approvals already counted would make those
        # approvals over quota after the fact (an override may have put it there: keeping or
        # raising such a quota stays allowed).
        current = await self.quotas.get(region_code, year)
        if current is not None and current.quota == quota:
            return current  # the same quota again changes nothing: no event
        if current is None or quota < current.quota:
            used = await self.quotas.people_registered(region_code, year)
            if quota < used:
                raise QuotaBelowUsed(
                    f"approvals in {region_code} already counted {used} people for {year};"
                    f" the quota cannot be set below that",
                    used,
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
            children_total=await self.quotas.nearest_descendants_total(
                quota.region_code, quota.year
            ),
        )

    def _ancestors(self, region_code: str) -> list[str]:
        codes = []
        entry = self.regions.require_region(region_code, "#/path/region_code")
        while entry.parent_code is not None:
            codes.append(entry.parent_code)
            entry = self.regions.require_region(entry.parent_code, "#/path/region_code")
        return codes

    async def positions_for_approval(
        self, village_code: str, year: int, adding: int
    ) -> list[QuotaPosition]:
        """Lock and count the county's quota and its parents' for an approval of ``adding``
        people; the locks hold until the approving transaction ends."""
        codes = [village_code[:n] for n in APPROVAL_PREFIX_LENGTHS]
        await self.quotas.lock_tree(village_code[:2], year, shared=True)
        positions = []
        for quota in await self.quotas.lock(codes, year):
            used = await self.quotas.people_registered(quota.region_code, year)
            positions.append(QuotaPosition(quota.region_code, year, quota.quota, used, adding))
        return positions


__all__ = ["QuotaPosition", "QuotaService"]
