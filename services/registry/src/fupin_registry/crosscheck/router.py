"""HTTP routes of the crosscheck domain: reference lists, flags and their review, reports."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import AfterValidator

from fupin_kit.auth import CallerDep, open_to_partners
from fupin_kit.crypto import BLIND_INDEX_BYTES
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, decode_cursor, encode_cursor
from fupin_kit.problems import NotFound, Unprocessable, problem_responses
from fupin_registry.crosscheck.dependencies import CrosscheckServiceDep, FlagDep, FlagForUpdateDep
from fupin_registry.crosscheck.models import Flag
from fupin_registry.crosscheck.repository import CrosscheckRepository
from fupin_registry.crosscheck.schemas import (
    DibaoReport,
    DuplicateFlagsRaised,
    DuplicateHolder,
    DuplicateId,
    DuplicateReport,
    FlagConfirm,
    FlagDismiss,
    FlagPage,
    FlagRead,
    ListKind,
    ReferenceListUploaded,
    plain_text,
)
from fupin_registry.imports.service import save_upload

router = APIRouter(tags=["crosscheck"])

FlagStatus = Annotated[str | None, Query(pattern="^(open|confirmed|dismissed)$")]
FlagKind = Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_]+$")]
Region = Annotated[str | None, Query(pattern=r"^[0-9]{2,12}$", description="region code prefix")]


@router.post(
    "/v1/crosscheck/lists",
    status_code=201,
    response_model=ReferenceListUploaded,
    summary="Upload a partner agency's reference list (CSV) and match it against the register",
    description=(
        "Needs the `crosscheck:upload` scope. Columns: 证件号码 (or id_number) plus detail columns;"
        " a dibao list also 低保户编号/户编号 and 行政区划代码. ID numbers are stored only as blind"
        " indexes; every matched household in your jurisdiction gets an open flag."
    ),
    responses=problem_responses(401, 403, 413, 422),
)
@open_to_partners
async def upload_list(
    request: Request,
    caller: CallerDep,
    service: CrosscheckServiceDep,
    file: Annotated[UploadFile, File(description="CSV, UTF-8 or GB18030")],
    kind: Annotated[ListKind, Form()],
    agency: Annotated[
        str | None, Form(min_length=1, max_length=100), AfterValidator(plain_text)
    ] = None,
) -> ReferenceListUploaded:
    caller.require_scope("crosscheck:upload")
    settings = request.app.state.settings
    path = settings.import_dir / f"list-{uuid.uuid4()}.csv"
    await save_upload(file.file, path, settings.crosscheck_max_file_bytes)
    try:
        return await service.upload(
            path, kind, agency or caller.client_id or caller.subject, caller
        )
    finally:
        path.unlink(missing_ok=True)


@router.get(
    "/v1/flags",
    response_model=FlagPage,
    summary="Flags in your jurisdiction, newest first",
    responses=problem_responses(401, 422),
)
async def list_flags(
    session: SessionDep,
    caller: CallerDep,
    status: FlagStatus = None,
    kind: FlagKind = None,
    region: Region = None,
    household_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> FlagPage:
    where = [caller.region_filter(Flag.village_code)]
    if region:
        where.append(Flag.village_code.startswith(region, autoescape=True))
    if status:
        where.append(Flag.status == status)
    if kind:
        where.append(Flag.kind == kind)
    if household_id:
        where.append(Flag.household_id == household_id)
    after = decode_cursor(cursor, 2, (datetime, uuid.UUID))
    position = (after[0], after[1]) if after else None
    flags = await CrosscheckRepository(session).list_flags(where, after=position, limit=limit + 1)
    next_cursor = None
    if len(flags) > limit:
        flags = flags[:limit]
        next_cursor = encode_cursor([flags[-1].created_at.isoformat(), str(flags[-1].id)])
    return FlagPage(items=[FlagRead.model_validate(f) for f in flags], next_cursor=next_cursor)


@router.get(
    "/v1/flags/{flag_id}",
    response_model=FlagRead,
    summary="One flag",
    responses=problem_responses(401, 404),
)
async def get_flag(flag: FlagDep) -> FlagRead:
    return FlagRead.model_validate(flag)


@router.post(
    "/v1/flags/{flag_id}/confirm",
    response_model=FlagRead,
    summary="Confirm a flag: opens a removal case; a death is recorded on the member",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def confirm_flag(
    flag: FlagForUpdateDep,
    body: FlagConfirm,
    session: SessionDep,
    caller: CallerDep,
    service: CrosscheckServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> FlagRead:
    async def command() -> FlagRead:
        return FlagRead.model_validate(await service.confirm(flag, body, caller))

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=idempotency_key,
        status_code=200,
        request_fingerprint=fingerprint(
            {"flag": str(flag.id), "confirm": body.model_dump()}, caller
        ),
        command=command,
    )


@router.post(
    "/v1/flags/{flag_id}/dismiss",
    response_model=FlagRead,
    summary="Dismiss a flag with a reason",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def dismiss_flag(
    flag: FlagForUpdateDep,
    body: FlagDismiss,
    session: SessionDep,
    caller: CallerDep,
    service: CrosscheckServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> FlagRead:
    async def command() -> FlagRead:
        return FlagRead.model_validate(await service.dismiss(flag, body, caller))

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=idempotency_key,
        status_code=200,
        request_fingerprint=fingerprint(
            {"flag": str(flag.id), "dismiss": body.model_dump()}, caller
        ),
        command=command,
    )


@router.post(
    "/v1/crosscheck/reports/duplicate-ids/flags",
    response_model=DuplicateFlagsRaised,
    summary="Flag the households of your jurisdiction that share a person with another",
    description=(
        "Raises a `duplicate_id` flag (source `rule:duplicate_id`) on every live household of"
        " your jurisdiction with a current member who is also on the current member list of"
        " another live household anywhere in the province; a household with an open one, or a"
        " member whose one was reviewed, is left as it is. Roles `officer` or `admin`."
    ),
    responses=problem_responses(401, 403),
)
async def flag_duplicate_ids(
    caller: CallerDep, service: CrosscheckServiceDep
) -> DuplicateFlagsRaised:
    return DuplicateFlagsRaised(flags_raised=await service.flag_duplicates(caller))


@router.get(
    "/v1/crosscheck/reports/duplicate-ids",
    response_model=DuplicateReport,
    summary="ID numbers of your jurisdiction's members held in more than one household",
    description="A person on a current member list in your jurisdiction who is on another live"
    " household's list too, wherever it is (outside your jurisdiction that household is shown only"
    " as `outside_jurisdiction` with its status). `include_closed=true` also lists people active"
    " in one household and still on the member list of a closed one.",
    responses=problem_responses(401, 422),
)
async def duplicate_ids(
    session: SessionDep,
    caller: CallerDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    include_closed: bool = False,
) -> DuplicateReport:
    after = decode_cursor(cursor, 1, (str,))
    position = None
    if after is not None:
        try:
            # validate: characters outside the alphabet are an error, not skipped
            position = base64.b64decode(after[0] + "=" * (-len(after[0]) % 4), b"-_", True)
        except ValueError as exc:
            raise Unprocessable("#/query/cursor", "the cursor is not valid") from exc
        if len(position) != BLIND_INDEX_BYTES:
            raise Unprocessable("#/query/cursor", "the cursor is not valid")
    rows = await CrosscheckRepository(session).duplicates(
        caller.jurisdiction, position, limit + 1, include_closed
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(
            [base64.urlsafe_b64encode(bytes(rows[-1].id_index)).decode().rstrip("=")]
        )
    return DuplicateReport(
        items=[
            DuplicateId(
                id_index=bytes(r.id_index).hex(),
                households=[DuplicateHolder(**h) for h in r.households],
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


@router.get(
    "/v1/crosscheck/reports/dibao",
    response_model=DibaoReport,
    summary="Dibao households missing from the register, and the reverse",
    description=(
        "Compares a dibao list with the register: by default the newest list uploaded for your"
        " jurisdiction or a region containing it; `list_id` names another (one of a region"
        " inside yours compares that region). Only registered households (identified, exited,"
        " returned) count as in the register: an applicant is not."
    ),
    responses=problem_responses(401, 404, 422),
)
async def dibao_report(
    session: SessionDep,
    caller: CallerDep,
    service: CrosscheckServiceDep,
    list_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> DibaoReport:
    repository = CrosscheckRepository(session)
    reference_list = await (
        repository.get_list(list_id)
        if list_id
        else repository.latest_list("dibao", caller.jurisdiction)
    )
    if list_id is None and reference_list is None:
        raise NotFound("no dibao list has been uploaded for your jurisdiction or above it")
    if (
        reference_list is None
        or reference_list.kind != "dibao"
        or not _overlaps(reference_list.jurisdiction, caller.jurisdiction)
    ):
        raise NotFound("dibao list not found", pointer="#/query/list_id")
    return await service.dibao_report(reference_list, caller, limit)


def _overlaps(region: str, other: str) -> bool:
    """Whether one region holds the other (codes are prefixes of what they contain)."""
    return region.startswith(other) or other.startswith(region)
