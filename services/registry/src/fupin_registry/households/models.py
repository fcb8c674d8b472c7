"""Households, members, incomes, assistance measures and their full history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
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
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fupin_kit.db import TimestampMixin
from fupin_registry.db import Base


class Household(TimestampMixin, Base):
    __tablename__ = "households"
    __table_args__ = (
        UniqueConstraint("village_code", "household_number"),
        CheckConstraint("cardinality(secondary_causes) <= 2", name="at_most_two_secondary_causes"),
        Index("ix_households_village_status", "village_code", "status"),
        # Region-prefix filters are LIKE 'prefix%': text_pattern_ops serves them in any collation.
        Index(
            "ix_households_village_pattern",
            "village_code",
            "id",
            postgresql_ops={"village_code": "text_pattern_ops"},
        ),
        Index("ix_households_status_registered", "status", "registered_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    village_code: Mapped[str] = mapped_column(Text)
    household_number: Mapped[str] = mapped_column(Text)
    attribute: Mapped[str] = mapped_column(Text)  # HouseholdAttribute
    support_type: Mapped[str] = mapped_column(Text)  # SupportType
    primary_cause: Mapped[str] = mapped_column(Text)  # PovertyCause
    secondary_causes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    identification_standard: Mapped[str] = mapped_column(Text, server_default="national")
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_account_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    housing_safety: Mapped[str] = mapped_column(Text, server_default="safe")
    drinking_water_safe: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    status: Mapped[str] = mapped_column(Text)  # HouseholdStatus
    year: Mapped[int] = mapped_column(Integer)  # identification year
    registered_on: Mapped[date | None] = mapped_column(Date)
    exited_on: Mapped[date | None] = mapped_column(Date)
    responsible_cadre_id: Mapped[str | None] = mapped_column(Text)
    responsible_cadre_name: Mapped[str | None] = mapped_column(Text)
    cadre_paired_on: Mapped[date | None] = mapped_column(Date)  # orders pairing events
    version: Mapped[int] = mapped_column(Integer, server_default="1")  # ETag / If-Match
    # Provenance: the import job and the file row of the household's first row (null when the
    # household was entered through the API). No foreign key: import jobs are the import's.
    import_job_id: Mapped[uuid.UUID | None] = mapped_column()
    import_row: Mapped[int | None] = mapped_column(Integer)


class Member(TimestampMixin, Base):
    __tablename__ = "members"
    __table_args__ = (
        # A person belongs to at most one active household.
        Index(
            "uq_members_active_id_index", "id_index", unique=True, postgresql_where=text("active")
        ),
        CheckConstraint("migrant_months BETWEEN 0 AND 12", name="migrant_months_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"), index=True)
    id_index: Mapped[bytes] = mapped_column(LargeBinary)  # HMAC blind index of the ID number
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    sex: Mapped[str] = mapped_column(Text)
    birth_date: Mapped[date] = mapped_column(Date)
    relation: Mapped[str] = mapped_column(Text)
    ethnicity: Mapped[str] = mapped_column(Text, server_default="han")
    education: Mapped[str | None] = mapped_column(Text)
    school_status: Mapped[str | None] = mapped_column(Text)
    health: Mapped[str] = mapped_column(Text, server_default="healthy")
    disability: Mapped[str | None] = mapped_column(Text)  # kind and grade, when disabled
    labour_ability: Mapped[str] = mapped_column(Text, server_default="ordinary")
    migrant_months: Mapped[int] = mapped_column(Integer, server_default="0")
    medical_insurance: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    pension_insurance: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # active: the person counts as a member of a live household (unique per person);
    # left_on/left_reason: the person left this household (death, migration, ...).
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    left_on: Mapped[date | None] = mapped_column(Date)
    left_reason: Mapped[str | None] = mapped_column(Text)


class HouseholdIncome(Base):
    __tablename__ = "household_incomes"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text, primary_key=True)  # IncomeSource
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))


class AssistanceMeasure(TimestampMixin, Base):
    """一户一策: the targeted measures of a household's assistance plan."""

    __tablename__ = "assistance_measures"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    measure_type: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    responsible_cadre_id: Mapped[str | None] = mapped_column(Text)


class HouseholdVersion(Base):
    """Every state a household has been in: read the register as of any date.

    ``snapshot`` is the household with its members, incomes and plan as stored (personal fields
    encrypted, base64), valid from ``valid_from`` until ``valid_to`` (open while current):
    when the register learned of it. ``effective_on`` is the business date from which it holds
    (a status change's step date; the day of recording for other changes).
    """

    __tablename__ = "household_versions"
    __table_args__ = (
        Index("ix_household_versions_lookup", "household_id", "valid_from"),
        Index("ix_household_versions_village_period", "village_code", "valid_from", "valid_to"),
        Index("ix_household_versions_village_effective", "village_code", "effective_on"),
        Index(
            "ix_household_versions_current",
            "household_id",
            postgresql_where=text("valid_to IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    version: Mapped[int] = mapped_column(Integer)
    village_code: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    effective_on: Mapped[date] = mapped_column(
        Date, server_default=text("((now() AT TIME ZONE 'Asia/Shanghai')::date)")
    )
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)  # created, updated, status_changed, imported, ...
    changed: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
