from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from fupin_events.values import business_today
from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import OnQuery, business_date
from fupin_funds.common.exports import EXPORT_RESPONSES, ExportFormat, render
from fupin_funds.common.money import from_fen
from fupin_funds.regions.repository import RegionRepository
from fupin_funds.regions.service import require_region
from fupin_funds.supervision.dependencies import AnomalyDep, FindingDep
from fupin_funds.supervision.models import Anomaly, Finding
from fupin_funds.supervision.repository import SupervisionRepository
from fupin_funds.supervision.rules import Rule
from fupin_funds.supervision.schemas import (
    AnomalyRead,
    AnomalyResolution,
    FindingCreate,
    FindingRead,
    OversightRow,
    RectificationCreate,
    RectificationReview,
    ReportRow,
    ScanRequest,
    SupervisionReport,
)
from fupin_funds.supervision.service import (
    evaluate,
    raise_finding,
    resolve_anomaly,
    review_rectification,
    submit_rectification,
)
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import problem_responses

router = APIRouter(tags=["supervision"])
CHILD_LENGTH = {2: 4, 4: 6, 6: 9, 9: 12, 12: 12}


def finding_read(finding: Finding, today: date | None = None) -> FindingRead:
    today = today or business_today()
    return FindingRead(
        id=finding.id,
        region_code=finding.region_code,
        finding_type=finding.finding_type,
        amount=None if finding.amount_fen is None else from_fen(finding.amount_fen),
        source=finding.source,
        responsible_unit=finding.responsible_unit,
        description=finding.description,
        deadline=finding.deadline,
        project_id=finding.project_id,
        status=finding.status,
        overdue=finding.status != "rectified" and finding.deadline < today,
        raised_on=finding.raised_on,
        rectification=finding.rectification,
        submitted_on=finding.submitted_on,
        rectified_on=finding.rectified_on,
        review_note=finding.review_note,
    )


def anomaly_read(anomaly: Anomaly) -> AnomalyRead:
    return AnomalyRead(
        id=anomaly.id,
        rule=anomaly.rule,
        region_code=anomaly.region_code,
        source=anomaly.source,
        evidence=anomaly.evidence,
        detected_on=anomaly.detected_on,
        status=anomaly.status,
        resolution=anomaly.resolution,
        resolved_on=anomaly.resolved_on,
    )


# --- findings and rectification ---


@router.post(
    "/v1/findings",
    status_code=201,
    responses=problem_responses(401, 403, 422),
    summary="Record an audit finding",
)
async def create_finding(
    body: FindingCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> FindingRead:
    async def command() -> FindingRead:
        on = business_date(body.on, request.app.state.settings)
        return finding_read(await raise_finding(session, caller, body, on), on)

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint(body, caller),
        command=command,
    )


@router.get("/v1/findings", summary="Findings in the caller's jurisdiction")
async def list_findings(
    session: SessionDep,
    caller: CallerDep,
    status: Annotated[str | None, Query(pattern=r"^(open|submitted|rectified)$")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[FindingRead]:
    after = decode_cursor(cursor, 1, (str,))
    rows = await SupervisionRepository(session).findings(
        caller.region_filter(Finding.region_code), status, after[0] if after else None, limit
    )
    return Page(
        items=[finding_read(f) for f in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )


@router.get("/v1/findings/{finding_id}", responses=problem_responses(401, 404), summary="A finding")
async def read_finding(finding: FindingDep) -> FindingRead:
    return finding_read(finding)


@router.post(
    "/v1/findings/{finding_id}/rectification",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Report the rectification (整改) of a finding",
)
async def rectify(
    finding: FindingDep,
    body: RectificationCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> FindingRead:
    async def command() -> FindingRead:
        caller.require_region_write(finding.region_code)
        on = business_date(body.on, request.app.state.settings)
        changed = await submit_rectification(session, caller, finding, body.rectification, on)
        return finding_read(changed, on)

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint([finding.id, body], caller),
        command=command,
        status_code=200,
    )


@router.post(
    "/v1/findings/{finding_id}/review",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Accept the rectification (finding rectified) or send it back (open again)",
)
async def review(
    finding: FindingDep,
    body: RectificationReview,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> FindingRead:
    async def command() -> FindingRead:
        caller.require_region_write(finding.region_code)
        on = business_date(body.on, request.app.state.settings)
        changed = await review_rectification(session, caller, finding, body.accepted, body.note, on)
        return finding_read(changed, on)

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint([finding.id, body], caller),
        command=command,
        status_code=200,
    )


# --- anomalies ---


@router.get("/v1/anomalies", summary="Anomalies with their evidence")
async def list_anomalies(
    session: SessionDep,
    caller: CallerDep,
    rule: Annotated[Rule | None, Query()] = None,
    status: Annotated[str | None, Query(pattern=r"^(open|confirmed|dismissed)$")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AnomalyRead]:
    after = decode_cursor(cursor, 1, (str,))
    rows = await SupervisionRepository(session).anomalies(
        caller.jurisdiction,
        None if rule is None else rule.value,
        status,
        after[0] if after else None,
        limit,
    )
    return Page(
        items=[anomaly_read(a) for a in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )


@router.post(
    "/v1/anomalies/scan",
    responses=problem_responses(401, 403, 422),
    summary="Run every anomaly rule now over the caller's jurisdiction; returns the new anomalies",
)
async def scan(
    body: ScanRequest, request: Request, session: SessionDep, caller: CallerDep
) -> list[AnomalyRead]:
    region = body.region_code or caller.jurisdiction
    caller.require_region_write(region)
    on = business_date(body.on, request.app.state.settings)
    return [
        anomaly_read(a)
        for a in await evaluate(session, request.app.state.settings, on, prefix=region)
    ]


@router.get(
    "/v1/anomalies/{anomaly_id}", responses=problem_responses(401, 404), summary="An anomaly"
)
async def read_anomaly(anomaly: AnomalyDep) -> AnomalyRead:
    return anomaly_read(anomaly)


@router.post(
    "/v1/anomalies/{anomaly_id}/resolution",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Confirm or dismiss an anomaly",
)
async def resolve(
    anomaly: AnomalyDep,
    body: AnomalyResolution,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> AnomalyRead:
    async def command() -> AnomalyRead:
        # Decided by the offices of the anomaly's region: a township sees the anomalies about
        # its households' payments, booked by the county, but the county resolves them (403).
        caller.require_region_write(anomaly.region_code)
        on = business_date(body.on, request.app.state.settings)
        return anomaly_read(
            await resolve_anomaly(session, caller, anomaly, body.status, body.resolution, on)
        )

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint([anomaly.id, body], caller),
        command=command,
        status_code=200,
    )


# --- report and audit chain ---


@router.get(
    "/v1/supervision/report",
    responses={**problem_responses(401, 404, 422), **EXPORT_RESPONSES},
    summary="Per region and source: allocated, disbursed, held, idle; anomalies and findings"
    " (for 人大 supervision)",
)
async def report(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    region_code: Annotated[str | None, Query(pattern=r"^[0-9]{2,12}$")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    on: OnQuery = None,
    format: Annotated[ExportFormat | None, Query()] = None,
) -> SupervisionReport:
    region = region_code or caller.jurisdiction
    caller.require_region(region, "region", "#/query/region_code")
    if region_code is not None:
        await require_region(session, region_code, "#/query/region_code")
    settings = request.app.state.settings
    day = business_date(on, settings, "#/query/on")
    repository = SupervisionRepository(session)
    regions = RegionRepository(session)
    sizes = sorted({len(region), CHILD_LENGTH.get(len(region), len(region))})
    money: dict[tuple[str, str], dict[str, int]] = {}
    oversight = []
    for size in sizes:
        for row in await repository.money_by_region(region, size, year, day):
            money.setdefault((row.region_code, row.source), {}).update(
                allocated=row.allocated_fen, disbursed=row.disbursed_fen
            )
        for row in await repository.held_by_region(region, size, year, day, settings.idle_days):
            money.setdefault((row.region_code, row.source), {}).update(
                held=row.held_fen, idle=row.idle_fen
            )
        oversight += list(await repository.oversight_by_region(region, size, day))
    names = {
        code: r.name
        for code in {k[0] for k in money} | {o.region_code for o in oversight}
        if (r := await regions.get(code))
    }
    money_rows = [
        ReportRow(
            region_code=code,
            region_name=names.get(code),
            source=source or "-",
            allocated=from_fen(int(v.get("allocated", 0))),
            disbursed=from_fen(int(v.get("disbursed", 0))),
            held=from_fen(int(v.get("held", 0))),
            idle=from_fen(int(v.get("idle", 0))),
        )
        for (code, source), v in sorted(money.items())
    ]
    oversight_rows = [
        OversightRow(
            region_code=o.region_code,
            region_name=names.get(o.region_code),
            anomalies_open=o.anomalies_open,
            anomalies_total=o.anomalies_total,
            findings_total=o.findings_total,
            findings_open=o.findings_open,
            findings_rectified=o.findings_rectified,
            findings_overdue=o.findings_overdue,
            findings_amount=from_fen(int(o.findings_amount_fen)),
        )
        for o in oversight
    ]
    result = SupervisionReport(
        region_code=region,
        year=year,
        on=day,
        idle_days=settings.idle_days,
        money=money_rows,
        oversight=oversight_rows,
    )
    if format is None:
        return result
    by_region = {o.region_code: o for o in oversight_rows}
    header = [
        "region_code",
        "region_name",
        "source",
        "allocated",
        "disbursed",
        "held",
        "idle",
        "anomalies_open",
        "anomalies_total",
        "findings_total",
        "findings_open",
        "findings_rectified",
        "findings_overdue",
        "findings_amount",
    ]
    rows = []
    for row in money_rows:
        o = by_region.get(row.region_code)
        rows.append(
            [
                row.region_code,
                row.region_name,
                row.source,
                row.allocated,
                row.disbursed,
                row.held,
                row.idle,
                *(
                    [
                        o.anomalies_open,
                        o.anomalies_total,
                        o.findings_total,
                        o.findings_open,
                        o.findings_rectified,
                        o.findings_overdue,
                        o.findings_amount,
                    ]
                    if o
                    else [0] * 6 + ["0.00"]
                ),
            ]
        )
    response: Response = render(rows, header, format, f"supervision-{region}", "supervision")
    return response  # type: ignore[return-value]
