from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import business_date
from fupin_funds.common.money import to_fen
from fupin_funds.common.vocabulary import EntryKind, FundSource
from fupin_funds.funds.dependencies import FundDep
from fupin_funds.funds.models import Fund
from fupin_funds.funds.repository import FundRepository
from fupin_funds.funds.schemas import AppropriationCreate, FundCreate, FundRead
from fupin_funds.funds.service import fund_read, inflow, open_fund
from fupin_funds.regions.service import require_region
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import problem_responses

router = APIRouter(prefix="/v1/funds", tags=["funds"])


@router.post(
    "",
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
    summary="Open a fund (source, budget year, region) with its first appropriation",
)
async def create_fund(
    body: FundCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> FundRead:
    async def command() -> FundRead:
        caller.require_region_write(body.region_code)
        await require_region(session, body.region_code, "#/body/region_code")
        on = business_date(body.on, request.app.state.settings)
        fund = await open_fund(
            session, caller.actor, body.region_code, body.source.value, body.year, body.name
        )
        await inflow(
            session, fund, to_fen(body.amount), on, caller.actor, EntryKind.APPROPRIATION, body.name
        )
        return await fund_read(session, fund)

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint(body, caller),
        command=command,
    )


@router.post(
    "/{fund_id}/appropriations",
    status_code=201,
    responses=problem_responses(401, 403, 404, 422),
    summary="Add an appropriation to a fund",
)
async def add_appropriation(
    fund: FundDep,
    body: AppropriationCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> FundRead:
    async def command() -> FundRead:
        caller.require_region_write(fund.region_code)
        on = business_date(body.on, request.app.state.settings)
        await inflow(
            session, fund, to_fen(body.amount), on, caller.actor, EntryKind.APPROPRIATION, body.memo
        )
        return await fund_read(session, fund)

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint([fund.id, body], caller),
        command=command,
    )


@router.get("", summary="Funds in the caller's jurisdiction")
async def list_funds(
    session: SessionDep,
    caller: CallerDep,
    source: Annotated[FundSource | None, Query()] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[FundRead]:
    after = decode_cursor(cursor, 1, (str,))
    rows = await FundRepository(session).listing(
        caller.region_filter(Fund.region_code),
        None if source is None else source.value,
        year,
        after[0] if after else None,
        limit,
    )
    return Page(
        items=[await fund_read(session, f) for f in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )


@router.get(
    "/{fund_id}", responses=problem_responses(401, 404), summary="A fund with its pool balance"
)
async def read_fund(fund: FundDep, session: SessionDep) -> FundRead:
    return await fund_read(session, fund)
