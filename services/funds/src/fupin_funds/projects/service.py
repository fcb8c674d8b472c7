"""Project library: proposal with checked beneficiaries, approval by level and amount, the
lifecycle transitions and their events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events import funds as events
from fupin_events.values import region_level
from fupin_funds.announcements.service import announce, require_gate_open
from fupin_funds.common.audit import audit
from fupin_funds.common.money import from_fen, to_fen
from fupin_funds.common.vocabulary import REGISTERED_STATUSES, KeyTask, ProjectCategory
from fupin_funds.config import Settings
from fupin_funds.households.repository import HouseholdRepository
from fupin_funds.projects.exceptions import ApprovalAuthorityExceeded
from fupin_funds.projects.lifecycle import ProjectAction, ProjectStatus, next_status
from fupin_funds.projects.models import Project, ProjectBudget
from fupin_funds.projects.repository import ProjectRepository
from fupin_funds.projects.schemas import BudgetLine, ProjectCreate, ProjectUpdate
from fupin_funds.regions.service import require_region, require_regions
from fupin_kit.auth import Caller
from fupin_kit.outbox import add_event
from fupin_kit.problems import Conflict, InvalidTransition, Unprocessable

EVENT_BY_ACTION = {
    ProjectAction.APPROVE: events.ProjectApproved,
    ProjectAction.START: events.ProjectStarted,
    ProjectAction.COMPLETE: events.ProjectCompleted,
    ProjectAction.ACCEPT: events.ProjectAccepted,
}


def category_of(project_type: str) -> ProjectCategory:
    return (
        ProjectCategory.KEY_TASK
        if project_type in {t.value for t in KeyTask}
        else ProjectCategory.MEASURE
    )


def check_villages(region_code: str, village_codes: Sequence[str]) -> None:
    seen: set[str] = set()
    for index, code in enumerate(village_codes):
        if not code.startswith(region_code):
            raise Unprocessable(
                f"#/body/village_codes/{index}",
                f"village {code} lies outside the project's region {region_code}",
            )
        if code in seen:
            raise Unprocessable(f"#/body/village_codes/{index}", f"village {code} is listed twice")
        seen.add(code)


def check_budget(budget: Sequence[BudgetLine]) -> None:
    seen: set[str] = set()
    for index, line in enumerate(budget):
        if line.source in seen:
            raise Unprocessable(
                f"#/body/budget/{index}/source", f"source {line.source} is listed twice"
            )
        seen.add(line.source)


async def check_beneficiaries(
    session: AsyncSession, household_ids: Sequence[str], village_codes: Sequence[str]
) -> None:
    """Each beneficiary must be registered (identified or returned), live in one of the
    project's villages and not be removed, according to the registry's read model."""
    known = await HouseholdRepository(session).many(household_ids)
    villages = set(village_codes)
    seen: set[str] = set()
    for index, household_id in enumerate(household_ids):
        pointer = f"#/body/beneficiaries/{index}"
        if household_id in seen:
            raise Unprocessable(pointer, f"household {household_id} is listed twice")
        seen.add(household_id)
        household = known.get(household_id)
        if household is None:
            raise Unprocessable(pointer, f"household {household_id} is unknown to the register")
        if household.status == "removed":
            raise Unprocessable(pointer, f"household {household_id} was removed from the register")
        if household.status not in REGISTERED_STATUSES:
            raise Unprocessable(
                pointer, f"household {household_id} is not registered (status {household.status})"
            )
        if household.village_code not in villages:
            raise Unprocessable(
                pointer,
                f"household {household_id} lives in {household.village_code}, not in the "
                "project's villages",
            )


async def _after_bookings(session: AsyncSession, project: Project, on: date) -> None:
    """A project is completed or accepted on or after the last day money moved on it."""
    last = await ProjectRepository(session).last_booked_on(project.id)
    if last is not None and on < last:
        raise Unprocessable(
            "#/body/on", f"dates out of order: money was booked to this project on {last}"
        )


def _later(on: date, previous: date | None, what: str) -> None:
    if previous is not None and on < previous:
        raise Unprocessable(
            "#/body/on", f"dates out of order: {on} is before the {what} date {previous}"
        )


async def create_project(
    session: AsyncSession, caller: Caller, body: ProjectCreate, on: date
) -> Project:
    caller.require_region_write(body.region_code)
    if len(body.region_code) < 6:
        raise Unprocessable(
            "#/body/region_code", "a project belongs to a county or a region below it"
        )
    await require_region(session, body.region_code, "#/body/region_code")
    check_villages(body.region_code, body.village_codes)
    await require_regions(session, body.village_codes, "#/body/village_codes")
    check_budget(body.budget)
    await check_beneficiaries(session, body.beneficiaries, body.village_codes)
    project = Project(
        id=str(uuid.uuid4()),
        name=body.name,
        project_type=body.project_type,
        category=category_of(body.project_type).value,
        year=body.year,
        region_code=body.region_code,
        village_codes=list(body.village_codes),
        implementing_unit=body.implementing_unit,
        description=body.description,
        status=ProjectStatus.PROPOSED.value,
        budget_fen=sum(to_fen(line.amount) for line in body.budget),
        proposed_by=caller.actor,
        proposed_on=on,
        version=1,
    )
    budget = [
        ProjectBudget(
            project_id=project.id, source=line.source.value, amount_fen=to_fen(line.amount)
        )
        for line in body.budget
    ]
    await ProjectRepository(session).add(project, budget, body.beneficiaries)
    await audit(
        session,
        caller,
        "project.proposed",
        "project",
        project.id,
        {
            "budget": str(from_fen(project.budget_fen)),
            "type": project.project_type,
            "region": project.region_code,
        },
    )
    return project


async def update_project(
    session: AsyncSession, caller: Caller, project: Project, body: ProjectUpdate
) -> Project:
    if project.status != ProjectStatus.PROPOSED:
        # The project's state refuses the change, not the body: 409 like any illegal step.
        raise InvalidTransition(
            f"only proposed projects can be changed; this one is {project.status}",
            current_status=project.status,
            action="update",
        )
    repository = ProjectRepository(session)
    changes = body.model_dump(exclude_unset=True)
    villages = body.village_codes if body.village_codes is not None else project.village_codes
    if body.village_codes is not None:
        check_villages(project.region_code, body.village_codes)
        await require_regions(session, body.village_codes, "#/body/village_codes")
        project.village_codes = list(body.village_codes)
    if body.beneficiaries is not None or body.village_codes is not None:
        beneficiaries = (
            body.beneficiaries
            if body.beneficiaries is not None
            else await repository.beneficiaries(project.id)
        )
        await check_beneficiaries(session, beneficiaries, villages)
        await repository.replace_beneficiaries(project.id, beneficiaries)
    if body.budget is not None:
        check_budget(body.budget)
        await repository.replace_budget(
            project.id,
            [
                ProjectBudget(
                    project_id=project.id, source=b.source.value, amount_fen=to_fen(b.amount)
                )
                for b in body.budget
            ],
        )
        project.budget_fen = sum(to_fen(b.amount) for b in body.budget)
    for name in ("name", "implementing_unit", "description"):
        if name in changes:
            setattr(project, name, changes[name])
    project.version += 1
    await session.flush()
    await audit(
        session, caller, "project.updated", "project", project.id, {"fields": sorted(changes)}
    )
    return project


async def _event(
    session: AsyncSession, project: Project, model: type[events.ProjectEvent], **extra: object
) -> None:
    await add_event(
        session,
        model(
            project_id=project.id,
            region_code=project.region_code,
            project_type=project.project_type,
            name=project.name,
            budget=from_fen(project.budget_fen),
            village_codes=list(project.village_codes),
            **extra,
        ),
        subject=project.id,
    )


async def check_authority(
    session: AsyncSession, caller: Caller, project: Project, verb: str = "approve"
) -> str:
    """The caller's level may approve (or reject) this project: its region lies in the
    caller's jurisdiction and the budget is within the limit the level holds
    (approval_authorities)."""
    caller.require_region_write(project.region_code)
    level = region_level(caller.jurisdiction)
    authority = await ProjectRepository(session).authority(level)
    if authority is None:
        raise ApprovalAuthorityExceeded(f"the {level} level may not {verb} projects")
    if authority.max_budget_fen is not None and project.budget_fen > authority.max_budget_fen:
        raise ApprovalAuthorityExceeded(
            f"the {level} level may {verb} projects up to {from_fen(authority.max_budget_fen)}; "
            "this one needs "
            f"{from_fen(project.budget_fen)} and goes to a higher level"
        )
    return level


async def transition(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    project: Project,
    action: ProjectAction,
    on: date,
    note: str | None,
) -> Project:
    target = next_status(project.status, action)
    caller.require_region_write(project.region_code)
    if action is ProjectAction.APPROVE:
        _later(on, project.proposed_on, "proposal")
        project.approved_level = await check_authority(session, caller, project)
        project.approved_by, project.approved_on = caller.actor, on
    elif action is ProjectAction.REJECT:
        _later(on, project.proposed_on, "proposal")
        # Deciding on a proposal either way is the approving level's: one that may not approve
        # it may not turn it down either.
        await check_authority(session, caller, project, "decide on")
        if not note or not note.strip():
            raise Unprocessable("#/body/note", "a rejection needs a reason")
        project.rejected_reason = note
    elif action is ProjectAction.ANNOUNCE:
        _later(on, project.approved_on, "approval")
        announcement = await announce(
            session,
            subject_type="project",
            subject_id=project.id,
            region_code=project.region_code,
            title=f"{project.name} ({project.project_type})",
            summary=f"budget {from_fen(project.budget_fen)};"
            f" villages {', '.join(project.village_codes)};"
            f" implementing unit {project.implementing_unit}",
            starts_on=on,
            notice_days=settings.notice_days,
        )
        project.announced_on, project.notice_ends_on = on, announcement.ends_on
    elif action is ProjectAction.START:
        _later(on, project.announced_on, "announcement")
        await require_gate_open(session, "project", project.id, on)
        project.started_on = on
    elif action is ProjectAction.COMPLETE:
        _later(on, project.started_on, "start")
        await _after_bookings(session, project, on)
        project.completed_on = on
    elif action is ProjectAction.ACCEPT:
        _later(on, project.completed_on, "completion")
        await _after_bookings(session, project, on)
        project.accepted_on = on
    elif action is ProjectAction.EVALUATE:
        _later(on, project.accepted_on, "acceptance")
        if not note or not note.strip():
            raise Unprocessable("#/body/note", "an evaluation needs its findings")
        project.evaluated_on, project.evaluation = on, note
    project.status = target.value
    project.version += 1
    await session.flush()
    if action is ProjectAction.ANNOUNCE:
        assert project.notice_ends_on is not None
        await _event(
            session, project, events.ProjectAnnounced, notice_ends_on=project.notice_ends_on
        )
    elif action in EVENT_BY_ACTION:
        await _event(session, project, EVENT_BY_ACTION[action])
    await audit(
        session,
        caller,
        f"project.{action.value}",
        "project",
        project.id,
        {"status": target.value, "on": on.isoformat()},
    )
    return project


async def withdraw_project(
    session: AsyncSession, caller: Caller, project_id: str, on: date, reason: str
) -> None:
    repository = ProjectRepository(session)
    project = await repository.get(project_id, lock=True)
    assert project is not None
    target = next_status(project.status, ProjectAction.WITHDRAW)  # completed, accepted: 409
    if sum((await repository.funded_by_source(project.id)).values()):
        # Withdrawing the approval would strand the money on a rejected project.
        raise Conflict(
            "money has already been booked to this project: reverse its fundings and payments "
            "before the objection is upheld"
        )
    project.status = target.value
    project.rejected_reason = f"objection upheld: {reason}"
    project.version += 1
    await session.flush()
    await audit(session, caller, "project.withdrawn", "project", project.id, {"on": on.isoformat()})
