"""Eligibility lookups on a dedicated asyncpg pool, off the per-request ORM session.

Each statement is prepared once per pooled connection (asyncpg's statement cache) and looks
members up by blind index only; the bank's jurisdiction is part of the WHERE clause, so a person
outside it is not found at all. ``CheckHistory`` reads back, for investigators, every check
the audit trail holds about a member.
"""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import asyncpg

from fupin_kit.crypto import BLIND_INDEX_BYTES
from fupin_kit.db import hot_path_settings, keep_session
from fupin_registry.eligibility.rules import Standing

StandingRow: TypeAlias = Standing | asyncpg.Record

# Per person, active membership first, then the latest one (a person has at most one active
# household). The columns of ``Standing`` first, then the key. The keys travel as ONE bytea of
# 32-byte blind indexes, cut apart by the server: asyncpg encodes a bytea[] element by element,
# at more than four times the client CPU.
KEY_BYTES = BLIND_INDEX_BYTES
# A household with an open natural-decrease case (a death or a move reported, e.g. its last
# member's confirmed death) stands as natural decrease already: no lender should hear "yes"
# about a person the village has reported gone. Found through the open-case index.
STANDING_STATUS = """CASE WHEN EXISTS (
        SELECT 1 FROM cases c WHERE c.household_id = h.id AND c.kind = 'natural_decrease'
           AND c.state NOT IN ('approved', 'rejected'))
      THEN 'natural_decrease' ELSE h.status END"""
FIND_MANY = f"""
SELECT DISTINCT ON (m.id_index)
       m.active, {STANDING_STATUS}, h.exited_on, h.village_code, m.id_index
FROM members m JOIN households h ON h.id = m.household_id
WHERE m.id_index = ANY(ARRAY(
        SELECT substring($1::bytea FROM i FOR 32)
        FROM generate_series(1, length($1::bytea), 32) AS i
      ))
  AND starts_with(h.village_code, $2)
ORDER BY m.id_index, m.active DESC, m.updated_at DESC
"""  # noqa: S608 (constants only)


def packed_keys(id_indexes: list[bytes]) -> bytes:
    """``FIND_MANY``'s first parameter: the blind indexes end to end."""
    packed = b"".join(id_indexes)
    if len(packed) != KEY_BYTES * len(id_indexes):
        raise ValueError(f"blind indexes are {KEY_BYTES} bytes long")
    return packed


class StandingRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # The rows are returned as they come: they index like ``Standing`` (same column order),
    # and building a tuple per row would be pure cost in batches.
    async def find_many(
        self, id_indexes: list[bytes], jurisdiction: str
    ) -> dict[bytes, StandingRow]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(FIND_MANY, packed_keys(id_indexes), jurisdiction)
        return {r[4]: r for r in rows}


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min(2, size),
        max_size=size,
        reset=keep_session,
        server_settings=hot_path_settings("fupin-eligibility"),
    )


# Every check about one member, wherever its audit record is: a single check's record is about
# the member (object_id = blind-index hex); a batch's record holds its checks in columns
# (details.members[i], details.decision_ids[i], ...), found by JSONB containment and unnested.
#
# ``BATCH_CHECK`` is check ``m.i`` of batch record ``a`` as a single check's details; the
# household's access log (``households.repository``) unpacks batch records with it too.
BATCH_CHECK = """jsonb_build_object(
    'decision_id', a.details->'decision_ids'->(m.i::int - 1),
    'eligible', a.details->'eligible'->(m.i::int - 1),
    'reason_code', a.details->'reason_codes'->(m.i::int - 1),
    'valid_until', a.details->'valid_until'->(m.i::int - 1),
    'purpose', a.details->'purposes'->(m.i::int - 1),
    'consent_reference', a.details->'consent_references'->(m.i::int - 1))"""
BATCH_CHECKS = (
    "audit_log a CROSS JOIN LATERAL jsonb_array_elements_text(a.details->'members')"
    " WITH ORDINALITY AS m(member, i)"
)
CHECKS_ABOUT = f"""
SELECT seq, 0::bigint AS position, occurred_at, actor, details AS check
FROM audit_log
WHERE action = 'eligibility.check' AND object_type = 'member' AND object_id = $1
UNION ALL
SELECT a.seq, m.i, a.occurred_at, a.actor, {BATCH_CHECK}
FROM {BATCH_CHECKS}
WHERE a.action = 'eligibility.check' AND a.object_type = 'eligibility_batch'
  AND a.details->'members' @> jsonb_build_array($1::text)  -- ix_audit_log_batch_members
  AND m.member = $1
ORDER BY seq, position
"""  # noqa: S608 (constants only)


class CheckHistory:
    """What was answered about a member, for investigators (singles and batch items alike)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def checks_about(self, member_hex: str) -> list[dict[str, Any]]:
        """One entry per check: audit ``seq``, ``occurred_at``, ``actor`` and the check's
        fields (decision id, eligible, reason code, valid until, purpose, consent reference)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(CHECKS_ABOUT, member_hex)
        return [
            {
                "seq": row["seq"],
                "occurred_at": row["occurred_at"],
                "actor": row["actor"],
                **json.loads(row["check"]),
            }
            for row in rows
        ]
