from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Index, LargeBinary, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from fupin_funds.db import Base


class Announcement(Base):
    __tablename__ = "announcements"
    __table_args__ = (
        Index("uq_announcements_subject", "subject_type", "subject_id", unique=True),
        Index("ix_announcements_region_code", "region_code"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    subject_type: Mapped[str] = mapped_column(Text)  # project | allocation
    subject_id: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)  # an upheld objection withdrew it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Objection(Base):
    __tablename__ = "objections"
    __table_args__ = (
        Index("ix_objections_announcement", "announcement_id", "status"),
        Index("ix_objections_client", "client_index", "filed_at"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    announcement_id: Mapped[str] = mapped_column(Text, ForeignKey("announcements.id"))
    filed_on: Mapped[date] = mapped_column(Date)
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    text: Mapped[str] = mapped_column(Text)
    contact_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    client_index: Mapped[str] = mapped_column(
        Text
    )  # keyed HMAC of the client address, for rate limits
    status: Mapped[str] = mapped_column(Text, default="open")  # open | resolved
    outcome: Mapped[str | None] = mapped_column(Text)  # upheld | dismissed | withdrawn
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolved_on: Mapped[date | None] = mapped_column(Date)
