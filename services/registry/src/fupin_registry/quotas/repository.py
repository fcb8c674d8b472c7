"""SQL over quotas and the people they count."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg
from sqlalchemy import and_, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fupin_kit.auth import Caller
from fupin_registry.households.models import Household, Member
from fupin_registry.identification.models import Case
from fupin_registry.quotas.models import Quota


async def copy_quotas(
    conn: asyncpg.Connection, rows: Sequence[tuple[str, int, int, str | None, str]]
) -> None:
    """Bulk upsert of (region_code, year, quota, parent_code, set_by), without the tree checks."""
    await conn.executemany(
        "INSERT INTO quotas (region_code, year, quota, parent_code, set_by)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (region_code, year)"
        " DO UPDATE SET quota = EXCLUDED.quota, set_by = EXCLUDED.set_by, updated_at = now()",
        rows,
    )


# Statuses of a household that never took a place in the register.
NEVER_REGISTERED = ("applied", "rejected")


class QuotaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, region_code: str, year: int, *, for_update: bool = False) -> Quota | None:
        query = select(Quota).where(Quota.region_code == region_code, Quota.year == year)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def lock(self, region_codes: Sequence[str], year: int) -> list[Quota]:
        """Row-lock the quotas of these regions so that concurrent approvals count in turn."""
        result = await self.session.execute(
            select(Quota)
            .where(Quota.region_code.in_(list(region_codes)), Quota.year == year)
            .order_by(Quota.region_code)
            .with_for_update()
        )
        return list(result.scalars())

    async def lock_tree(self, province_code: str, year: int, *, shared: bool = False) -> None:
        """Serialise every quota change of one province and year until the transaction ends,
        also where no quota row exists yet to lock. Approvals take it ``shared``: a quota change
        then waits for the approvals in flight, and counts them, before it checks what is used
        (approvals still run side by side, in turn on the quota rows they lock)."""
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await self.session.execute(
            text(f"SELECT {function}(hashtextextended(:key, 0))"),
            {"key": f"quota-tree:{province_code}:{year}"},
        )

    async def nearest_ancestor(self, ancestor_codes: Sequence[str], year: int) -> Quota | None:
        """The quota of the longest of ``ancestor_codes`` that has one for the year."""
        if not ancestor_codes:
            return None
        result = await self.session.execute(
            select(Quota)
            .where(Quota.region_code.in_(list(ancestor_codes)), Quota.year == year)
            .order_by(func.length(Quota.region_code).desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def nearest_descendants_total(
        self, region_code: str, year: int, *, excluding: str | None = None
    ) -> int:
        """Sum of the quotas of the nearest regions below ``region_code`` that have one (a
        township counts when its county has none), leaving out ``excluding`` and its subtree."""
        between = aliased(Quota)
        query = select(func.coalesce(func.sum(Quota.quota), 0)).where(
            Quota.year == year,
            Quota.region_code.startswith(region_code, autoescape=True),
            Quota.region_code != region_code,
            ~select(between.region_code)
            .where(
                and_(
                    between.year == year,
                    between.region_code.startswith(region_code, autoescape=True),
                    func.length(between.region_code) > len(region_code),
                    func.length(between.region_code) < func.length(Quota.region_code),
                    func.starts_with(Quota.region_code, between.region_code),
                )
            )
            .exists(),
        )
        if excluding is not None:
            query = query.where(~Quota.region_code.startswith(excluding, autoescape=True))
        return int(await self.session.scalar(query) or 0)

    async def upsert(
        self, region_code: str, year: int, quota: int, parent_code: str | None, set_by: str
    ) -> Quota:
        statement = (
            insert(Quota)
            .values(
                region_code=region_code,
                year=year,
                quota=quota,
                parent_code=parent_code,
                set_by=set_by,
            )
            .on_conflict_do_update(
                index_elements=["region_code", "year"],
                set_={"quota": quota, "set_by": set_by, "updated_at": func.now()},
            )
            .returning(Quota)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def children(
        self, parent_code: str, year: int, caller: Caller, *, after: str | None, limit: int
    ) -> list[Quota]:
        query = select(Quota).where(
            Quota.parent_code == parent_code,
            Quota.year == year,
            caller.region_filter(Quota.region_code),
        )
        if after is not None:
            query = query.where(Quota.region_code > after)
        result = await self.session.execute(query.order_by(Quota.region_code).limit(limit))
        return list(result.scalars())

    async def people_registered(self, region_prefix: str, year: int) -> int:
        """People counted by the identifications approved in ``year`` in the region: each
        approval keeps the count it was checked with (later changes neither free nor use
        places). Households registered that year without an approval here (imported from a
        county's register, or loaded as demo data) count with their current members."""
        first, last = date(year, 1, 1), date(year, 12, 31)
        approved = select(func.coalesce(func.sum(Case.people_counted), 0)).where(
            Case.people_counted.is_not(None),
            Case.last_step_on >= first,
            Case.last_step_on <= last,
            Case.village_code.startswith(region_prefix, autoescape=True),
        )
        brought_in = (
            select(func.count())
            .select_from(Member)
            .join(Household, Household.id == Member.household_id)
            .where(
                Household.village_code.startswith(region_prefix, autoescape=True),
                Household.registered_on >= first,
                Household.registered_on <= last,
                Household.status.not_in(NEVER_REGISTERED),
                Member.left_on.is_(None),
                ~select(Case.id)
                .where(Case.household_id == Household.id, Case.people_counted.is_not(None))
                .exists(),
            )
        )
        counted = int(await self.session.scalar(approved) or 0)
        return counted + int(await self.session.scalar(brought_in) or 0)
