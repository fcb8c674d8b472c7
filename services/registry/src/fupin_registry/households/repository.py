"""SQL over households, members, incomes, plans and the version history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.values import BUSINESS_TZ
from fupin_kit.auth import Caller
from fupin_registry.crosscheck.models import Flag
from fupin_registry.eligibility.repository import BATCH_CHECK, BATCH_CHECKS
from fupin_registry.households.domain import EXPORTED_STATUSES, MemberPeriod
from fupin_registry.households.models import (
    AssistanceMeasure,
    Household,
    HouseholdIncome,
    HouseholdVersion,
    Member,
)


@dataclass(frozen=True)
class HouseholdFilter:
    region: str | None = None
    statuses: tuple[str, ...] = ()  # any of them (none: all)
    attributes: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()  # primary or secondary
    year: int | None = None
    has_open_flags: bool | None = None


def current_member_count() -> Any:
    return (
        select(func.count())
        .where(Member.household_id == Household.id, Member.left_on.is_(None))
        .correlate(Household)
        .scalar_subquery()
    )


class HouseholdRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- households ---------------------------------------------------------------------

    async def get(self, household_id: uuid.UUID, *, for_update: bool = False) -> Household | None:
        query = select(Household).where(Household.id == household_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def number_taken(self, village_code: str, household_number: str) -> bool:
        query = select(
            exists().where(
                Household.village_code == village_code,
                Household.household_number == household_number,
            )
        )
        return bool(await self.session.scalar(query))

    async def add(self, household: Household) -> None:
        self.session.add(household)
        await self.session.flush()

    async def search(
        self,
        where: HouseholdFilter,
        caller: Caller,
        *,
        after: uuid.UUID | None,
        limit: int,
    ) -> list[tuple[Household, int]]:
        query = select(Household, current_member_count()).where(
            caller.region_filter(Household.village_code)
        )
        if where.region:
            query = query.where(Household.village_code.startswith(where.region, autoescape=True))
        if where.statuses:
            query = query.where(Household.status.in_(where.statuses))
        if where.attributes:
            query = query.where(Household.attribute.in_(where.attributes))
        if where.causes:
            query = query.where(
                or_(
                    Household.primary_cause.in_(where.causes),
                    Household.secondary_causes.overlap(list(where.causes)),
                )
            )
        if where.year is not None:
            query = query.where(Household.year == where.year)
        if where.has_open_flags is not None:
            open_flag = exists().where(Flag.household_id == Household.id, Flag.status == "open")
            query = query.where(open_flag if where.has_open_flags else ~open_flag)
        if after is not None:
            query = query.where(Household.id > after)
        result = await self.session.execute(query.order_by(Household.id).limit(limit))
        return [(row[0], row[1]) for row in result]

    # --- members ------------------------------------------------------------------------

    async def members(self, household_id: uuid.UUID) -> list[Member]:
        """Current members (not departed), in the order they were registered."""
        result = await self.session.execute(
            select(Member)
            .where(Member.household_id == household_id, Member.left_on.is_(None))
            # registration order; within one registration the head first, then by age
            .order_by(Member.created_at, (Member.relation != "head"), Member.birth_date, Member.id)
        )
        return list(result.scalars())

    async def member_periods(self, household_id: uuid.UUID) -> list[MemberPeriod]:
        """Every member the household has had, departed included. A member recorded with the
        household has no date joined (they belonged from before its registration); one added on
        a later day joined on that day."""
        day = func.date(func.timezone(BUSINESS_TZ.key, Member.created_at))
        registered_day = func.date(func.timezone(BUSINESS_TZ.key, Household.created_at))
        result = await self.session.execute(
            select(
                Member.birth_date,
                Member.left_on,
                case((day > registered_day, day), else_=None),
            )
            .join(Household, Household.id == Member.household_id)
            .where(Member.household_id == household_id)
        )
        return [MemberPeriod(row[0], row[1], row[2]) for row in result]

    async def member(self, household_id: uuid.UUID, member_id: uuid.UUID) -> Member | None:
        result = await self.session.execute(
            select(Member).where(
                Member.id == member_id,
                Member.household_id == household_id,
                Member.left_on.is_(None),
            )
        )
        return result.scalar_one_or_none()

    async def active_holders(self, indexes: Sequence[bytes]) -> dict[bytes, uuid.UUID]:
        """Blind index → household of every person among ``indexes`` in a live household."""
        if not indexes:
            return {}
        result = await self.session.execute(
            select(Member.id_index, Member.household_id).where(
                Member.id_index.in_(list(indexes)), Member.active.is_(True)
            )
        )
        return {row[0]: row[1] for row in result}

    async def add_members(self, members: Sequence[Member]) -> None:
        """Insert ``members`` in blind-index order (``id_index`` ascending), whatever order they
        are given in; the caller's list is left as it is.

        Each insert takes the person's key in the unique index of active members and waits for
        any other transaction holding the same person uncommitted. Transactions that take their
        people in one order cannot wait on each other in a circle (a deadlock): the later one
        waits on the first person they share, before it holds any other."""
        self.session.add_all(sorted(members, key=attrgetter("id_index")))
        await self.session.flush()

    async def deactivate_members(self, household_id: uuid.UUID) -> None:
        """The household's current members no longer count as active (it left the register).
        Their rows are locked in blind-index order, the order members are written in."""
        current = (
            select(Member.id)
            .where(Member.household_id == household_id, Member.left_on.is_(None))
            .order_by(Member.id_index)
            .with_for_update()
        )
        await self.session.execute(
            update(Member).where(Member.id.in_(current)).values(active=False)
        )

    # --- incomes and plan -----------------------------------------------------------------

    async def incomes(self, household_id: uuid.UUID) -> list[HouseholdIncome]:
        result = await self.session.execute(
            select(HouseholdIncome).where(HouseholdIncome.household_id == household_id)
        )
        return list(result.scalars())

    async def replace_incomes(
        self, household_id: uuid.UUID, year: int, amounts: dict[str, Decimal]
    ) -> None:
        await self.session.execute(
            delete(HouseholdIncome).where(
                HouseholdIncome.household_id == household_id, HouseholdIncome.year == year
            )
        )
        rows = [
            {"household_id": household_id, "year": year, "source": source, "amount": amount}
            for source, amount in amounts.items()
        ]
        if rows:
            await self.session.execute(insert(HouseholdIncome), rows)

    async def measures(self, household_id: uuid.UUID) -> list[AssistanceMeasure]:
        result = await self.session.execute(
            select(AssistanceMeasure)
            .where(AssistanceMeasure.household_id == household_id)
            .order_by(AssistanceMeasure.year, AssistanceMeasure.created_at, AssistanceMeasure.id)
        )
        return list(result.scalars())

    async def replace_measures(
        self, household_id: uuid.UUID, year: int, measures: Sequence[AssistanceMeasure]
    ) -> None:
        await self.session.execute(
            delete(AssistanceMeasure).where(
                AssistanceMeasure.household_id == household_id, AssistanceMeasure.year == year
            )
        )
        # Measures written together share created_at; ascending ids keep the order they came in.
        for measure, measure_id in zip(
            measures, sorted(uuid.uuid4() for _ in measures), strict=True
        ):
            measure.id = measure_id
        self.session.add_all(measures)
        await self.session.flush()


class HistoryRepository:
    """``household_versions``: one row per state, valid from one change to the next."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(
        self,
        household: Household,
        snapshot: dict[str, Any],
        *,
        actor: str,
        action: str,
        changed: Sequence[str],
        effective_on: date | None = None,
    ) -> None:
        """``effective_on``: the business date the change holds from (a status change's step
        date); by default the day it is recorded."""
        # The previous version ends where the new one begins. The instant is read now, under the
        # household's row lock, not at transaction start: a transaction that began earlier but
        # got the lock later must still come after the version it replaces.
        now = await self.session.scalar(
            select(
                func.greatest(
                    func.clock_timestamp(),
                    select(func.max(HouseholdVersion.valid_from) + timedelta(microseconds=1))
                    .where(HouseholdVersion.household_id == household.id)
                    .scalar_subquery(),
                )
            )
        )
        await self.session.execute(
            update(HouseholdVersion)
            .where(
                HouseholdVersion.household_id == household.id, HouseholdVersion.valid_to.is_(None)
            )
            .values(valid_to=now)
        )
        await self.session.execute(
            insert(HouseholdVersion).values(
                household_id=household.id,
                version=household.version,
                village_code=household.village_code,
                status=household.status,
                valid_from=now,
                actor=actor,
                action=action,
                changed=list(changed),
                snapshot=snapshot,
                **({} if effective_on is None else {"effective_on": effective_on}),
            )
        )

    async def in_effect_on(self, household_id: uuid.UUID, day: date) -> HouseholdVersion | None:
        """The version in effect on the business date ``day``, as known now: the latest
        recorded of the versions holding from that day or earlier."""
        result = await self.session.execute(
            select(HouseholdVersion)
            .where(
                HouseholdVersion.household_id == household_id, HouseholdVersion.effective_on <= day
            )
            .order_by(HouseholdVersion.valid_from.desc(), HouseholdVersion.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def as_of(self, household_id: uuid.UUID, instant: datetime) -> HouseholdVersion | None:
        """The version in force just before ``instant``."""
        result = await self.session.execute(
            select(HouseholdVersion)
            .where(
                HouseholdVersion.household_id == household_id,
                HouseholdVersion.valid_from < instant,
                or_(HouseholdVersion.valid_to.is_(None), HouseholdVersion.valid_to >= instant),
            )
            .order_by(HouseholdVersion.valid_from.desc(), HouseholdVersion.id.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def changes(
        self, household_id: uuid.UUID, *, after: int | None, limit: int
    ) -> list[HouseholdVersion]:
        query = select(HouseholdVersion).where(HouseholdVersion.household_id == household_id)
        if after is not None:
            query = query.where(HouseholdVersion.id > after)
        result = await self.session.execute(query.order_by(HouseholdVersion.id).limit(limit))
        return list(result.scalars())


# The audit records about one household, newest first: personal data read in clear (records
# about the household, its members or its cases, and unmasked exports that listed it) and
# eligibility checks about its members —
# single checks name the member by blind-index hex, batch records hold their checks in columns
# and are unnested as ``CheckHistory`` unnests them. ``position`` orders the items of one batch
# record.
_ACCESS_LOG = text(
    f"""
WITH people AS (
  SELECT id::text AS member_id, encode(id_index, 'hex') AS hex
  FROM members WHERE household_id = :household
), household_cases AS (
  SELECT id::text AS case_id FROM cases WHERE household_id = :household
), entries AS (
  SELECT seq, 0::bigint AS position, occurred_at, actor, action, object_type, object_id, details
  FROM audit_log
  WHERE (object_type = 'household' AND object_id = :household_text)
     OR (object_type = 'member' AND (object_id IN (SELECT member_id FROM people)
                                     OR object_id IN (SELECT hex FROM people)))
     OR (object_type = 'case' AND object_id IN (SELECT case_id FROM household_cases))
  UNION ALL
  -- Unmasked exports of a region that listed the household: it was in that region and in an
  -- exported status in the version of its history in force when the export was recorded.
  SELECT a.seq, 0::bigint, a.occurred_at, a.actor, a.action, a.object_type, a.object_id,
         a.details
  FROM audit_log a
  WHERE a.object_type = 'register' AND a.action = 'pii.export_unmasked'
    AND EXISTS (
      SELECT 1 FROM household_versions v
      WHERE v.household_id = :household
        AND v.valid_from <= a.occurred_at
        AND (v.valid_to IS NULL OR v.valid_to > a.occurred_at)
        AND v.status = ANY(:exported)
        AND starts_with(v.village_code, a.object_id))
  UNION ALL
  SELECT a.seq, m.i, a.occurred_at, a.actor, a.action, 'member', m.member,
         {BATCH_CHECK} || jsonb_build_object('batch', a.object_id)
  FROM people p, {BATCH_CHECKS}
  WHERE a.action = 'eligibility.check' AND a.object_type = 'eligibility_batch'
    AND a.details->'members' @> jsonb_build_array(p.hex)  -- ix_audit_log_batch_members
    AND m.member = p.hex
)
SELECT e.seq, e.position, e.occurred_at, e.actor, e.action, e.object_type, e.object_id,
       e.details, coalesce(by_id.member_id, by_hex.member_id) AS member_id
FROM entries e
LEFT JOIN people by_id ON e.object_type = 'member' AND by_id.member_id = e.object_id
LEFT JOIN people by_hex ON e.object_type = 'member' AND by_hex.hex = e.object_id
WHERE CAST(:before_seq AS bigint) IS NULL
   OR (e.seq, e.position) < (CAST(:before_seq AS bigint), CAST(:before_position AS bigint))
ORDER BY e.seq DESC, e.position DESC
LIMIT :limit
"""  # noqa: S608 (constants only)
)


@dataclass(frozen=True)
class AccessEntry:
    seq: int
    position: int
    occurred_at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    member_id: uuid.UUID | None


class AccessLogRepository:
    """Who read a household's personal data in clear and who checked its members' eligibility,
    from the audit chain (``audit_log``)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def entries(
        self, household_id: uuid.UUID, *, before: tuple[int, int] | None, limit: int
    ) -> list[AccessEntry]:
        rows = await self.session.execute(
            _ACCESS_LOG,
            {
                "household": household_id,
                "household_text": str(household_id),
                "exported": list(EXPORTED_STATUSES),
                "before_seq": before[0] if before else None,
                "before_position": before[1] if before else None,
                "limit": limit,
            },
        )
        return [
            AccessEntry(
                **{
                    **r._mapping,
                    "member_id": uuid.UUID(r.member_id) if r.member_id else None,
                }
            )
            for r in rows
        ]
