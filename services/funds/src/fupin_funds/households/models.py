from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from fupin_funds.db import Base


class HouseholdView(Base):
    """What the funds service knows of a registered household (no clear personal data)."""

    __tablename__ = "household_view"
    __table_args__ = (
        Index("ix_household_view_village_code", "village_code"),
        Index("ix_household_view_member_indexes", "member_indexes", postgresql_using="gin"),
    )

    household_id: Mapped[str] = mapped_column(Text, primary_key=True)
    village_code: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    member_count: Mapped[int] = mapped_column(Integer)
    member_indexes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    registered_on: Mapped[date | None] = mapped_column(Date)
    status_since: Mapped[date | None] = mapped_column(Date)
    exited_on: Mapped[date | None] = mapped_column(Date)
    removed_on: Mapped[date | None] = mapped_column(Date)
    # the registry's household version of the newest event applied (orders late events)
    registry_version: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class HouseholdStatusHistory(Base):
    """Every status a household had and from when, so eligibility can be read as of a date."""

    __tablename__ = "household_status_history"
    __table_args__ = (
        Index("ix_household_status_history_household", "household_id", "effective_on"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    household_id: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    effective_on: Mapped[date] = mapped_column(Date)
    # The registry's household version of the event (None before it was kept): the order the
    # registry recorded the statuses in, whatever order they arrived in.
    registry_version: Mapped[int | None] = mapped_column(Integer)
