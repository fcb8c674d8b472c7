"""Statistics in SQL: group the register (now, or as of a date from its history: as in effect on
that date, or as recorded at its end) by region prefix ``substr(village_code, 1, n)`` and by
status, attribute or primary cause."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, Select, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_registry.households.models import Household, HouseholdVersion, Member
from fupin_registry.regions.models import Region

GROUP_KEYS = ("status", "attribute", "primary_cause")


@dataclass(frozen=True)
class RegisterFilter:
    region: str
    prefix_length: int
    as_of: datetime | None = None  # as recorded: the end of the day, as an instant
    in_effect_on: date | None = None  # as in effect on this business date
    year: int | None = None
    statuses: tuple[str, ...] = ()  # empty: every status
    level: str = "county"  # the level's name, for the answer (prefix_length counts)


def _current_base(where: RegisterFilter) -> Select[Any]:
    people = (
        select(func.count())
        .where(Member.household_id == Household.id, Member.left_on.is_(None))
        .correlate(Household)
        .scalar_subquery()
    )
    query = select(
        Household.village_code.label("village_code"),
        Household.status.label("status"),
        Household.attribute.label("attribute"),
        Household.primary_cause.label("primary_cause"),
        Household.year.label("year"),
        people.label("people"),
    ).where(Household.village_code.startswith(where.region, autoescape=True))
    if where.year is not None:
        query = query.where(Household.year == where.year)
    if where.statuses:
        query = query.where(Household.status.in_(where.statuses))
    return query


def _version_columns() -> list[Any]:
    """What statistics read of a history row: its region and status, and from its snapshot."""
    snapshot = HouseholdVersion.snapshot
    return [
        HouseholdVersion.village_code.label("village_code"),
        HouseholdVersion.status.label("status"),
        snapshot["attribute"].astext.label("attribute"),
        snapshot["primary_cause"].astext.label("primary_cause"),
        cast(snapshot["year"].astext, Integer).label("year"),
        func.jsonb_array_length(snapshot["members"]).label("people"),
    ]


def _historical_base(where: RegisterFilter) -> Select[Any]:
    """The version of every household in force just before ``as_of``."""
    year = cast(HouseholdVersion.snapshot["year"].astext, Integer)
    query = select(*_version_columns()).where(
        HouseholdVersion.village_code.startswith(where.region, autoescape=True),
        HouseholdVersion.valid_from < where.as_of,
        or_(HouseholdVersion.valid_to.is_(None), HouseholdVersion.valid_to >= where.as_of),
    )
    if where.year is not None:
        query = query.where(year == where.year)
    if where.statuses:
        query = query.where(HouseholdVersion.status.in_(where.statuses))
    return query


def _effective_base(where: RegisterFilter) -> Select[Any]:
    """The version of every household in effect on ``in_effect_on``, as known now: of the
    versions holding from that day or earlier, the latest recorded."""
    latest = (
        select(*_version_columns())
        .where(
            HouseholdVersion.village_code.startswith(where.region, autoescape=True),
            HouseholdVersion.effective_on <= where.in_effect_on,
        )
        .ext(distinct_on(HouseholdVersion.household_id))
        .order_by(
            HouseholdVersion.household_id,
            HouseholdVersion.valid_from.desc(),
            HouseholdVersion.id.desc(),
        )
        .subquery("latest")
    )
    # The filters apply to the version chosen, not before choosing it.
    query = select(latest)
    if where.year is not None:
        query = query.where(latest.c.year == where.year)
    if where.statuses:
        query = query.where(latest.c.status.in_(where.statuses))
    return query


def register_base(where: RegisterFilter) -> Any:
    if where.in_effect_on is not None:
        return _effective_base(where).subquery("base")
    return (_current_base(where) if where.as_of is None else _historical_base(where)).subquery(
        "base"
    )


class StatisticsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def register(
        self, where: RegisterFilter, by: str | None
    ) -> list[tuple[str, str | None, int, int]]:
        """(region code, key, households, people) per region at the level and per key."""
        base = register_base(where)
        region = func.substr(base.c.village_code, 1, where.prefix_length).label("region_code")
        people = func.coalesce(func.sum(base.c.people), 0)
        if by in GROUP_KEYS:
            key = base.c[by]
            query = (
                select(region, key, func.count(), people)
                .group_by(region, key)
                .order_by(region, key)
            )
        else:
            query = (
                select(region, literal(None), func.count(), people)
                .group_by(region)
                .order_by(region)
            )
        return [(r[0], r[1], int(r[2]), int(r[3])) for r in await self.session.execute(query)]

    async def poor_people(self, where: RegisterFilter, statuses: list[str]) -> dict[str, int]:
        base = register_base(where)
        region = func.substr(base.c.village_code, 1, where.prefix_length).label("region_code")
        query = (
            select(region, func.coalesce(func.sum(base.c.people), 0))
            .where(base.c.status.in_(statuses))
            .group_by(region)
        )
        return {r[0]: int(r[1]) for r in await self.session.execute(query)}

    async def rural_population(
        self, region: str, prefix_length: int
    ) -> list[tuple[str, str, int | None]]:
        """Regions at the level under ``region`` with their rural population: the region's own
        figure, or else the sum of its villages' figures.

        The villages are summed per region in one grouped pass and joined on: a sum correlated
        to each region scanned every village once per region (tens of seconds for a province's
        ten thousand villages)."""
        villages = Region.__table__.alias("villages")
        area = func.substr(villages.c.code, 1, prefix_length).label("area")
        village_sums = (
            select(area, func.sum(villages.c.rural_population).label("total"))
            .where(
                villages.c.level == "village",
                villages.c.code.startswith(region, autoescape=True),
            )
            .group_by(area)
            .subquery()
        )
        query = (
            select(
                Region.code,
                Region.name,
                func.coalesce(Region.rural_population, village_sums.c.total),
            )
            .outerjoin(village_sums, village_sums.c.area == Region.code)
            .where(
                func.length(Region.code) == prefix_length,
                Region.code.startswith(region, autoescape=True),
            )
            .order_by(Region.code)
        )
        return [
            (r[0], r[1], None if r[2] is None else int(r[2]))
            for r in await self.session.execute(query)
        ]
