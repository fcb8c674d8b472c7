from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from fupin_events.values import region_level
from fupin_funds.common.audit import audit
from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import business_date
from fupin_funds.common.etag import IfMatch, check_if_match, etag_of
from fupin_funds.common.exports import EXPORT_RESPONSES, ExportFormat, render
from fupin_funds.common.money import from_fen, to_fen
from fupin_funds.projects.dependencies import LockedProjectDep, ProjectDep
from fupin_funds.projects.lifecycle import ProjectAction, ProjectStatus
from fupin_funds.projects.models import Project
from fupin_funds.projects.repository import ProjectRepository
from fupin_funds.projects.schemas import (
    ApprovalAuthorityRead,
    ApprovalAuthorityUpdate,
    BudgetRead,
    ProjectCreate,
    ProjectRead,
    ProjectTransition,
    ProjectUpdate,
)
from fupin_funds.projects.service import create_project, transition, update_project
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import Forbidden, NotFound, Unprocessable, problem_responses

router = APIRouter(prefix="/v1/projects", tags=["projects"])
authorities = APIRouter(prefix="/v1/approval-authorities", tags=["projects"])


async def project_read(session: SessionDep, project: Project) -> ProjectRead:
    repository = ProjectRepository(session)
    funded = await repository.funded_by_source(project.id)
    budget = await repository.budget(project.id)
    return ProjectRead(
        id=project.id,
        name=project.name,
        project_type=project.project_type,
        category=project.category,
        year=project.year,
        region_code=project.region_code,
        village_codes=list(project.village_codes),
        implementing_unit=project.implementing_unit,
        description=project.description,
        status=project.status,
        budget_total=from_fen(project.budget_fen),
        budget=[
            BudgetRead(
                source=b.source,
                amount=from_fen(b.amount_fen),
                funded=from_fen(funded.get(b.source, 0)),
            )
            for b in budget
        ],
        funded=from_fen(sum(funded.values())),
        paid=from_fen(await repository.paid_total(project.id)),
        beneficiaries=await repository.beneficiaries(project.id),
        proposed_on=project.proposed_on,
        approved_on=project.approved_on,
        approved_level=project.approved_level,
        announced_on=project.announced_on,
        notice_ends_on=project.notice_ends_on,
        started_on=project.started_on,
        completed_on=project.completed_on,
        accepted_on=project.accepted_on,
        evaluated_on=project.evaluated_on,
        evaluation=project.evaluation,
        rejected_reason=project.rejected_reason,
        version=project.version,
    )


@router.post(
    "",
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
    summary="Propose a project",
)
async def propose(
    body: ProjectCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> ProjectRead:
    async def command() -> ProjectRead:
        on = business_date(body.on, request.app.state.settings)
        return await project_read(session, await create_project(session, caller, body, on))

    response = await run_idempotent(
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint(body, caller),
        command=command,
    )
    if response.status_code == 201:
        # The proposal as created (or replayed), ready for a PATCH without another read.
        created = json.loads(bytes(response.body))
        response.headers["ETag"] = etag_of("project", created["id"], created["version"])
    return response  # type: ignore[return-value]


@router.get("", summary="Projects in the caller's jurisdiction")
async def list_projects(
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[ProjectStatus | None, Query()] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ProjectRead]:
    after = decode_cursor(cursor, 1, (str,))
    rows = await ProjectRepository(session).listing(
        caller.region_filter(Project.region_code), status, year, after[0] if after else None, limit
    )
    items = [await project_read(session, p) for p in rows]
    return Page(
        items=items, next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None
    )


@router.get("/export", responses=EXPORT_RESPONSES, summary="Project list as .xlsx or .csv")
async def export_projects(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    format: Annotated[ExportFormat, Query()] = ExportFormat.XLSX,
    status: Annotated[ProjectStatus | None, Query()] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    repository = ProjectRepository(session)
    limit = request.app.state.settings.export_max_rows
    rows = []
    projects = await repository.listing(
        caller.region_filter(Project.region_code), status, year, None, limit + 1
    )
    if len(projects) > limit:
        raise Unprocessable(
            "#/query/year", f"more than {limit} projects; narrow the export by year or status"
        )
    for project in projects:
        funded = await repository.funded_by_source(project.id)
        rows.append(
            [
                project.id,
                project.name,
                project.project_type,
                project.category,
                project.year,
                project.region_code,
                " ".join(project.village_codes),
                project.implementing_unit,
                project.status,
                from_fen(project.budget_fen),
                from_fen(sum(funded.values())),
                from_fen(await repository.paid_total(project.id)),
                project.approved_on,
                project.notice_ends_on,
                project.started_on,
                project.completed_on,
                project.accepted_on,
            ]
        )
    header = [
        "id",
        "name",
        "type",
        "category",
        "year",
        "region_code",
        "villages",
        "implementing_unit",
        "status",
        "budget",
        "funded",
        "paid",
        "approved_on",
        "notice_ends_on",
        "started_on",
        "completed_on",
        "accepted_on",
    ]
    return render(rows, header, format, "projects", "projects")


@router.get("/{project_id}", responses=problem_responses(401, 404), summary="A project")
async def read_project(project: ProjectDep, session: SessionDep, response: Response) -> ProjectRead:
    response.headers["ETag"] = etag_of("project", project.id, project.version)
    return await project_read(session, project)


@router.patch(
    "/{project_id}",
    responses=problem_responses(401, 404, 412, 422, 428),
    summary="Change a proposed project",
)
async def patch_project(
    project: LockedProjectDep,
    body: ProjectUpdate,
    session: SessionDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatch = None,
) -> ProjectRead:
    check_if_match(if_match, "project", project.id, project.version)
    caller.require_region_write(project.region_code)
    updated = await update_project(session, caller, project, body)
    response.headers["ETag"] = etag_of("project", updated.id, updated.version)
    return await project_read(session, updated)


def _transition_route(action: ProjectAction, summary: str) -> None:
    async def endpoint(
        project: LockedProjectDep,
        body: ProjectTransition,
        request: Request,
        session: SessionDep,
        caller: CallerDep,
        key: IdempotencyKey = None,
    ) -> ProjectRead:
        async def command() -> ProjectRead:
            on = business_date(body.on, request.app.state.settings)
            changed = await transition(
                session, request.app.state.settings, caller, project, action, on, body.note
            )
            return await project_read(session, changed)

        return await run_idempotent(  # type: ignore[return-value]
            session,
            caller=caller.actor,
            key=key,
            request_fingerprint=fingerprint([project.id, action.value, body], caller),
            command=command,
            status_code=200,
        )

    endpoint.__name__ = f"{action.value}_project"
    router.add_api_route(
        f"/{{project_id}}/{action.value}",
        endpoint,
        methods=["POST"],
        summary=summary,
        responses=problem_responses(401, 403, 404, 409, 422),
    )


for _action, _summary in [
    (ProjectAction.APPROVE, "Approve (authority by level and amount)"),
    (ProjectAction.REJECT, "Reject a proposal (note = reason)"),
    (ProjectAction.ANNOUNCE, "Announce publicly: starts the notice period"),
    (ProjectAction.START, "Start: only after the notice period passed with no open objection"),
    (ProjectAction.COMPLETE, "Complete"),
    (ProjectAction.ACCEPT, "Accept (验收)"),
    (ProjectAction.EVALUATE, "Evaluate (note = findings)"),
]:
    _transition_route(_action, _summary)


def _authority_read(level: str, max_fen: int | None, version: int) -> ApprovalAuthorityRead:
    return ApprovalAuthorityRead(
        level=level, max_budget=None if max_fen is None else from_fen(max_fen), version=version
    )


@authorities.get("", summary="Approval authority by level and budget")
async def list_authorities(session: SessionDep, caller: CallerDep) -> list[ApprovalAuthorityRead]:
    return [
        _authority_read(a.level, a.max_budget_fen, a.version)
        for a in await ProjectRepository(session).authorities()
    ]


@authorities.put(
    "/{level}",
    responses=problem_responses(401, 403, 404, 412, 428),
    summary="Change a level's approval limit (province)",
)
async def put_authority(
    level: str,
    body: ApprovalAuthorityUpdate,
    session: SessionDep,
    caller: CallerDep,
    response: Response,
    if_match: IfMatch = None,
) -> ApprovalAuthorityRead:
    if region_level(caller.jurisdiction) != "province":
        raise Forbidden("approval authority is set at the province level")
    authority = await ProjectRepository(session).authority(level, lock=True)
    if authority is None:
        raise NotFound("no such level")
    check_if_match(if_match, "authority", level, authority.version)
    authority.max_budget_fen = None if body.max_budget is None else to_fen(body.max_budget)
    authority.version += 1
    await session.flush()
    await audit(
        session,
        caller,
        "approval_authority.updated",
        "approval_authority",
        level,
        {"max_budget": str(body.max_budget)},
    )
    response.headers["ETag"] = etag_of("authority", level, authority.version)
    return _authority_read(level, authority.max_budget_fen, authority.version)
