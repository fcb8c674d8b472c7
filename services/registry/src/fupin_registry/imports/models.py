"""Import jobs and their row-level errors."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from fupin_kit.db import TimestampMixin
from fupin_registry.db import Base


class ImportJob(TimestampMixin, Base):
    __tablename__ = "import_jobs"
    __table_args__ = (
        Index("ix_import_jobs_region_created", "region_code", "created_at"),
        CheckConstraint(
            "state IN ('queued', 'running', 'completed', 'failed')", name="state_known"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    region_code: Mapped[str] = mapped_column(Text)  # the uploader's jurisdiction
    created_by: Mapped[str] = mapped_column(Text)
    file_name: Mapped[str] = mapped_column(Text)
    file_kind: Mapped[str] = mapped_column(Text)  # csv, xlsx, xls
    encoding: Mapped[str | None] = mapped_column(Text)
    file_bytes: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(
        Text, server_default="queued"
    )  # queued running completed failed
    failure_reason: Mapped[str | None] = mapped_column(Text)
    header_row: Mapped[int | None] = mapped_column(Integer)
    ignored_columns: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    notes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    rows_read: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_empty: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_valid: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_rejected: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_committed: Mapped[int] = mapped_column(Integer, server_default="0")
    rows_unchanged: Mapped[int] = mapped_column(Integer, server_default="0")
    households_created: Mapped[int] = mapped_column(Integer, server_default="0")
    households_unchanged: Mapped[int] = mapped_column(Integer, server_default="0")
    chunks_committed: Mapped[int] = mapped_column(Integer, server_default="0")
    error_count: Mapped[int] = mapped_column(Integer, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportRowError(Base):
    """One problem of one row: row, column, value (encrypted: it may be personal), reason."""

    __tablename__ = "import_errors"
    __table_args__ = (Index("ix_import_errors_job_row", "job_id", "row_number", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_jobs.id"))
    row_number: Mapped[int] = mapped_column(Integer)
    column_name: Mapped[str] = mapped_column(Text)
    value_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)


__all__ = ["ImportJob", "ImportRowError"]
