"""HTTP routes of register statistics (/v1/statistics), computed in SQL, now or as of a date."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request

from fupin_events.values import BUSINESS_TZ, Day, RegionPrefix, business_today
from fupin_kit.auth import Caller, CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.problems import Unprocessable, problem_responses
from fupin_registry.regions.directory import RegionDirectory, RegionsDep
from fupin_registry.statistics.repository import RegisterFilter, StatisticsRepository
from fupin_registry.statistics.schemas import (
    GroupBy,
    IncidenceRow,
    IncidenceStatistics,
    Level,
    RegisterRow,
    RegisterStatistics,
)
from fupin_registry.vocabulary import HistoryBasis, HouseholdStatus

router = APIRouter(prefix="/v1/statistics", tags=["statistics"])
LEVEL_LENGTH = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}
LEVEL_OF_LENGTH: dict[int, str] = {length: level for level, length in LEVEL_LENGTH.items()}
LevelQuery = Annotated[
    Level | None,
    Query(
        description="the level rows are counted at: county by default, or the region's own"
        " level when it lies below a county"
    ),
]
FOUR_PLACES = Decimal("0.0001")
RegionQuery = Annotated[RegionPrefix | None, Query(description="defaults to your jurisdiction")]
AsOfQuery = Annotated[Day | None, Query(description="business date; computed from history")]
BasisQuery = Annotated[
    HistoryBasis,
    Query(
        description=(
            "with `as_of`: `effective` (default) counts each household as in effect on that date,"
            " a step entered late from its own date; `recorded` counts the register as it stood"
            " at the end of that date"
        )
    ),
]
YearQuery = Annotated[int | None, Query(ge=2000, le=2100, description="identification year")]


def _filter(
    caller: Caller,
    regions: RegionDirectory,
    region: str | None,
    level: Level | None,
    as_of: Day | None,
    basis: HistoryBasis,
    year: int | None,
    statuses: list[HouseholdStatus] | None = None,
) -> RegisterFilter:
    if region is not None:
        regions.require_region(region, "#/query/region")  # not answered as an empty region
    region = region or caller.jurisdiction
    caller.require_region_write(region)
    named: str = level or ("county" if len(region) <= 6 else LEVEL_OF_LENGTH[len(region)])
    length = LEVEL_LENGTH[named]
    if length < len(region):
        raise Unprocessable("#/query/level", f"{named} is above the region {region}")
    instant = None
    if as_of is not None:
        if as_of > business_today():
            raise Unprocessable("#/query/as_of", "cannot be in the future")
        if basis == HistoryBasis.RECORDED:
            instant = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=BUSINESS_TZ)
    return RegisterFilter(
        region=region,
        level=named,
        prefix_length=length,
        as_of=instant,
        in_effect_on=as_of if basis == HistoryBasis.EFFECTIVE else None,
        year=year,
        statuses=tuple(sorted({s.value for s in statuses or ()})),
    )


@router.get(
    "/register",
    responses=problem_responses(401, 403, 422),
    summary="Households and people per region at a level, by status, attribute or cause",
)
async def register_statistics(
    session: SessionDep,
    caller: CallerDep,
    regions: RegionsDep,
    region: RegionQuery = None,
    level: LevelQuery = None,
    by: GroupBy | None = None,
    as_of: AsOfQuery = None,
    basis: BasisQuery = HistoryBasis.EFFECTIVE,
    year: YearQuery = None,
    status: Annotated[
        list[HouseholdStatus] | None,
        Query(description="count only households in these statuses (repeat the parameter)"),
    ] = None,
) -> RegisterStatistics:
    where = _filter(caller, regions, region, level, as_of, basis, year, status)
    column = "primary_cause" if by == "cause" else by
    rows = await StatisticsRepository(session).register(where, column)
    return RegisterStatistics(
        region=where.region,
        level=where.level,
        by=by,
        as_of=as_of,
        basis=basis if as_of is not None else None,
        rows=[
            RegisterRow(
                region_code=code, region_name=regions.name_of(code), key=key, households=h, people=p
            )
            for code, key, h, p in rows
        ],
    )


@router.get(
    "/poverty-incidence",
    responses=problem_responses(401, 403, 422),
    summary="Poverty incidence: poor people / rural population per region",
)
async def poverty_incidence(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    regions: RegionsDep,
    region: RegionQuery = None,
    level: LevelQuery = None,
    as_of: AsOfQuery = None,
    basis: BasisQuery = HistoryBasis.EFFECTIVE,
) -> IncidenceStatistics:
    where = _filter(caller, regions, region, level, as_of, basis, None)
    statuses = list(request.app.state.settings.poor_statuses)
    repository = StatisticsRepository(session)
    poor = await repository.poor_people(where, statuses)
    rows = []
    for code, name, rural in await repository.rural_population(where.region, where.prefix_length):
        people = poor.get(code, 0)
        incidence = None
        if rural:
            incidence = (Decimal(people) / Decimal(rural)).quantize(
                FOUR_PLACES, rounding=ROUND_HALF_UP
            )
        rows.append(
            IncidenceRow(
                region_code=code,
                region_name=name,
                poor_people=people,
                rural_population=rural,
                incidence=incidence,
            )
        )
    return IncidenceStatistics(
        region=where.region,
        level=where.level,
        as_of=as_of,
        basis=basis if as_of is not None else None,
        poor_statuses=statuses,
        rows=rows,
    )
