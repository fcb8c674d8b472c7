"""HTTP routes of the identification domain: cases (/v1/cases) and exclusion rules."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from fupin_events.values import RegionPrefix
from fupin_kit.auth import Caller, CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.etags import if_match_satisfied
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import PreconditionFailed, problem_responses
from fupin_registry.households.dependencies import set_answered_etag
from fupin_registry.identification.dependencies import CaseDep, CaseForUpdateDep, WorkflowServiceDep
from fupin_registry.identification.domain import CaseKind, CaseState
from fupin_registry.identification.models import Case
from fupin_registry.identification.repository import CaseFilter, ExclusionRuleRepository
from fupin_registry.identification.schemas import (
    AppraisalCreate,
    ApprovalCreate,
    CaseCreate,
    CaseRead,
    CaseSummary,
    ExclusionRuleRead,
    ExclusionRuleUpdate,
    NoticeCompletion,
    ObjectionCreate,
    ObjectionResolution,
    ReviewCreate,
)
from fupin_registry.identification.service import WorkflowService

router = APIRouter(tags=["identification"])
STEP_ERRORS = problem_responses(401, 403, 404, 409, 412, 422)
IfMatch = Annotated[
    str | None, Header(alias="If-Match", max_length=64, description="optional: the case's ETag")
]
Step = Callable[[], Awaitable[list[str]]]


def _etag(case: Case) -> str:
    return f'"{case.version}"'


async def _command(
    session: SessionDep,
    caller: Caller,
    case: Case,
    service: WorkflowService,
    *,
    name: str,
    body: BaseModel,
    key: str | None,
    if_match: str | None,
    step: Step,
    status_code: int = 200,
) -> JSONResponse:
    """Run one workflow step idempotently; the response is the case after the step."""

    async def run() -> CaseRead:
        if if_match is not None and not if_match_satisfied(if_match, _etag(case)):
            raise PreconditionFailed(f"the case is at version {case.version}; read it again")
        warnings = await step()
        return await service.read(case, caller, warnings)

    request = {"case": str(case.id), "step": name, "body": body.model_dump(mode="json")}
    response: JSONResponse = await run_idempotent(
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint(request, caller),
        command=run,
        status_code=status_code,
    )
    set_answered_etag(response, case.version)
    return response


@router.post(
    "/v1/cases",
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
    summary="Open a case: identification, exit, return, removal or natural decrease",
)
async def open_case(
    body: CaseCreate,
    session: SessionDep,
    caller: CallerDep,
    service: WorkflowServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseRead:
    async def run() -> CaseRead:
        return await service.read(await service.open(body, caller), caller)

    response: JSONResponse = await run_idempotent(
        session,
        caller=caller.actor,
        key=idempotency_key,
        request_fingerprint=fingerprint(body, caller),
        command=run,
    )
    # The new case's version (a replay's too): a client can step it with If-Match at once.
    set_answered_etag(response)
    return response  # type: ignore[return-value]


@router.get("/v1/cases", responses=problem_responses(401, 422), summary="List cases, oldest first")
async def list_cases(
    service: WorkflowServiceDep,
    caller: CallerDep,
    state: CaseState | None = None,
    kind: CaseKind | None = None,
    region: Annotated[RegionPrefix | None, Query(description="region code prefix")] = None,
    household_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CaseSummary]:
    after = decode_cursor(cursor, 2, (datetime, uuid.UUID))
    position = (after[0], after[1]) if after else None
    rows = await service.cases.search(
        CaseFilter(state, kind, region, household_id), caller, after=position, limit=limit + 1
    )
    items = [CaseSummary.model_validate(c, from_attributes=True) for c in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last.created_at.isoformat(), str(last.id)])
    return Page[CaseSummary](items=items, next_cursor=next_cursor)


@router.get(
    "/v1/cases/{case_id}",
    responses=problem_responses(401, 404, 422),
    summary="A case with its steps",
)
async def read_case(
    case: CaseDep, caller: CallerDep, service: WorkflowServiceDep, response: Response
) -> CaseRead:
    response.headers["ETag"] = _etag(case)
    return await service.read(case, caller)


@router.post(
    "/v1/cases/{case_id}/appraisal",
    responses=STEP_ERRORS,
    summary="Village democratic appraisal (votes; exits: basic needs); starts the village notice",
)
async def appraise(
    case: CaseForUpdateDep,
    body: AppraisalCreate,
    session: SessionDep,
    caller: CallerDep,
    service: WorkflowServiceDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseRead:
    return await _command(  # type: ignore[return-value]
        session,
        caller,
        case,
        service,
        name="appraisal",
        body=body,
        key=idempotency_key,
        if_match=if_match,
        step=lambda: service.appraise(case, body, caller),
    )


@router.post(
    "/v1/cases/{case_id}/notice-completion",
    responses=STEP_ERRORS,
    summary="Complete the running public notice (not before its end date)",
)
async def complete_notice(
    case: CaseForUpdateDep,
    body: NoticeCompletion,
    session: SessionDep,
    caller: CallerDep,
    service: WorkflowServiceDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseRead:
    return await _command(  # type: ignore[return-value]
        session,
        caller,
        case,
        service,
        name="notice-completion",
        body=body,
        key=idempotency_key,
        if_match=if_match,
        step=lambda: service.complete_notice(case, body, caller),
    )


@router.post("/v1/cases/{case_id}/review", responses=STEP_ERRORS, summary="Township review")
async def review(
    case: CaseForUpdateDep,
    body: ReviewCreate,
    session: SessionDep,
    caller: CallerDep,
    service: WorkflowServiceDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseRead:
    return await _command(  # type: ignore[return-value]
        session,
        caller,
        case,
        service,
        name="review",
        body=body,
        key=idempotency_key,
        if_match=if_match,
        step=lambda: service.review(case, body, caller),
    )


@router.post(
    "/v1/cases/{case_id}/approval",
    responses=STEP_ERRORS,
    summary="County approval: exclusion rules and quota apply; approval announces and registers",
)
async def approve(
    case: CaseForUpdateDep,
    body: ApprovalCreate,
    session: SessionDep,
    caller: CallerDep,
    service: WorkflowServiceDep,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
) -> CaseRead:
    return await _command(  # type: ignore[return-value]
        session,
        caller,
        case,
        service,
        name="approval",
        body=body,
        key=idempotency_key,
        if_match=if_match,
        step=lambda: service.approve(case, body, caller),
    )


@router.post(
    "/v1/cases/{case_id}/objections",
    status_code=201,
    responses=STEP_ERRORS,
    summary="Raise an objection during a public notice (suspends the case)",
)
async def raise_objection(
    case: CaseForUpdateDep,
    body: ObjectionCreate,
    session: SessionDep,
    caller: CallerDep,
    service: WorkflowServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseRead:
    return await _command(  # type: ignore[return-value]
        session,
        caller,
        case,
        service,
        name="objection",
        body=body,
        key=idempotency_key,
        if_match=None,
        step=lambda: service.raise_objection(case, body, caller),
        status_code=201,
    )


@router.post(
    "/v1/cases/{case_id}/objections/{objection_id}/resolution",
    responses=STEP_ERRORS,
    summary="Resolve an objection: upheld rejects the case, dismissed resumes it",
)
async def resolve_objection(
    case: CaseForUpdateDep,
    objection_id: uuid.UUID,
    body: ObjectionResolution,
    session: SessionDep,
    caller: CallerDep,
    service: WorkflowServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseRead:
    return await _command(  # type: ignore[return-value]
        session,
        caller,
        case,
        service,
        name=f"resolution:{objection_id}",
        body=body,
        key=idempotency_key,
        if_match=None,
        step=lambda: service.resolve_objection(case, objection_id, body, caller),
    )


@router.get("/v1/exclusion-rules", responses=problem_responses(401), summary="Exclusion rules")
async def list_rules(session: SessionDep, caller: CallerDep) -> list[ExclusionRuleRead]:
    return [
        ExclusionRuleRead.model_validate(r) for r in await ExclusionRuleRepository(session).all()
    ]


@router.put(
    "/v1/exclusion-rules/{kind}",
    responses=problem_responses(401, 403, 422),
    summary="Create or change an exclusion rule: a flag kind blocks or only warns "
    "(province-wide admin; audited)",
)
async def set_rule(
    kind: Annotated[str, Path(pattern=r"^[a-z][a-z_]{0,39}$")],
    body: ExclusionRuleUpdate,
    caller: CallerDep,
    service: WorkflowServiceDep,
) -> ExclusionRuleRead:
    rule = await service.set_exclusion_rule(kind, body, caller)
    return ExclusionRuleRead.model_validate(rule)


__all__: list[Any] = ["router"]
