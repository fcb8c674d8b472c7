"""Import jobs, their row-level errors, and the staging tables that chunks are copied into."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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


# Staging: each chunk is COPYed here, merged into the register by set-based SQL and deleted in
# the same transaction. UNLOGGED: the rows never outlive their transaction, so no WAL for them.
staged_households = Table(
    "import_staged_households",
    Base.metadata,
    Column("job_id", Uuid, nullable=False),
    Column("chunk", Integer, nullable=False),
    Column("household_id", Uuid, nullable=False),
    Column("first_row", Integer, nullable=False),
    Column("last_row", Integer, nullable=False),
    Column("member_count", Integer, nullable=False),
    Column("village_code", Text, nullable=False),
    Column("household_number", Text, nullable=False),
    Column("attribute", Text, nullable=False),
    Column("support_type", Text, nullable=False),
    Column("primary_cause", Text, nullable=False),
    Column("secondary_causes", ARRAY(Text), nullable=False),
    Column("identification_standard", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("registered_on", Date),
    Column("exited_on", Date),
    Column("phone_enc", LargeBinary),
    Column("bank_account_enc", LargeBinary),
    Column("housing_safety", Text, nullable=False),
    Column("drinking_water_safe", Boolean, nullable=False),
    Column("income_year", Integer, nullable=False),
    Column("wages", Numeric(14, 2)),
    Column("production", Numeric(14, 2)),
    Column("property", Numeric(14, 2)),
    Column("transfer", Numeric(14, 2)),
    Column("production_costs", Numeric(14, 2)),
    Column("snapshot", JSONB, nullable=False),  # the history version, built with the chunk
    Column("event_id", Text, nullable=False),
    Column("event", JSONB, nullable=False),  # the HouseholdRegistered envelope
    Column("outcome", Text),  # NULL: to insert; unchanged; rejected
    Column("reason", Text),
    Column("reason_row", Integer),
    prefixes=["UNLOGGED"],
)

staged_members = Table(
    "import_staged_members",
    Base.metadata,
    Column("job_id", Uuid, nullable=False),
    Column("chunk", Integer, nullable=False),
    Column("household_id", Uuid, nullable=False),
    Column("member_id", Uuid, nullable=False),
    Column("row_number", Integer, nullable=False),
    Column("id_index", LargeBinary, nullable=False),
    Column("id_number_enc", LargeBinary, nullable=False),
    Column("name_enc", LargeBinary, nullable=False),
    Column("sex", Text, nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("relation", Text, nullable=False),
    Column("ethnicity", Text, nullable=False),
    Column("education", Text),
    Column("school_status", Text),
    Column("health", Text, nullable=False),
    Column("disability", Text),
    Column("labour_ability", Text, nullable=False),
    Column("migrant_months", Integer, nullable=False),
    Column("medical_insurance", Boolean, nullable=False),
    Column("pension_insurance", Boolean, nullable=False),
    prefixes=["UNLOGGED"],
)

__all__ = ["ImportJob", "ImportRowError", "staged_households", "staged_members"]
