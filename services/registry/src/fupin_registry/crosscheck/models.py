"""Cross-department comparison: reference lists from partner agencies and review flags."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fupin_kit.db import TimestampMixin
from fupin_registry.db import Base


class ReferenceList(TimestampMixin, Base):
    __tablename__ = "reference_lists"
    __table_args__ = (
        Index("ix_reference_lists_kind_jurisdiction", "kind", "jurisdiction", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(
        Text
    )  # vehicles, companies, public_employees, urban_housing, deaths, dibao
    agency: Mapped[str] = mapped_column(Text)
    uploaded_by: Mapped[str] = mapped_column(Text)
    # The uploader's jurisdiction: the region whose people the list covers.
    jurisdiction: Mapped[str] = mapped_column(Text)
    row_count: Mapped[int] = mapped_column(Integer, server_default="0")
    match_count: Mapped[int] = mapped_column(Integer, server_default="0")


class ReferenceEntry(Base):
    __tablename__ = "reference_entries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reference_lists.id"), index=True)
    id_index: Mapped[bytes] = mapped_column(LargeBinary, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class Flag(TimestampMixin, Base):
    """A data-quality or eligibility flag on a household, with its review outcome."""

    __tablename__ = "flags"
    __table_args__ = (
        Index(
            "uq_flags_open_once",
            "household_id",
            "kind",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"), index=True)
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    village_code: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str] = mapped_column(
        Text
    )  # vehicle, company, public_employee, urban_housing, death, duplicate_id, ...
    source: Mapped[str] = mapped_column(Text)  # reference list id or rule name
    status: Mapped[str] = mapped_column(Text, server_default="open")  # open, confirmed, dismissed
    resolution_reason: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    follow_up_case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
