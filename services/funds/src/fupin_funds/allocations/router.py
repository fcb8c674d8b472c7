from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from fupin_events.values import region_level
from fupin_funds.allocations.dependencies import AllocationDep, LockedAllocationDep
from fupin_funds.allocations.models import Allocation, AllocationFactor, FactorValue
from fupin_funds.allocations.repository import AllocationRepository
from fupin_funds.allocations.schemas import (
    AllocationCreate,
    AllocationLineRead,
    AllocationRead,
    AllocationTransition,
    FactorCreate,
    FactorRead,
    FactorUpdate,
    FactorValueRead,
    FactorValuesPut,
)
from fupin_funds.allocations.service import approve, propose, reject, release
from fupin_funds.common.audit import audit
from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import business_date
from fupin_funds.common.etag import IfMatch, check_if_match, etag_of
from fupin_funds.common.exports import EXPORT_RESPONSES, ExportFormat, render
from fupin_funds.common.money import from_fen
from fupin_funds.funds.dependencies import find_fund
from fupin_funds.regions.repository import RegionRepository
from fupin_funds.regions.service import require_regions
from fupin_kit.auth import Caller
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import Conflict, Forbidden, NotFound, Unprocessable, problem_responses

router = APIRouter(prefix="/v1/allocations", tags=["allocations"])
factors = APIRouter(prefix="/v1/allocation-factors", tags=["allocations"])
FactorCode = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,40}$")]


async def allocation_read(session: SessionDep, allocation: Allocation) -> AllocationRead:
    lines = await AllocationRepository(session).lines(allocation.id)
    regions = RegionRepository(session)
    names = {line.region_code: (await regions.get(line.region_code)) for line in lines}
    return AllocationRead(
        id=allocation.id,
        fund_id=allocation.fund_id,
        parent_region=allocation.parent_region,
        source=allocation.source,
        year=allocation.year,
        mode=allocation.mode,
        status=allocation.status,
        total=from_fen(allocation.total_fen),
        formula_pool=from_fen(allocation.formula_fen),
        award_pool=from_fen(allocation.award_fen),
        award_share=allocation.award_share,
        proposed_on=allocation.proposed_on,
        approved_on=allocation.approved_on,
        notice_ends_on=allocation.notice_ends_on,
        released_on=allocation.released_on,
        rejected_reason=allocation.rejected_reason,
        lines=[
            AllocationLineRead(
                region_code=line.region_code,
                region_name=None
                if names[line.region_code] is None
                else names[line.region_code].name,  # type: ignore[union-attr]
                formula_amount=from_fen(line.formula_fen),
                award_amount=from_fen(line.award_fen),
                amount=from_fen(line.amount_fen),
                computation=line.computation,
            )
            for line in lines
        ],
    )


@router.post(
    "",
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Propose an allocation to the regions below a fund's region, line by line",
)
async def create_allocation(
    body: AllocationCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> AllocationRead:
    async def command() -> AllocationRead:
        fund = await find_fund(body.fund_id, session, caller, "#/body/fund_id")
        on = business_date(body.on, request.app.state.settings)
        return await allocation_read(
            session, await propose(session, request.app.state.settings, caller, fund, body, on)
        )

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint(body, caller),
        command=command,
    )


@router.get("", summary="Allocations decided in the caller's jurisdiction")
async def list_allocations(
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[str | None, Query(pattern=r"^(proposed|approved|released|rejected)$")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AllocationRead]:
    after = decode_cursor(cursor, 1, (str,))
    rows = await AllocationRepository(session).listing(
        caller.region_filter(Allocation.parent_region), status, after[0] if after else None, limit
    )
    return Page(
        items=[await allocation_read(session, a) for a in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )


@router.get(
    "/{allocation_id}",
    responses=problem_responses(401, 404),
    summary="An allocation with each line's computation",
)
async def read_allocation(allocation: AllocationDep, session: SessionDep) -> AllocationRead:
    return await allocation_read(session, allocation)


@router.get(
    "/{allocation_id}/export",
    responses={**problem_responses(401, 404), **EXPORT_RESPONSES},
    summary="Allocation table as .xlsx or .csv",
)
async def export_allocation(
    allocation: AllocationDep,
    session: SessionDep,
    format: Annotated[ExportFormat, Query()] = ExportFormat.XLSX,
) -> Response:
    read = await allocation_read(session, allocation)
    factor_codes = sorted(
        {f["factor"] for line in read.lines for f in line.computation.get("factors", [])}
    )
    header = [
        "region_code",
        "region_name",
        *[f"{c}_value" for c in factor_codes],
        *[f"{c}_share" for c in factor_codes],
        "composite_share",
        "award_score",
        "formula_amount",
        "award_amount",
        "amount",
    ]
    rows = []
    for line in read.lines:
        by_code = {f["factor"]: f for f in line.computation.get("factors", [])}
        rows.append(
            [
                line.region_code,
                line.region_name,
                *[by_code.get(c, {}).get("value") for c in factor_codes],
                *[by_code.get(c, {}).get("share") for c in factor_codes],
                line.computation.get("composite_share"),
                line.computation.get("award_score"),
                line.formula_amount,
                line.award_amount,
                line.amount,
            ]
        )
    rows.append(
        [
            "total",
            None,
            *[None] * (2 * len(factor_codes)),
            None,
            None,
            read.formula_pool,
            read.award_pool,
            read.total,
        ]
    )
    return render(rows, header, format, f"allocation-{allocation.id}", "allocation")


def _transition(name: str, summary: str) -> None:
    async def endpoint(
        allocation: LockedAllocationDep,
        body: AllocationTransition,
        request: Request,
        session: SessionDep,
        caller: CallerDep,
        key: IdempotencyKey = None,
    ) -> AllocationRead:
        settings = request.app.state.settings

        async def command() -> AllocationRead:
            on = business_date(body.on, settings)
            if name == "approve":
                changed = await approve(session, settings, caller, allocation, on)
            elif name == "release":
                changed = await release(session, caller, allocation, on)
            else:
                changed = await reject(session, caller, allocation, body.note, on)
            return await allocation_read(session, changed)

        return await run_idempotent(  # type: ignore[return-value]
            session,
            caller=caller.actor,
            key=key,
            request_fingerprint=fingerprint([allocation.id, name, body], caller),
            command=command,
            status_code=200,
        )

    endpoint.__name__ = f"{name}_allocation"
    router.add_api_route(
        f"/{{allocation_id}}/{name}",
        endpoint,
        methods=["POST"],
        summary=summary,
        responses=problem_responses(401, 403, 404, 409, 422),
    )


_transition(
    "approve",
    "Approve (the parent region's office): reserves the money and starts the public notice",
)
_transition(
    "release", "Release to the children's fund pools after the notice passed with no open objection"
)
_transition("reject", "Reject a proposal (note = reason)")


# --- factors and factor values (data, editable) ---


def _factor_read(factor: AllocationFactor) -> FactorRead:
    return FactorRead(
        code=factor.code,
        name=factor.name,
        direction=factor.direction,
        origin=factor.origin,
        weight=factor.weight,
        version=factor.version,
    )


def _province_only(caller: Caller) -> None:
    if region_level(caller.jurisdiction) != "province":
        raise Forbidden("the allocation formula is set at the province level")


@factors.get("", summary="Allocation factors and their weights")
async def list_factors(session: SessionDep, caller: CallerDep) -> list[FactorRead]:
    return [_factor_read(f) for f in await AllocationRepository(session).factors()]


@factors.post(
    "",
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
    summary="Add a data factor",
)
async def create_factor(
    body: FactorCreate, session: SessionDep, caller: CallerDep, response: Response
) -> FactorRead:
    _province_only(caller)
    repository = AllocationRepository(session)
    if await repository.factor(body.code) is not None:
        raise Conflict(f"factor {body.code} exists")
    factor = await repository.add_factor(
        AllocationFactor(
            code=body.code,
            name=body.name,
            direction=body.direction,
            origin="data",
            weight=body.weight,
            version=1,
        )
    )
    await audit(
        session,
        caller,
        "factor.created",
        "allocation_factor",
        factor.code,
        {"weight": str(factor.weight)},
    )
    response.headers["ETag"] = etag_of("factor", factor.code, factor.version)
    return _factor_read(factor)


@factors.get("/{code}", responses=problem_responses(401, 404), summary="A factor")
async def read_factor(
    code: FactorCode, session: SessionDep, caller: CallerDep, response: Response
) -> FactorRead:
    factor = await AllocationRepository(session).factor(code)
    if factor is None:
        raise NotFound("factor not found")
    response.headers["ETag"] = etag_of("factor", factor.code, factor.version)
    return _factor_read(factor)


@factors.patch(
    "/{code}",
    responses=problem_responses(401, 403, 404, 412, 428),
    summary="Change a factor's weight",
)
async def update_factor(
    code: FactorCode,
    body: FactorUpdate,
    session: SessionDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatch = None,
) -> FactorRead:
    _province_only(caller)
    factor = await AllocationRepository(session).factor(code, lock=True)
    if factor is None:
        raise NotFound("factor not found")
    check_if_match(if_match, "factor", factor.code, factor.version)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    for name, value in changes.items():
        setattr(factor, name, value)
    factor.version += 1
    await session.flush()
    await audit(
        session,
        caller,
        "factor.updated",
        "allocation_factor",
        factor.code,
        {k: str(v) for k, v in changes.items()},
    )
    response.headers["ETag"] = etag_of("factor", factor.code, factor.version)
    return _factor_read(factor)


@factors.put(
    "/{code}/values",
    responses=problem_responses(401, 403, 404, 422),
    summary="Set factor values per region and year (regions in the caller's jurisdiction)",
)
async def put_values(
    code: FactorCode, body: FactorValuesPut, session: SessionDep, caller: CallerDep
) -> list[FactorValueRead]:
    repository = AllocationRepository(session)
    factor = await repository.factor(code)
    if factor is None:
        raise NotFound("factor not found")
    if factor.origin != "data":
        raise Conflict(f"factor {code} is computed from the registry's events, not entered")
    codes = [item.region_code for item in body.values]
    for code_ in codes:
        caller.require_region_write(code_)
    await require_regions(session, codes, "#/body/values")
    seen: set[str] = set()
    for position, code_ in enumerate(codes):
        if code_ in seen:
            raise Unprocessable(f"#/body/values/{position}", f"region {code_} is listed twice")
        seen.add(code_)
    await repository.upsert_values(
        code, body.year, [(i.region_code, i.value) for i in body.values], caller.actor
    )
    await audit(
        session,
        caller,
        "factor.values_set",
        "allocation_factor",
        code,
        {"year": body.year, "regions": len(codes)},
    )
    return [
        FactorValueRead(factor_code=code, region_code=i.region_code, year=body.year, value=i.value)
        for i in body.values
    ]


@factors.get("/{code}/values", summary="Factor values of a year in the caller's jurisdiction")
async def get_values(
    code: FactorCode,
    session: SessionDep,
    caller: CallerDep,
    year: Annotated[int, Query(ge=2000, le=2100)],
) -> list[FactorValueRead]:
    rows = await AllocationRepository(session).list_values(
        code, year, caller.region_filter(FactorValue.region_code)
    )
    return [
        FactorValueRead(
            factor_code=v.factor_code, region_code=v.region_code, year=v.year, value=v.value
        )
        for v in rows
    ]
