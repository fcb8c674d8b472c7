"""HTTP routes of the regions domain: reference data for codes, names and rural population."""

from fastapi import APIRouter

from fupin_kit.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import NotFound, problem_responses
from fupin_registry.access import require_admin
from fupin_registry.regions.repository import RegionRepository
from fupin_registry.regions.schemas import RegionRead, RuralPopulationUpdate

router = APIRouter(prefix="/v1/regions", tags=["regions"])
MAX_CODE_LENGTH = 12


def _is_code(code: str) -> bool:
    return code.isdigit() and len(code) <= MAX_CODE_LENGTH


def _unknown(code: str) -> NotFound:
    """The code as sent, unless it is too long to be one (then it is not echoed)."""
    if len(code) > MAX_CODE_LENGTH:
        return NotFound(f"no such region: a region code has at most {MAX_CODE_LENGTH} digits")
    return NotFound(f"region {code} not found")


@router.get("/{code}", responses=problem_responses(401, 404), summary="One region")
async def read_region(code: str, session: SessionDep, caller: CallerDep) -> RegionRead:
    region = await RegionRepository(session).get(code) if _is_code(code) else None
    if region is None:
        raise _unknown(code)
    return RegionRead.model_validate(region)


@router.get(
    "/{code}/children", responses=problem_responses(401, 404), summary="Child regions, by code"
)
async def list_children(
    code: str, session: SessionDep, caller: CallerDep, cursor: Cursor = None, limit: Limit = 100
) -> Page[RegionRead]:
    repository = RegionRepository(session)
    if not _is_code(code) or await repository.get(code) is None:
        raise _unknown(code)
    after = decode_cursor(cursor, 1, (str,))
    rows = await repository.children(code, after=after[0] if after else None, limit=limit + 1)
    items = [RegionRead.model_validate(r) for r in rows[:limit]]
    next_cursor = encode_cursor([items[-1].code]) if len(rows) > limit else None
    return Page[RegionRead](items=items, next_cursor=next_cursor)


@router.put(
    "/{code}/rural-population",
    responses=problem_responses(401, 403, 404, 422),
    summary="Set a region's rural population (reference data; admin)",
)
async def set_rural_population(
    code: str, body: RuralPopulationUpdate, session: SessionDep, caller: CallerDep
) -> RegionRead:
    require_admin(caller)
    if not _is_code(code):
        raise _unknown(code)
    caller.require_region_write(code)
    region = await RegionRepository(session).set_rural_population(code, body.rural_population)
    if region is None:
        raise _unknown(code)
    return RegionRead.model_validate(region)
