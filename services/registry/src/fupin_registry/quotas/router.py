"""HTTP routes of the quotas domain (/v1/quotas)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from fupin_events.values import RegionPrefix, business_today
from fupin_kit.auth import CallerDep
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import NotFound, Unprocessable, problem_responses
from fupin_registry.quotas.dependencies import QuotaServiceDep
from fupin_registry.quotas.schemas import QuotaRead, QuotaUpdate

router = APIRouter(prefix="/v1/quotas", tags=["quotas"])
RegionPath = Annotated[RegionPrefix, Path(description="region code (2, 4, 6, 9 or 12 digits)")]
YearPath = Annotated[int, Path(ge=2000, le=2100)]


@router.put(
    "/{region_code}/{year}",
    responses=problem_responses(401, 403, 409, 422),
    summary="Set a region's quota for a year (children may not exceed the parent)",
)
async def set_quota(
    request: Request,
    region_code: RegionPath,
    year: YearPath,
    body: QuotaUpdate,
    caller: CallerDep,
    service: QuotaServiceDep,
) -> QuotaRead:
    # A quota is set for a year of the register, this one or the next (planned ahead).
    earliest = request.app.state.settings.earliest_register_year
    if not earliest <= year <= business_today().year + 1:
        raise Unprocessable(
            "#/path/year",
            f"must lie between {earliest} and next year ({business_today().year + 1})",
        )
    return await service.describe(await service.set(region_code, year, body.quota, caller))


# The region is what a quota's 404 names, unless the region has no quota for the year.
REGION_IN_PATH = "#/path/region_code"


@router.get(
    "/{region_code}/{year}",
    responses=problem_responses(401, 404, 422),
    summary="A region's quota with the people already registered against it",
)
async def read_quota(
    region_code: RegionPath, year: YearPath, caller: CallerDep, service: QuotaServiceDep
) -> QuotaRead:
    caller.require_region(region_code, "quota", REGION_IN_PATH)
    if service.regions.name_of(region_code) is None:
        raise NotFound(f"region {region_code} not found", pointer=REGION_IN_PATH)
    quota = await service.quotas.get(region_code, year)
    if quota is None:
        raise NotFound(f"no quota is set for {region_code} in {year}")
    return await service.describe(quota)


@router.get(
    "", responses=problem_responses(401, 404, 422), summary="The quotas split below a region"
)
async def list_quotas(
    caller: CallerDep,
    service: QuotaServiceDep,
    parent: Annotated[RegionPrefix, Query(description="list the quotas of this region's children")],
    year: Annotated[int, Query(ge=2000, le=2100)],
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[QuotaRead]:
    after = decode_cursor(cursor, 1, (str,))
    rows = await service.quotas.children(
        parent, year, caller, after=after[0] if after else None, limit=limit + 1
    )
    items = [await service.describe(q) for q in rows[:limit]]
    next_cursor = encode_cursor([rows[limit - 1].region_code]) if len(rows) > limit else None
    return Page[QuotaRead](items=items, next_cursor=next_cursor)
