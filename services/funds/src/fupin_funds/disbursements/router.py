"""Disbursement commands. Each runs its checks and writes inside ``run_idempotent`` and then posts
the balances as the last statement of the transaction, so the hot account's row lock is held
only for that statement and the commit. A replayed key posts nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import business_date
from fupin_funds.disbursements.dependencies import PaymentContextDep
from fupin_funds.disbursements.schemas import (
    DirectSubsidyCreate,
    DisbursementRead,
    ProjectFundingCreate,
    ProjectPaymentCreate,
)
from fupin_funds.disbursements.service import (
    prepare_direct_subsidy,
    prepare_project_funding,
    prepare_project_payment,
)
from fupin_funds.ledger.service import Ledger, Transfer
from fupin_funds.projects.dependencies import LockedProjectDep
from fupin_kit.auth import Caller
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.problems import problem_responses

router = APIRouter(tags=["disbursements"])
ERRORS = problem_responses(401, 403, 404, 409, 422)


async def disburse(
    session: AsyncSession,
    caller: Caller,
    key: str | None,
    request_fingerprint: str,
    prepare: Callable[[], Awaitable[tuple[DisbursementRead, Transfer]]],
) -> JSONResponse:
    pending: list[Transfer] = []

    async def command() -> Any:
        read, transfer = await prepare()
        pending.append(transfer)
        return read

    response = await run_idempotent(
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=request_fingerprint,
        command=command,
    )
    for transfer in pending:
        await Ledger(session).post(transfer)
    return response


@router.post(
    "/v1/projects/{project_id}/fundings",
    status_code=201,
    responses=ERRORS,
    response_model=DisbursementRead,
    summary="Fund a project from a fund pool (after its notice period, within its budget)",
)
async def fund_project(
    project: LockedProjectDep,
    body: ProjectFundingCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    async def prepare() -> tuple[DisbursementRead, Transfer]:
        on = business_date(body.on, request.app.state.settings)
        return await prepare_project_funding(session, caller, project, body, on)

    return await disburse(session, caller, key, fingerprint([project.id, body]), prepare)


@router.post(
    "/v1/projects/{project_id}/payments",
    status_code=201,
    responses=ERRORS,
    response_model=DisbursementRead,
    summary="Pay from a project to a beneficiary household or a payee",
)
async def pay_from_project(
    project: PaymentContextDep,
    body: ProjectPaymentCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    settings = request.app.state.settings

    async def prepare() -> tuple[DisbursementRead, Transfer]:
        on = business_date(body.on, settings)
        return await prepare_project_payment(session, settings, caller, project, body, on)

    return await disburse(session, caller, key, fingerprint([project.project_id, body]), prepare)


@router.post(
    "/v1/household-subsidies",
    status_code=201,
    responses=ERRORS,
    response_model=DisbursementRead,
    summary="Pay a subsidy straight from a fund pool to an eligible household",
)
async def pay_household_subsidy(
    body: DirectSubsidyCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    settings = request.app.state.settings

    async def prepare() -> tuple[DisbursementRead, Transfer]:
        on = business_date(body.on, settings)
        return await prepare_direct_subsidy(session, settings, caller, body, on)

    return await disburse(session, caller, key, fingerprint(body), prepare)
