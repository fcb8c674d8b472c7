"""SQL of the cross-department comparison: entries by blind index, matching, flags, reports."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_registry.crosscheck.models import Flag, ReferenceList
from fupin_registry.households.domain import CLOSED_STATUSES, EXPORTED_STATUSES
from fupin_registry.households.models import Household


def _sql_list(statuses: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{status}'" for status in sorted(statuses)) + ")"


CLOSED = _sql_list(CLOSED_STATUSES)
# A flag reviewed by a person stands: its member is not flagged again for that kind. Flags the
# system closed (a second open flag of a kind, a household that left the register) were
# reviewed by no one.
SYSTEM_ACTOR = "system"
REVIEWED = (
    f"f.status IN ('confirmed', 'dismissed') AND f.resolved_by IS DISTINCT FROM '{SYSTEM_ACTOR}'"
)
# In the register (建档立卡): identified, and still after an exit or a return. An applicant is not.
REGISTERED = _sql_list(EXPORTED_STATUSES)

# One open flag per household and kind; a member whose flag of this kind was already reviewed
# (confirmed or dismissed) is not flagged again by a later list: the review stands. Both
# statements that raise flags choose their ``matches`` with these conditions and insert them so.
_NOT_FLAGGED = f"""
       AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.household_id = m.household_id
                        AND f.kind = :kind AND f.status = 'open')
       AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.member_id = m.id
                        AND f.kind = :kind AND {REVIEWED})"""  # noqa: S608 - constants only
_INSERT_MATCHES = """
INSERT INTO flags (id, household_id, member_id, village_code, kind, source, status)
SELECT gen_random_uuid(), household_id, member_id, village_code, :kind, :source, 'open'
  FROM matches
ON CONFLICT (household_id, kind) WHERE status = 'open' DO NOTHING
RETURNING id, household_id, village_code
"""

_MATCH = f"""
WITH matches AS (
    SELECT DISTINCT ON (m.household_id) m.household_id, m.id AS member_id, h.village_code
      FROM reference_entries e
      JOIN members m ON m.id_index = e.id_index AND m.active
      JOIN households h ON h.id = m.household_id
     WHERE e.list_id = :list_id
       AND h.village_code LIKE :prefix
       AND h.status NOT IN {CLOSED}{_NOT_FLAGGED}
     ORDER BY m.household_id, m.id
){_INSERT_MATCHES}"""  # noqa: S608 - only module constants are interpolated

# A current member of a live household in the jurisdiction whose ID number is also on the
# current member list of another live household (anywhere in the province): the household gets
# a duplicate_id flag naming the member, unless one is open or that member's was reviewed.
_FLAG_DUPLICATES = f"""
WITH matches AS (
    SELECT DISTINCT ON (m.household_id) m.household_id, m.id AS member_id, h.village_code
      FROM members m
      JOIN households h ON h.id = m.household_id
     WHERE h.village_code LIKE :prefix AND m.left_on IS NULL
       AND h.status NOT IN {CLOSED}
       AND EXISTS (SELECT 1 FROM members o JOIN households oh ON oh.id = o.household_id
                    WHERE o.id_index = m.id_index AND o.household_id <> m.household_id
                      AND o.left_on IS NULL AND oh.status NOT IN {CLOSED}){_NOT_FLAGGED}
     ORDER BY m.household_id, m.id
){_INSERT_MATCHES}"""  # noqa: S608 - only module constants are interpolated

# People on a current member list in the jurisdiction who are on another household's list too,
# wherever it is: a household outside the jurisdiction is shown only as being there (and its
# status), not named.
_DUPLICATES = f"""
WITH mine AS (
    SELECT DISTINCT m.id_index
      FROM members m
      JOIN households h ON h.id = m.household_id
     WHERE h.village_code LIKE :prefix AND m.left_on IS NULL
       AND (CAST(:include_closed AS boolean) OR h.status NOT IN {CLOSED})
       AND (CAST(:after AS bytea) IS NULL OR m.id_index > CAST(:after AS bytea))
)
SELECT m.id_index,
       jsonb_agg(CASE WHEN h.village_code LIKE :prefix THEN jsonb_build_object(
           'household_id', h.id, 'village_code', h.village_code,
           'household_number', h.household_number, 'status', h.status,
           'attribute', h.attribute, 'member_active', m.active, 'outside_jurisdiction', false)
           ELSE jsonb_build_object('status', h.status, 'member_active', m.active,
                                   'outside_jurisdiction', true) END
           ORDER BY h.village_code LIKE :prefix DESC, h.village_code, h.household_number)
           AS households
  FROM mine
  JOIN members m ON m.id_index = mine.id_index AND m.left_on IS NULL
  JOIN households h ON h.id = m.household_id
 GROUP BY m.id_index
HAVING count(DISTINCT m.household_id) FILTER (WHERE h.status NOT IN {CLOSED}) > 1
    OR (CAST(:include_closed AS boolean) AND count(DISTINCT m.household_id) > 1
        AND bool_or(m.active))
 ORDER BY m.id_index
 LIMIT :limit
"""  # noqa: S608 - only module constants are interpolated

# People of the dibao list, grouped into the civil-affairs households, with their register
# membership: households in the region compared are named; a registration elsewhere is only
# known to exist (the region may not see it). An entry without a village code lies somewhere in
# the list's region: it is taken only when that whole region is compared (``unplaced``).
_DIBAO_PEOPLE = f"""
WITH people AS (
    SELECT e.id_index, e.detail ->> 'household_ref' AS household_ref,
           e.detail ->> 'village_code' AS village_code
      FROM reference_entries e
     WHERE e.list_id = :list_id
       AND (e.detail ->> 'village_code' LIKE :prefix
            OR (e.detail ->> 'village_code' IS NULL AND :unplaced))
), held AS (
    SELECT p.household_ref, p.village_code, p.id_index, h.id AS household_id,
           h.village_code AS h_village, h.household_number, h.status, h.attribute, m.active
      FROM people p
      LEFT JOIN members m ON m.id_index = p.id_index AND m.left_on IS NULL
      LEFT JOIN households h ON h.id = m.household_id AND h.status NOT IN {CLOSED}
), placed AS (
    SELECT *, h_village LIKE :prefix AS here FROM held
)
SELECT household_ref, min(village_code) AS village_code, count(DISTINCT id_index) AS people,
       COALESCE(jsonb_agg(DISTINCT jsonb_build_object(
           'household_id', household_id, 'village_code', h_village,
           'household_number', household_number, 'status', status, 'attribute', attribute,
           'member_active', active)) FILTER (WHERE household_id IS NOT NULL AND here), '[]')
           AS households,
       COALESCE(bool_or(here AND status IN {REGISTERED}), false) AS registered,
       COALESCE(bool_or(here AND status IN {REGISTERED}
                        AND attribute IN ('dibao', 'dibao_poor')), false) AS as_dibao,
       COALESCE(bool_or(NOT here AND status IN {REGISTERED}), false) AS registered_elsewhere
  FROM placed
 GROUP BY COALESCE(household_ref, encode(id_index, 'hex')), household_ref
 ORDER BY min(village_code), household_ref
"""  # noqa: S608 - only module constants are interpolated

_REGISTER_DIBAO_MISSING = f"""
SELECT h.id AS household_id, h.village_code, h.household_number, h.attribute
  FROM households h
 WHERE h.village_code LIKE :prefix AND h.attribute IN ('dibao', 'dibao_poor')
   AND h.status IN {REGISTERED}
   AND NOT EXISTS (
        SELECT 1 FROM members m JOIN reference_entries e ON e.id_index = m.id_index
         WHERE m.household_id = h.id AND m.left_on IS NULL AND e.list_id = :list_id)
 ORDER BY h.village_code, h.household_number
 LIMIT :limit
"""  # noqa: S608 - only module constants are interpolated


def like_prefix(jurisdiction: str) -> str:
    return jurisdiction.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class CrosscheckRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_list(self, reference_list: ReferenceList) -> None:
        self.session.add(reference_list)
        await self.session.flush()

    async def get_list(self, list_id: uuid.UUID) -> ReferenceList | None:
        return await self.session.get(ReferenceList, list_id)

    async def latest_list(self, kind: str, covering: str) -> ReferenceList | None:
        """The newest list of ``kind`` uploaded for ``covering`` or a region containing it."""
        prefixes = [covering[:length] for length in range(len(covering) + 1)]
        query = (
            select(ReferenceList)
            .where(ReferenceList.kind == kind, ReferenceList.jurisdiction.in_(prefixes))
            .order_by(ReferenceList.created_at.desc(), ReferenceList.id.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def add_entries(self, list_id: uuid.UUID, entries: Sequence[tuple[bytes, str]]) -> None:
        """(blind index, detail as JSON text) pairs, by COPY."""
        if not entries:
            return
        connection = await self.session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None  # an asyncpg connection while the session holds it
        await raw.copy_records_to_table(
            "reference_entries",
            records=[(list_id, index, detail) for index, detail in entries],
            columns=["list_id", "id_index", "detail"],
        )

    async def match(self, list_id: uuid.UUID, kind: str, jurisdiction: str) -> list[Any]:
        result = await self.session.execute(
            text(_MATCH),
            {
                "list_id": list_id,
                "kind": kind,
                "source": str(list_id),
                "prefix": like_prefix(jurisdiction),
            },
        )
        return list(result)

    async def drop_flags_on_closed(self, raised: list[Any]) -> list[Any]:
        """Of flags just raised, delete those whose household has left the register: the
        households are share-locked first, so an approval closing one in flight commits before
        (its status is then read here) or waits for this transaction (and dismisses what it
        finds open). The flags kept."""
        if not raised:
            return raised
        households = sorted({r.household_id for r in raised})
        rows = await self.session.execute(
            text("SELECT id, status FROM households WHERE id = ANY(:ids) ORDER BY id FOR SHARE"),
            {"ids": households},
        )
        closed = {row.id for row in rows if row.status in CLOSED_STATUSES}
        if not closed:
            return raised
        dropped = [r.id for r in raised if r.household_id in closed]
        await self.session.execute(text("DELETE FROM flags WHERE id = ANY(:ids)"), {"ids": dropped})
        return [r for r in raised if r.household_id not in closed]

    async def flag_duplicates(self, kind: str, source: str, jurisdiction: str) -> list[Any]:
        result = await self.session.execute(
            text(_FLAG_DUPLICATES),
            {"kind": kind, "source": source, "prefix": like_prefix(jurisdiction)},
        )
        return list(result)

    async def set_counts(self, list_id: uuid.UUID, rows: int, matches: int) -> None:
        await self.session.execute(
            update(ReferenceList)
            .where(ReferenceList.id == list_id)
            .values(row_count=rows, match_count=matches, updated_at=func.now())
        )

    async def get_flag(self, flag_id: uuid.UUID) -> Flag | None:
        return (await self.session.execute(select(Flag).where(Flag.id == flag_id))).scalar()

    async def lock_flag(self, flag_id: uuid.UUID) -> Flag | None:
        """The flag row-locked, after its household's row: the order in which a case that
        closes the household takes them (the household, then its open flags), so a review
        and such a case wait on each other instead of deadlocking."""
        household = select(Flag.household_id).where(Flag.id == flag_id).scalar_subquery()
        await self.session.execute(
            select(Household.id).where(Household.id == household).with_for_update()
        )
        query = (
            select(Flag)
            .where(Flag.id == flag_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(query)).scalar()

    async def list_flags(
        self, where: list[Any], *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Flag]:
        query = select(Flag).where(*where)
        if after is not None:
            query = query.where(func.row(Flag.created_at, Flag.id) < func.row(after[0], after[1]))
        query = query.order_by(Flag.created_at.desc(), Flag.id.desc()).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def duplicates(
        self, jurisdiction: str, after: bytes | None, limit: int, include_closed: bool
    ) -> list[Any]:
        result = await self.session.execute(
            text(_DUPLICATES),
            {
                "prefix": like_prefix(jurisdiction),
                "after": after,
                "limit": limit,
                "include_closed": include_closed,
            },
        )
        return list(result)

    async def dibao_people(
        self, list_id: uuid.UUID, jurisdiction: str, *, unplaced: bool
    ) -> list[Any]:
        result = await self.session.execute(
            text(_DIBAO_PEOPLE),
            {
                "list_id": list_id,
                "prefix": like_prefix(jurisdiction),
                "unplaced": unplaced,
            },
        )
        return list(result)

    async def register_dibao_missing(
        self, list_id: uuid.UUID, jurisdiction: str, limit: int
    ) -> list[Any]:
        result = await self.session.execute(
            text(_REGISTER_DIBAO_MISSING),
            {"list_id": list_id, "prefix": like_prefix(jurisdiction), "limit": limit},
        )
        return list(result)
