"""Cases of the identification and dynamic-management workflows, their steps and objections."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fupin_kit.db import TimestampMixin
from fupin_registry.db import Base


class Case(TimestampMixin, Base):
    """One run of a workflow for one household: identification, exit, return, removal or
    natural decrease (kind), in a state of that kind's state machine."""

    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "uq_cases_one_open_per_household",
            "household_id",
            unique=True,
            postgresql_where=text("state NOT IN ('approved', 'rejected')"),
        ),
        Index("ix_cases_state_created", "state", "created_at", "id"),
        Index(
            "ix_cases_counted_by_village",
            "village_code",
            "last_step_on",
            postgresql_where=text("people_counted IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(Text)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"), index=True)
    village_code: Mapped[str] = mapped_column(Text, index=True)
    state: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    notice_started_on: Mapped[date | None] = mapped_column(Date)
    notice_ends_on: Mapped[date | None] = mapped_column(Date)
    suspended: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    quota_override_reason: Mapped[str | None] = mapped_column(Text)
    opened_on: Mapped[date] = mapped_column(Date, server_default=text("CURRENT_DATE"))
    last_step_on: Mapped[date | None] = mapped_column(Date)  # steps never go back in time
    # people counted against the quota when an identification was approved (quotas/)
    people_counted: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class CaseStep(Base):
    """Who did what, when, with which evidence, at every step of a case."""

    __tablename__ = "case_steps"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    step: Mapped[str] = mapped_column(Text)
    from_state: Mapped[str | None] = mapped_column(Text)
    to_state: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    effective_on: Mapped[date | None] = mapped_column(Date)  # business date of the step


class Objection(TimestampMixin, Base):
    """An objection raised during a public notice; it suspends the case until resolved."""

    __tablename__ = "objections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    content: Mapped[str] = mapped_column(Text)
    contact_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # open, upheld, dismissed; closed: still open when another one, upheld, rejected the case
    status: Mapped[str] = mapped_column(Text, server_default="open")
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExclusionRule(TimestampMixin, Base):
    """What an open cross-department flag of a kind does to an identification: block or flag."""

    __tablename__ = "exclusion_rules"
    __table_args__ = (CheckConstraint("effect IN ('block', 'flag')", name="effect_known"),)

    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    effect: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(Text, server_default="system")
