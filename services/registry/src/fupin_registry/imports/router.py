"""HTTP routes of bulk import (/v1/imports) and export (/v1/exports)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Request, UploadFile
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from fupin_events.values import business_today
from fupin_kit.audit import AuditRecord, AuditTrail
from fupin_kit.auth import Caller, CallerDep
from fupin_kit.db import SessionDep, session_scope
from fupin_kit.pagination import Cursor, Limit, decode_cursor, encode_cursor
from fupin_kit.problems import Unprocessable, problem_responses
from fupin_registry.access import require_writer
from fupin_registry.imports.dependencies import ImportJobDep
from fupin_registry.imports.export import (
    ERROR_HEADERS,
    HEADERS,
    PII_HEADERS,
    ErrorReport,
    RegisterRows,
    XlsxFile,
    stream_csv,
    template_csv,
    template_xlsx,
)
from fupin_registry.imports.models import ImportJob
from fupin_registry.imports.repository import ImportRepository
from fupin_registry.imports.schemas import ImportJobPage, ImportJobRead, job_read
from fupin_registry.imports.service import ERROR_VALUE_FIELD, ImportRunner, create_job
from fupin_registry.privacy import PII_READ_SCOPE, Privacy, PrivacyDep

router = APIRouter(tags=["imports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get(
    "/v1/imports/template.xlsx",
    summary="Download the import template (.xlsx)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
async def download_template_xlsx(caller: CallerDep) -> Response:
    return Response(
        template_xlsx(), media_type=XLSX, headers=_attachment("fupin-import-template.xlsx")
    )


@router.get(
    "/v1/imports/template.csv",
    summary="Download the import template (.csv, UTF-8)",
    response_class=Response,
    responses={200: {"content": {CSV: {}}}},
)
async def download_template_csv(caller: CallerDep) -> Response:
    return Response(
        template_csv(), media_type=CSV, headers=_attachment("fupin-import-template.csv")
    )


@router.post(
    "/v1/imports",
    status_code=202,
    response_model=ImportJobRead,
    summary="Upload a county spreadsheet (.xlsx or .csv) for import",
    description=(
        "Multipart upload (field `file`). The file is checked to be a spreadsheet, stored, and"
        " imported by a background job into the caller's jurisdiction; follow its progress at"
        " `GET /v1/imports/{id}` and download the row-level error report when it ends."
    ),
    responses=problem_responses(401, 403, 413, 422),
)
async def upload(
    request: Request,
    caller: CallerDep,
    privacy: PrivacyDep,
    background: BackgroundTasks,
    file: Annotated[UploadFile, File(description="the .xlsx or .csv file")],
) -> ImportJobRead:
    require_writer(caller)
    # The form is parsed already (for ``file``); a second file would be taken silently.
    if len((await request.form()).getlist("file")) > 1:
        raise Unprocessable("#/body/file", "send one file: the request holds several")
    settings = request.app.state.settings
    sessionmaker = request.app.state.sessionmaker
    job, config = await create_job(
        sessionmaker, settings, caller, file.file, file.filename or "upload"
    )
    runner = ImportRunner(sessionmaker, settings, privacy)
    background.add_task(runner.run, job.id, config, caller.actor)
    return job_read(job)


@router.get(
    "/v1/imports",
    response_model=ImportJobPage,
    summary="Import jobs of your jurisdiction, newest first",
    responses=problem_responses(401, 422),
)
async def list_jobs(
    session: SessionDep, caller: CallerDep, limit: Limit = 50, cursor: Cursor = None
) -> ImportJobPage:
    after = decode_cursor(cursor, 2, (datetime, uuid.UUID))
    before = (after[0], after[1]) if after else None
    if before is not None and before[0].tzinfo is None:
        # Cursors carry the timestamptz they were made from; a naive one was not made here.
        raise Unprocessable("#/query/cursor", "the cursor is not valid")
    jobs = await ImportRepository(session).list_jobs(
        caller.region_filter(ImportJob.region_code), before=before, limit=limit + 1
    )
    next_cursor = None
    if len(jobs) > limit:
        jobs = jobs[:limit]
        next_cursor = encode_cursor([jobs[-1].created_at.isoformat(), str(jobs[-1].id)])
    return ImportJobPage(items=[job_read(j) for j in jobs], next_cursor=next_cursor)


@router.get(
    "/v1/imports/{job_id}",
    response_model=ImportJobRead,
    summary="Progress of an import job",
    responses=problem_responses(401, 404),
)
async def get_job(job: ImportJobDep) -> ImportJobRead:
    return job_read(job)


async def _error_rows(
    request: Request, job_id: uuid.UUID, report: ErrorReport
) -> AsyncIterator[list[list[str]]]:
    async with session_scope(request.app.state.sessionmaker) as session:
        batch = []
        async for error in ImportRepository(session).stream_errors(job_id):
            batch.append(error)
            if len(batch) >= 2000:
                yield report.cells(batch)
                batch = []
        if batch:
            yield report.cells(batch)


def _report(privacy: Privacy, caller: Caller) -> ErrorReport:
    return ErrorReport(privacy, ERROR_VALUE_FIELD, clear=caller.has_scope(PII_READ_SCOPE))


async def _audit_clear(
    request: Request,
    caller: CallerDep,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, object],
) -> None:
    if not caller.has_scope(PII_READ_SCOPE):
        return
    async with session_scope(request.app.state.sessionmaker) as session:
        await AuditTrail(session).append(
            AuditRecord(caller.actor, action, object_type, object_id, details)
        )


@router.get(
    "/v1/imports/{job_id}/errors.csv",
    summary="Row-level error report (CSV)",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV: {}}}, **problem_responses(401, 404)},
)
async def errors_csv(
    request: Request, job: ImportJobDep, caller: CallerDep, privacy: PrivacyDep
) -> StreamingResponse:
    await _audit_clear(
        request, caller, "pii.read_unmasked", "import_errors", str(job.id), {"format": "csv"}
    )
    rows = _error_rows(request, job.id, _report(privacy, caller))
    return StreamingResponse(
        stream_csv(ERROR_HEADERS, rows),
        media_type=CSV,
        headers=_attachment(f"import-{job.id}-errors.csv"),
    )


@router.get(
    "/v1/imports/{job_id}/errors.xlsx",
    summary="Row-level error report (XLSX)",
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}}, **problem_responses(401, 404)},
)
async def errors_xlsx(
    request: Request, job: ImportJobDep, caller: CallerDep, privacy: PrivacyDep
) -> FileResponse:
    await _audit_clear(
        request, caller, "pii.read_unmasked", "import_errors", str(job.id), {"format": "xlsx"}
    )
    book = XlsxFile("错误报告", ERROR_HEADERS)
    try:
        async for rows in _error_rows(request, job.id, _report(privacy, caller)):
            await asyncio.to_thread(book.write, rows)
        path = await asyncio.to_thread(book.close)
    except BaseException:
        await asyncio.to_thread(book.discard)
        raise
    return FileResponse(
        path,
        media_type=XLSX,
        filename=f"import-{job.id}-errors.xlsx",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


# --- export -----------------------------------------------------------------------------------


def _export_name(caller: CallerDep, suffix: str) -> str:
    return f"register-{caller.jurisdiction}-{business_today().strftime('%Y%m%d')}.{suffix}"


@router.get(
    "/v1/exports/households.csv",
    tags=["exports"],
    summary="Export your jurisdiction's register (CSV, template headers)",
    description="Streamed; personal fields masked unless you hold `pii:read`"
    " (an unmasked export is audited).",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV: {}}}, **problem_responses(401)},
)
async def export_csv(request: Request, caller: CallerDep, privacy: PrivacyDep) -> StreamingResponse:
    await _audit_clear(
        request,
        caller,
        "pii.export_unmasked",
        "register",
        caller.jurisdiction,
        {"format": "csv", "fields": sorted(PII_HEADERS.values())},
    )

    async def batches() -> AsyncIterator[list[list[str]]]:
        async with session_scope(request.app.state.sessionmaker) as session:
            async for rows in RegisterRows(session, privacy, caller).batches():
                yield rows

    return StreamingResponse(
        stream_csv(HEADERS, batches()),
        media_type=CSV,
        headers=_attachment(_export_name(caller, "csv")),
    )


@router.get(
    "/v1/exports/households.xlsx",
    tags=["exports"],
    summary="Export your jurisdiction's register (XLSX, template headers)",
    description="Personal fields masked unless you hold `pii:read`"
    " (an unmasked export is audited).",
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}}, **problem_responses(401)},
)
async def export_xlsx(request: Request, caller: CallerDep, privacy: PrivacyDep) -> FileResponse:
    await _audit_clear(
        request,
        caller,
        "pii.export_unmasked",
        "register",
        caller.jurisdiction,
        {"format": "xlsx", "fields": sorted(PII_HEADERS.values())},
    )
    book = XlsxFile("贫困户信息", HEADERS)
    try:
        async with session_scope(request.app.state.sessionmaker) as session:
            async for rows in RegisterRows(session, privacy, caller).batches():
                await asyncio.to_thread(book.write, rows)
        path = await asyncio.to_thread(book.close)
    except BaseException:
        # A half-written export is never sent and never left in the temporary directory.
        await asyncio.to_thread(book.discard)
        raise
    return FileResponse(
        path,
        media_type=XLSX,
        filename=_export_name(caller, "xlsx"),
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
