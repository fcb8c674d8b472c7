from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from fupin_funds.db import Base


class ApprovalAuthority(Base):
    """Which level may approve projects up to which budget (data; no row = may not approve)."""

    __tablename__ = "approval_authorities"

    level: Mapped[str] = mapped_column(Text, primary_key=True)  # county | city | province
    max_budget_fen: Mapped[int | None] = mapped_column(BigInteger)  # None: no limit
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_region_code", "region_code"),
        Index("ix_projects_status", "status"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    project_type: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(Text)
    year: Mapped[int] = mapped_column(Integer)
    region_code: Mapped[str] = mapped_column(Text)
    village_codes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    implementing_unit: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    proposed_by: Mapped[str] = mapped_column(Text)
    proposed_on: Mapped[date] = mapped_column(Date)
    approved_by: Mapped[str | None] = mapped_column(Text)
    approved_level: Mapped[str | None] = mapped_column(Text)
    approved_on: Mapped[date | None] = mapped_column(Date)
    announced_on: Mapped[date | None] = mapped_column(Date)
    notice_ends_on: Mapped[date | None] = mapped_column(Date)
    started_on: Mapped[date | None] = mapped_column(Date)
    completed_on: Mapped[date | None] = mapped_column(Date)
    accepted_on: Mapped[date | None] = mapped_column(Date)
    evaluated_on: Mapped[date | None] = mapped_column(Date)
    evaluation: Mapped[str | None] = mapped_column(Text)
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ProjectBudget(Base):
    __tablename__ = "project_budgets"

    project_id: Mapped[str] = mapped_column(Text, ForeignKey("projects.id"), primary_key=True)
    source: Mapped[str] = mapped_column(Text, primary_key=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class ProjectBeneficiary(Base):
    __tablename__ = "project_beneficiaries"
    __table_args__ = (Index("ix_project_beneficiaries_household", "household_id"),)

    project_id: Mapped[str] = mapped_column(Text, ForeignKey("projects.id"), primary_key=True)
    household_id: Mapped[str] = mapped_column(Text, primary_key=True)
