from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from fupin_funds.db import Base


class Account(Base):
    """One ledger account per (kind, region, source, year, ref). ``balance_fen`` is in the
    account's normal direction and is kept by a single conditional UPDATE per posting."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("balance_fen >= 0", name="balance_not_negative"),
        CheckConstraint("normal_side IN ('debit', 'credit')", name="normal_side"),
        Index(
            "uq_accounts_identity", "kind", "region_code", "source", "year", "ref_id", unique=True
        ),
        Index("ix_accounts_region_code", "region_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(Text)
    region_code: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="")
    year: Mapped[int] = mapped_column(Integer, default=0)
    ref_id: Mapped[str] = mapped_column(Text, default="")
    normal_side: Mapped[str] = mapped_column(Text)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    last_booked_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LedgerEntry(Base):
    """One transfer: debit the receiving account, credit the giving one. Never updated or
    deleted (a trigger refuses it); corrections are reversing entries."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
        Index("ix_ledger_entries_project_id", "project_id"),
        # The sparse references are indexed only where present (migration 0008).
        Index(
            "ix_ledger_entries_household_id",
            "household_id",
            postgresql_where=text("household_id IS NOT NULL"),
        ),
        Index("ix_ledger_entries_loan_id", "loan_id", postgresql_where=text("loan_id IS NOT NULL")),
        Index(
            "ix_ledger_entries_allocation_id",
            "allocation_id",
            postgresql_where=text("allocation_id IS NOT NULL"),
        ),
        Index(
            "uq_ledger_entries_reverses",
            "reverses_entry_id",
            unique=True,
            postgresql_where=text("reverses_entry_id IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    booked_on: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # No foreign keys to accounts: a key-share lock on the hot account row per posting, taken by
    # the check, meets the balance update at commit (migration 0006). ``ledger_post`` refuses
    # unknown accounts and accounts cannot be deleted.
    debit_account_id: Mapped[int] = mapped_column(BigInteger)
    credit_account_id: Mapped[int] = mapped_column(BigInteger)
    debit_region: Mapped[str] = mapped_column(Text)
    credit_region: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="")
    year: Mapped[int] = mapped_column(Integer, default=0)
    project_id: Mapped[str | None] = mapped_column(Text)
    household_id: Mapped[str | None] = mapped_column(Text)
    loan_id: Mapped[str | None] = mapped_column(Text)
    allocation_id: Mapped[str | None] = mapped_column(Text)
    reverses_entry_id: Mapped[str | None] = mapped_column(Text)
    memo: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LedgerPosting(Base):
    """The two legs of an entry; balances as of a date are sums of postings."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("side IN ('debit', 'credit')", name="side"),
        Index("ix_ledger_postings_account", "account_id", "booked_on"),
        Index("ix_ledger_postings_entry_id", "entry_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(Text, ForeignKey("ledger_entries.id"))
    account_id: Mapped[int] = mapped_column(BigInteger)  # see LedgerEntry: no foreign key
    side: Mapped[str] = mapped_column(Text)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    booked_on: Mapped[date] = mapped_column(Date)


class LedgerSettlement(Base):
    """A posting's settlement (balance deltas, audit record): a trigger (migration 0006) applies
    it at the end of the posting statement, or at COMMIT when ``settle_at_commit``, then deletes
    the row, so the table stays empty."""

    __tablename__ = "ledger_settlements"

    entry_id: Mapped[str] = mapped_column(Text, primary_key=True)
    accounts: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    deltas: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    booked_on: Mapped[date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    occurred_text: Mapped[str] = mapped_column(Text)
    amount_pointer: Mapped[str] = mapped_column(Text)
    date_pointer: Mapped[str] = mapped_column(Text)
    settle_at_commit: Mapped[bool] = mapped_column(Boolean)
