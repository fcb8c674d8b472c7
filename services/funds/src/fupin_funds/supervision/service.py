"""Anomaly evaluation, findings and their rectification, and the supervision report."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events import funds as events
from fupin_funds.common.audit import audit
from fupin_funds.common.money import from_fen, to_fen
from fupin_funds.config import Settings
from fupin_funds.projects.repository import ProjectRepository
from fupin_funds.regions.service import require_region
from fupin_funds.supervision import rules
from fupin_funds.supervision.models import Anomaly, Finding
from fupin_funds.supervision.repository import SupervisionRepository
from fupin_funds.supervision.rules import Hit, Rule
from fupin_funds.supervision.schemas import FindingCreate
from fupin_kit.auth import Caller
from fupin_kit.outbox import add_event
from fupin_kit.problems import Forbidden, InvalidTransition, Unprocessable

RULE_ACTOR = "system:anomaly-rules"


async def evaluate(
    session: AsyncSession,
    settings: Settings,
    on: date,
    *,
    prefix: str = "",
    only: Iterable[Rule] | None = None,
    household_id: str | None = None,
    entry_id: str | None = None,
    project_id: str | None = None,
) -> list[Anomaly]:
    """Run the rules (all, or ``only``), narrowed to a household, entry or project when given;
    record new hits and raise an event for each."""
    selected = set(only or Rule)
    repository = SupervisionRepository(session)
    hits: list[Hit] = []
    if selected & {Rule.PAYMENT_TO_UNREGISTERED, Rule.PAYMENT_AFTER_EXIT_TRANSITION}:
        payments = await repository.household_payments(prefix, household_id, entry_id)
        if Rule.PAYMENT_TO_UNREGISTERED in selected:
            hits += rules.unregistered_payments(payments)
        if Rule.PAYMENT_AFTER_EXIT_TRANSITION in selected:
            hits += rules.payments_after_exit(payments, settings.exit_transition_months)
    if Rule.DUPLICATE_PAYMENT in selected:
        hits += rules.duplicate_payments(
            await repository.duplicate_payments(prefix, household_id, project_id)
        )
    if Rule.DISBURSED_BEFORE_ANNOUNCEMENT in selected:
        hits += rules.disbursed_before_announcement(
            await repository.project_entries(prefix, entry_id)
        )
    if Rule.IDLE_MONEY in selected:
        hits += rules.idle_money(
            await repository.idle_accounts(prefix, on, settings.idle_days), on, settings.idle_days
        )
    if Rule.PROJECT_OVER_BUDGET in selected:
        hits += rules.over_budget(await repository.project_totals(prefix, project_id))
    raised: list[Anomaly] = []
    for hit in hits:
        anomaly_id = str(uuid.uuid4())
        values = {
            "id": anomaly_id,
            "rule": hit.rule.value,
            "subject_key": hit.subject_key,
            "region_code": hit.region_code,
            "household_id": hit.household_id,
            "source": hit.source,
            "evidence": hit.evidence,
            "detected_on": on,
            "status": "open",
        }
        if await repository.record_anomaly(values):
            await add_event(
                session,
                events.AnomalyRaised(
                    anomaly_id=anomaly_id,
                    rule=hit.rule.value,
                    region_code=hit.region_code,
                    evidence=hit.evidence,
                ),
                subject=hit.region_code,
            )
            anomaly = await repository.anomaly(anomaly_id)
            assert anomaly is not None
            raised.append(anomaly)
    if raised:
        await audit(
            session,
            RULE_ACTOR,
            "anomaly.raised",
            "anomaly_scan",
            on.isoformat(),
            {"anomalies": [a.id for a in raised]},
        )
    return raised


async def resolve_anomaly(
    session: AsyncSession, caller: Caller, anomaly: Anomaly, status: str, resolution: str, on: date
) -> Anomaly:
    if anomaly.status != "open":
        raise InvalidTransition(f"the anomaly is already {anomaly.status}")
    if on < anomaly.detected_on:
        raise Unprocessable(
            "#/body/on",
            f"dates out of order: the anomaly was detected on {anomaly.detected_on}",
        )
    anomaly.status, anomaly.resolution, anomaly.resolved_by, anomaly.resolved_on = (
        status,
        resolution,
        caller.actor,
        on,
    )
    await session.flush()
    await audit(session, caller, f"anomaly.{status}", "anomaly", anomaly.id, {"on": on.isoformat()})
    return anomaly


async def raise_finding(
    session: AsyncSession, caller: Caller, body: FindingCreate, on: date
) -> Finding:
    caller.require_region_write(body.region_code)
    await require_region(session, body.region_code, "#/body/region_code")
    if body.deadline < on:
        raise Unprocessable(
            "#/body/deadline", f"dates out of order: the deadline {body.deadline} is before {on}"
        )
    if body.project_id is not None:
        # The project must exist and lie in the finding's region (which the caller may write).
        project = await ProjectRepository(session).get(body.project_id)
        if project is None or not project.region_code.startswith(body.region_code):
            raise Unprocessable(
                "#/body/project_id", f"no project {body.project_id} in region {body.region_code}"
            )
    finding = await SupervisionRepository(session).add_finding(
        Finding(
            id=str(uuid.uuid4()),
            region_code=body.region_code,
            finding_type=body.finding_type,
            amount_fen=None if body.amount is None else to_fen(body.amount),
            source=None if body.source is None else body.source.value,
            responsible_unit=body.responsible_unit,
            description=body.description,
            deadline=body.deadline,
            project_id=body.project_id,
            status="open",
            raised_on=on,
            raised_by=caller.actor,
            version=1,
        )
    )
    await add_event(
        session,
        events.FindingRaised(
            finding_id=finding.id,
            region_code=finding.region_code,
            finding_type=finding.finding_type,
            amount=None if finding.amount_fen is None else from_fen(finding.amount_fen),
            deadline=finding.deadline,
        ),
        subject=finding.region_code,
    )
    await audit(
        session, caller, "finding.raised", "finding", finding.id, {"type": finding.finding_type}
    )
    return finding


async def submit_rectification(
    session: AsyncSession, caller: Caller, finding: Finding, text: str, on: date
) -> Finding:
    if finding.status != "open":
        raise InvalidTransition(f"a finding that is {finding.status} takes no rectification report")
    if on < finding.raised_on:
        raise Unprocessable("#/body/on", "dates out of order: the report precedes the finding")
    finding.status, finding.rectification, finding.submitted_on = "submitted", text, on
    finding.submitted_by = caller.actor
    finding.version += 1
    await session.flush()
    await audit(
        session,
        caller,
        "finding.rectification_submitted",
        "finding",
        finding.id,
        {"on": on.isoformat()},
    )
    return finding


async def review_rectification(
    session: AsyncSession,
    caller: Caller,
    finding: Finding,
    accepted: bool,
    note: str | None,
    on: date,
) -> Finding:
    if finding.status != "submitted":
        raise InvalidTransition(
            f"a finding that is {finding.status} has no rectification to review"
        )
    if finding.submitted_on is not None and on < finding.submitted_on:
        raise Unprocessable("#/body/on", "dates out of order: the review precedes the report")
    if finding.submitted_by == caller.actor:
        # Separation of duties: whoever reported the rectification does not also accept it.
        raise Forbidden("the rectification is reviewed by someone other than who reported it")
    finding.review_note = note
    if accepted:
        finding.status, finding.rectified_on = "rectified", on
        await add_event(
            session,
            events.FindingRectified(
                finding_id=finding.id, region_code=finding.region_code, rectified_on=on
            ),
            subject=finding.region_code,
        )
    else:
        finding.status = "open"
    finding.version += 1
    await session.flush()
    await audit(
        session,
        caller,
        "finding.reviewed",
        "finding",
        finding.id,
        {"accepted": accepted, "on": on.isoformat()},
    )
    return finding
