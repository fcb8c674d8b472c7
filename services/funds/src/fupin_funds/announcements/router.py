"""Public notice: anyone reads announcements and files objections (no login, rate-limited per
client address); officers of the announcing region read and resolve objections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fupin_events.values import Day, business_today
from fupin_funds.announcements.dependencies import (
    AnnouncementDep,
    ObjectionDep,
    PublicAnnouncementDep,
)
from fupin_funds.announcements.models import Announcement, Objection
from fupin_funds.announcements.repository import AnnouncementRepository
from fupin_funds.announcements.schemas import (
    AnnouncementRead,
    ObjectionCreate,
    ObjectionFiled,
    ObjectionRead,
    ObjectionResolution,
)
from fupin_funds.announcements.service import file_objection, resolve_objection
from fupin_funds.common.audit import audit
from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import business_date
from fupin_funds.common.privacy import PII_READ_SCOPE, Privacy, PrivacyDep
from fupin_kit.auth import Caller
from fupin_kit.db import SessionDep
from fupin_kit.free_text import holds_personal_number, mask_personal_numbers
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import problem_responses

public = APIRouter(prefix="/v1/public/announcements", tags=["public notice"])
router = APIRouter(tags=["public notice"])


async def _read(session: SessionDep, announcement: Announcement) -> AnnouncementRead:
    counts = await AnnouncementRepository(session).objection_counts(announcement.id)
    return AnnouncementRead(
        id=announcement.id,
        subject_type=announcement.subject_type,
        subject_id=announcement.subject_id,
        region_code=announcement.region_code,
        title=announcement.title,
        summary=announcement.summary,
        starts_on=announcement.starts_on,
        ends_on=announcement.ends_on,
        withdrawn_on=announcement.withdrawn_on,
        open_objections=counts.get("open", 0),
        resolved_objections=counts.get("resolved", 0),
    )


def _objection(objection: Objection, privacy: Privacy, caller: Caller) -> ObjectionRead:
    # The public types its objection freely: a phone or ID number in it is personal data too.
    clear = caller.has_scope(PII_READ_SCOPE)
    text, resolution = objection.text, objection.resolution
    return ObjectionRead(
        id=objection.id,
        announcement_id=objection.announcement_id,
        filed_on=objection.filed_on,
        text=text if clear else mask_personal_numbers(text),
        contact=privacy.contact(objection.contact_cipher, caller),
        status=objection.status,
        outcome=objection.outcome,
        resolution=resolution if clear or resolution is None else mask_personal_numbers(resolution),
        resolved_by=objection.resolved_by,
        resolved_on=objection.resolved_on,
    )


def _personal_fields(objection: Objection) -> list[str]:
    """The fields of an objection that hold personal data: shown in clear, they are audited."""
    fields = ["contact"] if objection.contact_cipher else []
    if holds_personal_number(objection.text):
        fields.append("text")
    if objection.resolution and holds_personal_number(objection.resolution):
        fields.append("resolution")
    return fields


@public.get("", summary="Announcements (公告公示), optionally those in notice on a date")
async def list_announcements(
    session: SessionDep,
    region: Annotated[str, Query(pattern=r"^[0-9]{2,12}$")] = "22",
    active_on: Annotated[Day | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AnnouncementRead]:
    after = decode_cursor(cursor, 1, (str,))
    rows = await AnnouncementRepository(session).listing(
        region, active_on, after[0] if after else None, limit
    )
    items = [await _read(session, a) for a in rows]
    return Page(
        items=items, next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None
    )


@public.get("/{announcement_id}", responses=problem_responses(404), summary="One announcement")
async def read_announcement(
    announcement: PublicAnnouncementDep, session: SessionDep
) -> AnnouncementRead:
    return await _read(session, announcement)


@public.post(
    "/{announcement_id}/objections",
    status_code=201,
    responses=problem_responses(404, 409, 422, 429),
    summary="File an objection (no login; contact optional; rate-limited per client address)",
)
async def create_objection(
    announcement: PublicAnnouncementDep,
    body: ObjectionCreate,
    request: Request,
    session: SessionDep,
    privacy: PrivacyDep,
) -> ObjectionFiled:
    settings = request.app.state.settings
    on = business_today()
    address = request.client.host if request.client else "unknown"
    objection = await file_objection(
        session,
        settings,
        privacy,
        announcement,
        text=body.text,
        contact=body.contact,
        client_address=address,
        on=on,
    )
    return ObjectionFiled(
        id=objection.id,
        announcement_id=announcement.id,
        filed_on=objection.filed_on,
        status=objection.status,
    )


@router.get(
    "/v1/announcements/{announcement_id}/objections",
    responses=problem_responses(401, 404),
    summary="Objections to an announcement (contacts masked unless pii:read)",
)
async def list_objections(
    announcement: AnnouncementDep, session: SessionDep, caller: CallerDep, privacy: PrivacyDep
) -> list[ObjectionRead]:
    objections = await AnnouncementRepository(session).objections(announcement.id)
    shown = sorted({field for o in objections for field in _personal_fields(o)})
    if caller.has_scope(PII_READ_SCOPE) and shown:
        await audit(
            session,
            caller,
            "pii.read_unmasked",
            "announcement",
            announcement.id,
            {"fields": shown},
        )
    return [_objection(o, privacy, caller) for o in objections]


@router.post(
    "/v1/objections/{objection_id}/resolution",
    responses=problem_responses(401, 404, 409, 422),
    summary="Resolve an objection with a recorded outcome (upheld withdraws the approval)",
)
async def resolve(
    objection: ObjectionDep,
    body: ObjectionResolution,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    privacy: PrivacyDep,
    key: IdempotencyKey = None,
) -> ObjectionRead:
    settings = request.app.state.settings

    async def command() -> ObjectionRead:
        announcement = await AnnouncementRepository(session).get(objection.announcement_id)
        assert announcement is not None
        caller.require_region_write(announcement.region_code)
        on = business_date(body.on, settings)
        resolved = await resolve_objection(
            session,
            settings,
            caller,
            objection,
            announcement,
            outcome=body.outcome,
            resolution=body.resolution,
            on=on,
        )
        return _objection(resolved, privacy, caller)

    response = await run_idempotent(
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint([objection.id, body], caller),
        command=command,
        status_code=200,
    )
    shown = _personal_fields(objection)
    if caller.has_scope(PII_READ_SCOPE) and shown:
        await audit(
            session,
            caller,
            "pii.read_unmasked",
            "announcement",
            objection.announcement_id,
            {"fields": shown, "objection_id": objection.id},
        )
    return response  # type: ignore[return-value]
