"""SQL over the region table."""

from __future__ import annotations

import asyncpg
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_registry.regions.models import Region


async def load_divisions(conn: asyncpg.Connection) -> list[tuple[str, str, str, str | None]]:
    rows = await conn.fetch("SELECT code, name, level, parent_code FROM regions")
    return [(r["code"], r["name"], r["level"], r["parent_code"]) for r in rows]


async def set_rural_populations(conn: asyncpg.Connection, figures: dict[str, int]) -> None:
    """Bulk update of rural population (reference data) by region code."""
    await conn.execute(
        "UPDATE regions SET rural_population = v.people, updated_at = now()"
        " FROM unnest($1::text[], $2::int[]) AS v(code, people) WHERE regions.code = v.code",
        list(figures),
        list(figures.values()),
    )


class RegionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all_divisions(self) -> list[tuple[str, str, str, str | None]]:
        result = await self.session.execute(
            select(Region.code, Region.name, Region.level, Region.parent_code)
        )
        return [tuple(row) for row in result]  # type: ignore[misc]

    async def get(self, code: str) -> Region | None:
        return await self.session.get(Region, code)

    async def children(self, parent_code: str, *, after: str | None, limit: int) -> list[Region]:
        query = select(Region).where(Region.parent_code == parent_code)
        if after is not None:
            query = query.where(Region.code > after)
        result = await self.session.execute(query.order_by(Region.code).limit(limit))
        return list(result.scalars())

    async def set_rural_population(self, code: str, population: int | None) -> Region | None:
        result = await self.session.execute(
            update(Region)
            .where(Region.code == code)
            .values(rural_population=population)
            .returning(Region)
        )
        return result.scalar_one_or_none()
