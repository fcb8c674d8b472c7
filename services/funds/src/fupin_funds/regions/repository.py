from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.regions.models import Region


class RegionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, code: str) -> Region | None:
        return await self.session.get(Region, code)

    async def children(self, code: str) -> list[Region]:
        rows = await self.session.execute(
            select(Region).where(Region.parent_code == code).order_by(Region.code)
        )
        return list(rows.scalars())

    async def existing(self, codes: Iterable[str]) -> set[str]:
        wanted = sorted(set(codes))
        if not wanted:
            return set()
        rows = await self.session.execute(select(Region.code).where(Region.code.in_(wanted)))
        return set(rows.scalars())
