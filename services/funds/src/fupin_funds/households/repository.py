from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.common.vocabulary import REGISTERED_STATUSES
from fupin_funds.households.models import HouseholdStatusHistory, HouseholdView


def recorded_order(point: HouseholdStatusHistory) -> tuple[bool, int, int]:
    """Sort key of the order the registry recorded statuses in: by its household version (a
    late event takes its place), statuses stored without one first, in arrival order. The SQL
    form is ``ORDER BY registry_version NULLS FIRST, id``."""
    return (point.registry_version is not None, point.registry_version or 0, point.id)


class HouseholdRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, household_id: str, *, lock: bool = False) -> HouseholdView | None:
        statement = (
            select(HouseholdView)
            .where(HouseholdView.household_id == household_id)
            .execution_options(populate_existing=True)
        )
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar()

    async def many(self, household_ids: Sequence[str]) -> dict[str, HouseholdView]:
        if not household_ids:
            return {}
        rows = await self.session.execute(
            select(HouseholdView).where(HouseholdView.household_id.in_(sorted(set(household_ids))))
        )
        return {h.household_id: h for h in rows.scalars()}

    async def upsert(self, values: dict[str, object], update: Sequence[str]) -> None:
        """Insert the household or update ``update``; an event older than the newest applied
        (by the registry's household version, when both have one) leaves the row as it is."""
        statement = insert(HouseholdView).values(**values)
        incoming = statement.excluded.registry_version
        statement = statement.on_conflict_do_update(
            index_elements=["household_id"],
            set_={name: statement.excluded[name] for name in update}
            | {
                "registry_version": func.coalesce(incoming, HouseholdView.registry_version),
                "updated_at": func.now(),
            },
            where=or_(
                incoming.is_(None),
                HouseholdView.registry_version.is_(None),
                incoming > HouseholdView.registry_version,
            ),
        )
        await self.session.execute(statement)

    async def add_status(
        self, household_id: str, status: str, effective_on: date, registry_version: int | None
    ) -> None:
        self.session.add(
            HouseholdStatusHistory(
                household_id=household_id,
                status=status,
                effective_on=effective_on,
                registry_version=registry_version,
            )
        )
        await self.session.flush()

    async def history(self, household_id: str) -> list[HouseholdStatusHistory]:
        rows = await self.session.execute(
            select(HouseholdStatusHistory)
            .where(HouseholdStatusHistory.household_id == household_id)
            .order_by(HouseholdStatusHistory.effective_on, HouseholdStatusHistory.id)
        )
        return list(rows.scalars())

    async def by_member_index(self, member_index: str) -> list[HouseholdView]:
        rows = await self.session.execute(
            select(HouseholdView)
            .where(HouseholdView.member_indexes.contains([member_index]))
            .order_by(HouseholdView.updated_at.desc())
        )
        return list(rows.scalars())

    async def poor_population(self, region_codes: Sequence[str]) -> dict[str, int]:
        """Members of registered (identified or returned) households under each region."""
        result: dict[str, int] = {}
        for code in region_codes:
            total = await self.session.scalar(
                select(func.coalesce(func.sum(HouseholdView.member_count), 0)).where(
                    HouseholdView.village_code.startswith(code, autoescape=True),
                    HouseholdView.status.in_(sorted(REGISTERED_STATUSES)),
                )
            )
            result[code] = int(total or 0)
        return result
