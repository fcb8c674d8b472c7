"""Transfers between accounts: prepare (accounts, checks) then post (entry, postings, events and
settlement in one statement; the balances and the audit record settle at commit)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.envelope import EventData, new_event
from fupin_events.ids import uuid4_text
from fupin_events.values import from_fen
from fupin_funds.common.vocabulary import CREDIT_NORMAL, AccountKind, EntryKind
from fupin_funds.ledger.models import LedgerEntry
from fupin_funds.ledger.refusals import ledger_refusal
from fupin_funds.ledger.repository import AccountKey, AccountRef, LedgerRepository
from fupin_kit.audit import canonical
from fupin_kit.outbox import outbox_row


def normal_side(kind: str) -> str:
    return "credit" if kind in CREDIT_NORMAL else "debit"


def fund_pool(region_code: str, source: str, year: int) -> AccountKey:
    return AccountKey(AccountKind.FUND_POOL, region_code, source, year)


def appropriation(region_code: str, source: str, year: int) -> AccountKey:
    return AccountKey(AccountKind.APPROPRIATION, region_code, source, year)


def county_account(kind: AccountKind, region_code: str) -> AccountKey:
    return AccountKey(kind, region_code[:6])


@dataclass
class Transfer:
    kind: EntryKind
    to_account: AccountRef  # debited: receives the money
    from_account: AccountRef  # credited: gives the money
    amount_fen: int
    booked_on: date
    actor: str
    project_id: str | None = None
    household_id: str | None = None
    loan_id: str | None = None
    allocation_id: str | None = None
    reverses_entry_id: str | None = None
    memo: str | None = None
    source: str | None = (
        None  # the fund source the entry is reported under (default: the accounts')
    )
    year: int | None = None  # its budget year (default: the accounts')
    entry_id: str = field(default_factory=uuid4_text)
    events: list[dict[str, Any]] = field(default_factory=list)

    def deltas(self) -> list[tuple[int, int]]:
        def delta(account: AccountRef, side: str) -> int:
            return self.amount_fen if account.normal_side == side else -self.amount_fen

        return [
            (self.to_account.id, delta(self.to_account, "debit")),
            (self.from_account.id, delta(self.from_account, "credit")),
        ]

    def entry_values(self) -> tuple[Any, ...]:
        """The ``ledger_entries`` row, in the order the posting statements take it (id, kind,
        booked on, amount, debit and credit accounts and regions, source, year, project,
        household, loan, allocation, reversed entry, memo, actor)."""
        to_, from_ = self.to_account, self.from_account
        return (
            self.entry_id,
            str(self.kind),
            self.booked_on,
            self.amount_fen,
            to_.id,
            from_.id,
            to_.region_code,
            from_.region_code,
            self.source or to_.source or from_.source,
            self.year or to_.year or from_.year,
            self.project_id,
            self.household_id,
            self.loan_id,
            self.allocation_id,
            self.reverses_entry_id,
            self.memo,
            self.actor,
        )

    def audit_values(self) -> tuple[str, str, str, datetime, str]:
        """The audit record's action, details (canonical JSON), digest and time (and its text,
        which the chain hashes)."""
        details = canonical(self.audit_details())
        occurred = datetime.now(UTC)
        return (
            f"ledger.{self.kind}",
            details,
            hashlib.sha256(details.encode()).hexdigest(),
            occurred,
            occurred.isoformat(),
        )

    def audit_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "kind": str(self.kind),
            "amount": str(from_fen(self.amount_fen)),
            "from_account": self.from_account.id,
            "to_account": self.to_account.id,
            "booked_on": self.booked_on.isoformat(),
        }
        for name in ("project_id", "household_id", "loan_id", "allocation_id", "reverses_entry_id"):
            value = getattr(self, name)
            if value is not None:
                details[name] = value
        return details


class Ledger:
    def __init__(self, session: AsyncSession, repository: LedgerRepository | None = None) -> None:
        self.session = session
        self.repository = repository or LedgerRepository(session)

    async def account(self, key: AccountKey) -> AccountRef:
        return await self.repository.get_or_create(key, normal_side(key.kind))

    async def existing(self, key: AccountKey) -> AccountRef | None:
        return await self.repository.find(key)

    @staticmethod
    def stage(transfer: Transfer, events: list[tuple[EventData, str]] | None = None) -> Transfer:
        """Attach the events that will be written with the entry (nothing touches the database)."""
        transfer.events = [
            outbox_row(new_event(data, subject=subject)) for data, subject in events or []
        ]
        return transfer

    async def post(
        self,
        transfer: Transfer,
        amount_pointer: str = "#/body/amount",
        date_pointer: str = "#/body/on",
        settle_at_commit: bool = False,
    ) -> None:
        """Write the entry, its postings, events and settlement in one statement; the settlement
        moves the balances (decreases conditional, so no balance ever goes below zero) and
        appends the audit record. It runs within this statement, or with ``settle_at_commit``
        (commands that read no balance afterwards) when the transaction commits, so the
        contended row and audit locks are held only while the commit runs. A refusal raises
        InsufficientFunds / BackdatedPosting, here or from the commit (see ``refusals``)."""
        try:
            await self.repository.post(
                transfer.entry_values(),
                transfer.events,
                transfer.deltas(),
                transfer.audit_values(),
                pointers=(amount_pointer, date_pointer),
                settle_at_commit=settle_at_commit,
            )
        except asyncpg.CheckViolationError as exc:
            refusal = ledger_refusal(exc)
            if refusal is None:
                raise
            raise refusal from exc

    async def transfer(
        self,
        transfer: Transfer,
        amount_pointer: str = "#/body/amount",
        events: list[tuple[EventData, str]] | None = None,
    ) -> Transfer:
        self.stage(transfer, events)
        await self.post(transfer, amount_pointer)
        return transfer

    async def reverse(
        self, original: LedgerEntry, booked_on: date, actor: str, reason: str
    ) -> Transfer:
        to_account = await self.repository.by_id(original.credit_account_id)
        from_account = await self.repository.by_id(original.debit_account_id)
        assert to_account is not None and from_account is not None
        return await self.transfer(
            Transfer(
                kind=EntryKind.REVERSAL,
                to_account=to_account,
                from_account=from_account,
                amount_fen=original.amount_fen,
                booked_on=booked_on,
                actor=actor,
                project_id=original.project_id,
                household_id=original.household_id,
                loan_id=original.loan_id,
                allocation_id=original.allocation_id,
                reverses_entry_id=original.id,
                memo=reason,
                source=original.source or None,
                year=original.year or None,
            )
        )
