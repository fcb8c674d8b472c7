"""Disbursement commands. Each runs its checks (and, except payments, its ``run_idempotent``
reservation) first and posts last; the balances settle at commit, so the hot account's row lock is
held only while the commit runs. A replayed key posts nothing. Payments from a project, the
busiest command, reserve their key in the posting statement itself (``payments``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import business_date
from fupin_funds.disbursements import payments
from fupin_funds.disbursements.schemas import (
    DirectSubsidyCreate,
    DisbursementRead,
    ProjectFundingCreate,
    ProjectPaymentCreate,
)
from fupin_funds.disbursements.service import (
    prepare_direct_subsidy,
    prepare_project_funding,
)
from fupin_funds.ledger.service import Ledger, Transfer
from fupin_funds.projects.dependencies import LockedProjectDep
from fupin_kit.auth import Caller, get_staff_caller
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, checked_key, fingerprint, run_idempotent
from fupin_kit.lean import Answer, LeanEndpoint, json_body, path_text
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
        # Disbursements read no balance afterwards: settle at commit (see ledger/service.py).
        await Ledger(session).post(transfer, settle_at_commit=True)
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

    return await disburse(session, caller, key, fingerprint([project.id, body], caller), prepare)


@router.post(
    "/v1/projects/{project_id}/payments",
    status_code=201,
    responses=ERRORS,
    response_model=DisbursementRead,
    summary="Pay from a project to a beneficiary household or a payee",
)
async def pay_from_project(
    project_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: ProjectPaymentCreate,
    request: Request,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> Response:
    status, answer, headers = await _pay(request, caller, project_id, body, key)
    return Response(answer, status_code=status, headers=headers, media_type="application/json")


async def _pay(
    request: Request, caller: Caller, project_id: str, body: ProjectPaymentCreate, key: str | None
) -> tuple[int, str, dict[str, str]]:
    state = request.app.state
    return await payments.pay_from_project(
        state.driver_connections,
        state.payment_contexts,
        state.posting_batches,
        state.sessionmaker,
        state.settings,
        caller,
        project_id,
        body,
        key,
    )


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

    return await disburse(session, caller, key, fingerprint(body, caller), prepare)


async def _pay_lean(request: Request) -> Answer:
    caller = get_staff_caller(request)
    key = checked_key(request.headers.get("idempotency-key"))
    project_id = path_text(request, "project_id", 64)
    body = await json_body(request, ProjectPaymentCreate)
    status, answer, headers = await _pay(request, caller, project_id, body, key)
    return status, answer.encode(), headers


# ``POST /v1/projects/{project_id}/payments`` as an express route (fupin_kit.lean, installed by
# ``create_app``): the same checks and the same service call as ``pay_from_project``, resolved
# without FastAPI's own layers and dependency machinery, since this is the command that runs
# hottest.
pay_from_project_lean = LeanEndpoint(_pay_lean)
