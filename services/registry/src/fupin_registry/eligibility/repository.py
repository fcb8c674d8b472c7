"""Eligibility lookups on a dedicated asyncpg pool, off the per-request ORM session.

Each statement is prepared once per pooled connection (asyncpg's statement cache) and looks
members up by blind index only; the bank's jurisdiction is part of the WHERE clause, so a person
outside it is not found at all.
"""

from __future__ import annotations

import asyncpg

from fupin_registry.eligibility.rules import Standing

# Active membership first, then the latest one: a person has at most one active household.
FIND_ONE = """
SELECT m.active, h.status, h.exited_on, h.village_code
FROM members m JOIN households h ON h.id = m.household_id
WHERE m.id_index = $1 AND starts_with(h.village_code, $2)
ORDER BY m.active DESC, m.updated_at DESC
LIMIT 1
"""

FIND_MANY = """
SELECT DISTINCT ON (m.id_index) m.id_index, m.active, h.status, h.exited_on, h.village_code
FROM members m JOIN households h ON h.id = m.household_id
WHERE m.id_index = ANY($1::bytea[]) AND starts_with(h.village_code, $2)
ORDER BY m.id_index, m.active DESC, m.updated_at DESC
"""


class StandingRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def find_one(self, id_index: bytes, jurisdiction: str) -> Standing | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(FIND_ONE, id_index, jurisdiction)
        return None if row is None else Standing(row[0], row[1], row[2], row[3])

    async def find_many(self, id_indexes: list[bytes], jurisdiction: str) -> dict[bytes, Standing]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(FIND_MANY, id_indexes, jurisdiction)
        return {r[0]: Standing(r[1], r[2], r[3], r[4]) for r in rows}


async def _keep_session(connection: asyncpg.Connection) -> None:
    return None


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min(2, size),
        max_size=size,
        # The pool only runs read-only prepared lookups and never changes session state, so
        # the reset round trip asyncpg makes on every release is pure cost.
        reset=_keep_session,
        server_settings={"application_name": "fupin-eligibility", "timezone": "UTC"},
    )
