"""Announcements, the money gate, objections and their resolution."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.announcements.gate import check_gate
from fupin_funds.announcements.models import Announcement, Objection
from fupin_funds.announcements.repository import AnnouncementRepository
from fupin_funds.common.audit import audit
from fupin_funds.common.privacy import Privacy
from fupin_funds.config import Settings
from fupin_kit.auth import Caller
from fupin_kit.problems import Conflict, TooManyRequests, Unprocessable


def notice_end(starts_on: date, notice_days: int) -> date:
    """The last day of a notice posted on ``starts_on`` and lasting ``notice_days`` days,
    counted as the Civil Code counts periods (art. 201: the day it starts is not counted), as
    the registry counts its notices: posted on 1 March, 7 days, it ends on 8 March."""
    return starts_on + timedelta(days=notice_days)


async def announce(
    session: AsyncSession,
    *,
    subject_type: str,
    subject_id: str,
    region_code: str,
    title: str,
    summary: str,
    starts_on: date,
    notice_days: int,
) -> Announcement:
    return await AnnouncementRepository(session).add(
        Announcement(
            id=str(uuid.uuid4()),
            subject_type=subject_type,
            subject_id=subject_id,
            region_code=region_code,
            title=title,
            summary=summary,
            starts_on=starts_on,
            ends_on=notice_end(starts_on, notice_days),
        )
    )


async def require_gate_open(
    session: AsyncSession, subject_type: str, subject_id: str, on: date
) -> None:
    ends_on, objections = await AnnouncementRepository(session).gate_state(subject_type, subject_id)
    check_gate(ends_on, objections, on)


async def file_objection(
    session: AsyncSession,
    settings: Settings,
    privacy: Privacy,
    announcement: Announcement,
    *,
    text: str,
    contact: str | None,
    client_address: str,
    on: date,
) -> Objection:
    repository = AnnouncementRepository(session)
    # Locked and read afresh: an upheld objection being decided now closes the notice first.
    await repository.get(announcement.id, lock=True)
    if announcement.withdrawn_on is not None:
        raise Conflict(
            f"what was announced was withdrawn on {announcement.withdrawn_on} after an upheld"
            " objection; objections are no longer taken"
        )
    if not announcement.starts_on <= on <= announcement.ends_on:
        raise Conflict(
            f"objections are accepted during the notice period {announcement.starts_on} to "
            f"{announcement.ends_on}"
        )
    client_index = privacy.index.hex(f"client-address:{client_address}")
    await repository.lock_client(client_index)
    since = datetime.now(UTC) - timedelta(minutes=settings.objection_rate_window_minutes)
    if (
        await repository.recent_objections_from(client_index, since)
        >= settings.objection_rate_limit
    ):
        raise TooManyRequests(
            "too many objections from this address; try again later",
            headers={"Retry-After": str(settings.objection_rate_window_minutes * 60)},
        )
    objection = await repository.add_objection(
        Objection(
            id=str(uuid.uuid4()),
            announcement_id=announcement.id,
            filed_on=on,
            text=text,
            contact_cipher=None if contact is None else privacy.seal(contact, "objection_contact"),
            client_index=client_index,
            status="open",
        )
    )
    await audit(
        session,
        "public",
        "objection.filed",
        "announcement",
        announcement.id,
        {"objection_id": objection.id, "filed_on": on.isoformat()},
    )
    return objection


async def resolve_objection(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    objection: Objection,
    announcement: Announcement,
    *,
    outcome: str,
    resolution: str,
    on: date,
) -> Objection:
    await _require_deciding_office(session, caller, announcement)
    if objection.status != "open":
        raise Conflict("this objection is already resolved")
    if on < objection.filed_on:
        raise Unprocessable(
            "#/body/on", "dates out of order: the resolution precedes the objection"
        )
    objection.status = "resolved"
    objection.outcome = outcome
    objection.resolution = resolution
    objection.resolved_by = caller.actor
    objection.resolved_on = on
    await session.flush()
    if outcome == "upheld":
        await _withdraw_subject(session, settings, caller, announcement, on, resolution)
        announcement.withdrawn_on = on
        # The others have nothing left to decide: closed with the announced item.
        await AnnouncementRepository(session).close_open_objections(
            announcement.id,
            f"withdrawn: objection {objection.id} was upheld",
            caller.actor,
            on,
        )
        await session.flush()
    await audit(
        session,
        caller,
        "objection.resolved",
        "announcement",
        announcement.id,
        {"objection_id": objection.id, "outcome": outcome, "on": on.isoformat()},
    )
    return objection


async def _require_deciding_office(
    session: AsyncSession, caller: Caller, announcement: Announcement
) -> None:
    """An objection is decided by whoever decides what was announced: an allocation by the
    office of the level that holds the money (分级负责), not by a level above it."""
    if announcement.subject_type == "allocation":
        from fupin_funds.allocations.service import require_owner_of

        await require_owner_of(session, caller, announcement.subject_id)


async def _withdraw_subject(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    announcement: Announcement,
    on: date,
    reason: str,
) -> None:
    """An upheld objection withdraws the approval of what was announced."""
    if announcement.subject_type == "project":
        from fupin_funds.projects.service import withdraw_project

        await withdraw_project(session, caller, announcement.subject_id, on, reason)
    else:
        from fupin_funds.allocations.service import withdraw_allocation

        await withdraw_allocation(session, caller, announcement.subject_id, on, reason)
