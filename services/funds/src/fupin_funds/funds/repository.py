from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.funds.models import Fund


class FundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, fund_id: str) -> Fund | None:
        return await self.session.get(Fund, fund_id)

    async def find(self, region_code: str, source: str, year: int) -> Fund | None:
        return (
            await self.session.execute(
                select(Fund).where(
                    Fund.region_code == region_code, Fund.source == source, Fund.year == year
                )
            )
        ).scalar()

    async def add(self, fund: Fund) -> Fund:
        self.session.add(fund)
        await self.session.flush()
        return fund

    async def listing(
        self,
        jurisdiction_filter: Any,
        source: str | None,
        year: int | None,
        after: str | None,
        limit: int,
    ) -> list[Fund]:
        statement = select(Fund).where(jurisdiction_filter)
        if source is not None:
            statement = statement.where(Fund.source == source)
        if year is not None:
            statement = statement.where(Fund.year == year)
        if after is not None:
            statement = statement.where(Fund.id > after)
        rows = await self.session.execute(statement.order_by(Fund.id).limit(limit))
        return list(rows.scalars())
