from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fupin_funds.db import Base


class Loan(Base):
    __tablename__ = "loans"
    __table_args__ = (
        Index("uq_loans_bank_ref", "bank_id", "bank_loan_ref", unique=True),
        Index("ix_loans_region_code", "region_code"),
        Index("ix_loans_borrower_index", "borrower_index"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    bank_id: Mapped[str] = mapped_column(Text)
    bank_loan_ref: Mapped[str] = mapped_column(Text)
    borrower_index: Mapped[str] = mapped_column(Text)  # HMAC blind index of the ID number
    borrower_cipher: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM, field-bound
    household_id: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str] = mapped_column(Text)  # the household's village
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    outstanding_fen: Mapped[int] = mapped_column(BigInteger)
    # Risk compensation paid to the bank so far; never above ``outstanding_fen``.
    compensated_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    term_months: Mapped[int] = mapped_column(Integer)
    annual_rate: Mapped[Decimal] = mapped_column(Numeric(8, 6))
    start_date: Mapped[date] = mapped_column(Date)
    maturity_date: Mapped[date] = mapped_column(Date)
    purpose: Mapped[str] = mapped_column(Text)
    product: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)  # active | overdue | repaid | defaulted | misused
    overdue_since: Mapped[date | None] = mapped_column(Date)
    subsidy_stopped_on: Mapped[date | None] = mapped_column(Date)
    subsidy_paid_until: Mapped[date | None] = mapped_column(
        Date
    )  # exclusive end of the last paid period
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoanRepayment(Base):
    __tablename__ = "loan_repayments"
    __table_args__ = (Index("ix_loan_repayments_loan", "loan_id", "repaid_on"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    loan_id: Mapped[str] = mapped_column(Text, ForeignKey("loans.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    repaid_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoanSubsidy(Base):
    __tablename__ = "loan_subsidies"
    __table_args__ = (
        # A reversed subsidy keeps its row; its period may be paid again.
        Index(
            "uq_loan_subsidies_period",
            "loan_id",
            "period_start",
            unique=True,
            postgresql_where=text("reversed_on IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    loan_id: Mapped[str] = mapped_column(Text, ForeignKey("loans.id"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    days: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[str] = mapped_column(Text)
    computation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reversed_on: Mapped[date | None] = mapped_column(Date)  # booking date of the reversal
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
