from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fupin_funds.db import Base


class AllocationFactor(Base):
    """A factor of the allocation formula with its weight (data, editable by API)."""

    __tablename__ = "allocation_factors"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(
        Text
    )  # direct: more means more money; inverse: less means more
    origin: Mapped[str] = mapped_column(
        Text
    )  # registry: computed from the read model; data: factor_values
    weight: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FactorValue(Base):
    __tablename__ = "factor_values"

    factor_code: Mapped[str] = mapped_column(
        Text, ForeignKey("allocation_factors.code"), primary_key=True
    )
    region_code: Mapped[str] = mapped_column(Text, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[Decimal] = mapped_column(Numeric(20, 6))
    updated_by: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CountyAssessment(Base):
    """Published county assessments, from ``evaluation.assessment.v1``."""

    __tablename__ = "county_assessments"
    __table_args__ = (Index("ix_county_assessments_county", "county_code", "year"),)

    assessment_id: Mapped[str] = mapped_column(Text, primary_key=True)
    county_code: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    score: Mapped[Decimal] = mapped_column(Numeric(7, 3))
    grade: Mapped[str] = mapped_column(Text)
    gdp_excluded: Mapped[bool] = mapped_column(Boolean)
    published_on: Mapped[date] = mapped_column(Date)


class Allocation(Base):
    __tablename__ = "allocations"
    __table_args__ = (Index("ix_allocations_parent_region", "parent_region"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    fund_id: Mapped[str] = mapped_column(Text, ForeignKey("funds.id"))
    parent_region: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(Text)  # formula | manual
    status: Mapped[str] = mapped_column(Text)  # proposed | approved | released | rejected
    total_fen: Mapped[int] = mapped_column(BigInteger)
    formula_fen: Mapped[int] = mapped_column(BigInteger)
    award_fen: Mapped[int] = mapped_column(BigInteger)
    award_share: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    proposed_by: Mapped[str] = mapped_column(Text)
    proposed_on: Mapped[date] = mapped_column(Date)
    approved_by: Mapped[str | None] = mapped_column(Text)
    approved_on: Mapped[date | None] = mapped_column(Date)
    notice_ends_on: Mapped[date | None] = mapped_column(Date)
    released_on: Mapped[date | None] = mapped_column(Date)
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AllocationLine(Base):
    __tablename__ = "allocation_lines"

    allocation_id: Mapped[str] = mapped_column(Text, ForeignKey("allocations.id"), primary_key=True)
    region_code: Mapped[str] = mapped_column(Text, primary_key=True)
    formula_fen: Mapped[int] = mapped_column(BigInteger)
    award_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    computation: Mapped[dict[str, Any]] = mapped_column(JSONB)
