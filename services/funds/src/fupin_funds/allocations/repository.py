from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.allocations.models import (
    Allocation,
    AllocationFactor,
    AllocationLine,
    CountyAssessment,
    FactorValue,
)


class AllocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- factors and values ---
    async def factors(self) -> list[AllocationFactor]:
        rows = await self.session.execute(select(AllocationFactor).order_by(AllocationFactor.code))
        return list(rows.scalars())

    async def factor(self, code: str, *, lock: bool = False) -> AllocationFactor | None:
        statement = select(AllocationFactor).where(AllocationFactor.code == code)
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar()

    async def add_factor(self, factor: AllocationFactor) -> AllocationFactor:
        self.session.add(factor)
        await self.session.flush()
        return factor

    async def factor_values(
        self, code: str, year: int, regions: Sequence[str]
    ) -> dict[str, Decimal]:
        rows = await self.session.execute(
            select(FactorValue.region_code, FactorValue.value).where(
                FactorValue.factor_code == code,
                FactorValue.year == year,
                FactorValue.region_code.in_(list(regions)),
            )
        )
        return {region: value for region, value in rows}

    async def list_values(
        self, code: str, year: int, jurisdiction_filter: Any
    ) -> list[FactorValue]:
        rows = await self.session.execute(
            select(FactorValue)
            .where(FactorValue.factor_code == code, FactorValue.year == year, jurisdiction_filter)
            .order_by(FactorValue.region_code)
        )
        return list(rows.scalars())

    async def upsert_values(
        self, code: str, year: int, values: Sequence[tuple[str, Decimal]], actor: str
    ) -> None:
        if not values:
            return
        statement = insert(FactorValue).values(
            [
                {
                    "factor_code": code,
                    "region_code": region,
                    "year": year,
                    "value": value,
                    "updated_by": actor,
                }
                for region, value in values
            ]
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["factor_code", "region_code", "year"],
                set_={
                    "value": statement.excluded.value,
                    "updated_by": actor,
                    "updated_at": func.now(),
                },
            )
        )

    # --- assessments (read model of evaluation.assessment.v1) ---
    async def upsert_assessment(self, values: dict[str, Any]) -> None:
        statement = insert(CountyAssessment).values(**values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["assessment_id"],
                set_={k: statement.excluded[k] for k in values if k != "assessment_id"},
            )
        )

    async def latest_assessments(self, region_prefix: str) -> list[CountyAssessment]:
        """The latest published assessment of every county under ``region_prefix``."""
        rows = await self.session.execute(
            select(CountyAssessment)
            .where(CountyAssessment.county_code.startswith(region_prefix, autoescape=True))
            .order_by(
                CountyAssessment.county_code,
                CountyAssessment.year.desc(),
                CountyAssessment.published_on.desc(),
                CountyAssessment.assessment_id.desc(),
            )
            .ext(distinct_on(CountyAssessment.county_code))
        )
        return list(rows.scalars())

    # --- allocations ---
    async def add(self, allocation: Allocation, lines: Sequence[AllocationLine]) -> Allocation:
        self.session.add(allocation)
        await self.session.flush()
        self.session.add_all(lines)
        await self.session.flush()
        return allocation

    async def get(self, allocation_id: str, *, lock: bool = False) -> Allocation | None:
        statement = select(Allocation).where(Allocation.id == allocation_id)
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar()

    async def lines(self, allocation_id: str) -> list[AllocationLine]:
        rows = await self.session.execute(
            select(AllocationLine)
            .where(AllocationLine.allocation_id == allocation_id)
            .order_by(AllocationLine.region_code)
        )
        return list(rows.scalars())

    async def listing(
        self, jurisdiction_filter: Any, status: str | None, after: str | None, limit: int
    ) -> list[Allocation]:
        statement = select(Allocation).where(jurisdiction_filter)
        if status is not None:
            statement = statement.where(Allocation.status == status)
        if after is not None:
            statement = statement.where(Allocation.id > after)
        rows = await self.session.execute(statement.order_by(Allocation.id).limit(limit))
        return list(rows.scalars())
