from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.announcements.gate import ObjectionPeriod
from fupin_funds.announcements.models import Announcement, Objection


class AnnouncementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def close_open_objections(
        self, announcement_id: str, resolution: str, actor: str, on: date
    ) -> None:
        await self.session.execute(
            update(Objection)
            .where(Objection.announcement_id == announcement_id, Objection.status == "open")
            .values(
                status="resolved",
                outcome="withdrawn",
                resolution=resolution,
                resolved_by=actor,
                resolved_on=on,
            )
        )

    async def add(self, announcement: Announcement) -> Announcement:
        self.session.add(announcement)
        await self.session.flush()
        return announcement

    async def get(self, announcement_id: str, *, lock: bool = False) -> Announcement | None:
        """With ``lock``, the row is locked and read afresh: filings and resolutions of one
        notice take this lock first, so they follow one another (no objection slips in beside
        an upheld one, no two resolutions wait on each other's objections)."""
        return await self.session.get(
            Announcement, announcement_id, with_for_update=lock, populate_existing=lock
        )

    async def for_subject(self, subject_type: str, subject_id: str) -> Announcement | None:
        return (
            await self.session.execute(
                select(Announcement).where(
                    Announcement.subject_type == subject_type, Announcement.subject_id == subject_id
                )
            )
        ).scalar()

    async def gate_state(
        self, subject_type: str, subject_id: str
    ) -> tuple[date | None, list[ObjectionPeriod]]:
        """The notice end of a subject's announcement and when each of its objections was open."""
        ends_on = (
            await self.session.execute(
                select(Announcement.ends_on).where(
                    Announcement.subject_type == subject_type, Announcement.subject_id == subject_id
                )
            )
        ).scalar_one_or_none()
        rows = await self.session.execute(
            select(Objection.filed_on, Objection.resolved_on)
            .join(Announcement, Announcement.id == Objection.announcement_id)
            .where(Announcement.subject_type == subject_type, Announcement.subject_id == subject_id)
        )
        return ends_on, [ObjectionPeriod(filed, resolved) for filed, resolved in rows]

    async def listing(
        self, region_prefix: str, active_on: date | None, after: str | None, limit: int
    ) -> list[Announcement]:
        statement = select(Announcement).where(
            Announcement.region_code.startswith(region_prefix, autoescape=True)
        )
        if active_on is not None:
            statement = statement.where(
                Announcement.starts_on <= active_on, Announcement.ends_on >= active_on
            )
        if after is not None:
            statement = statement.where(Announcement.id > after)
        rows = await self.session.execute(statement.order_by(Announcement.id).limit(limit))
        return list(rows.scalars())

    async def objection_counts(self, announcement_id: str) -> dict[str, int]:
        rows = await self.session.execute(
            select(Objection.status, func.count())
            .where(Objection.announcement_id == announcement_id)
            .group_by(Objection.status)
        )
        return {status: int(count) for status, count in rows}

    async def add_objection(self, objection: Objection) -> Objection:
        self.session.add(objection)
        await self.session.flush()
        return objection

    async def lock_client(self, client_index: str) -> None:
        """Serialise the objections of one client address until the transaction ends, so that
        counting its recent objections and adding one cannot interleave with another filing."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"objection-client:{client_index}"},
        )

    async def recent_objections_from(self, client_index: str, since: datetime) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).where(
                    Objection.client_index == client_index, Objection.filed_at >= since
                )
            )
            or 0
        )

    async def objections(self, announcement_id: str) -> list[Objection]:
        rows = await self.session.execute(
            select(Objection)
            .where(Objection.announcement_id == announcement_id)
            .order_by(Objection.filed_at, Objection.id)
        )
        return list(rows.scalars())

    async def objection(self, objection_id: str, *, lock: bool = False) -> Objection | None:
        statement = select(Objection).where(Objection.id == objection_id)
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar()
