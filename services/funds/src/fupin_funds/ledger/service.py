"""Transfers between accounts: prepare (entry and postings, uncontended) then post (the
conditional balance updates and the audit record, one round trip, last before commit)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.envelope import EventData, new_event
from fupin_events.values import from_fen
from fupin_funds.common.vocabulary import CREDIT_NORMAL, AccountKind, EntryKind
from fupin_funds.ledger.exceptions import BackdatedPosting, InsufficientFunds
from fupin_funds.ledger.models import LedgerEntry
from fupin_funds.ledger.repository import AccountKey, AccountRef, LedgerRepository
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
    entry_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    events: list[dict[str, Any]] = field(default_factory=list)

    def deltas(self) -> list[tuple[int, int]]:
        def delta(account: AccountRef, side: str) -> int:
            return self.amount_fen if account.normal_side == side else -self.amount_fen

        return [
            (self.to_account.id, delta(self.to_account, "debit")),
            (self.from_account.id, delta(self.from_account, "credit")),
        ]

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
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repository = LedgerRepository(session)

    async def account(self, key: AccountKey) -> AccountRef:
        return await self.repository.get_or_create(key, normal_side(key.kind))

    async def existing(self, key: AccountKey) -> AccountRef | None:
        return await self.repository.find(key)

    def stage(
        self, transfer: Transfer, events: list[tuple[EventData, str]] | None = None
    ) -> Transfer:
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
    ) -> None:
        """Write the entry, its postings and events, and move the balances, in one statement.
        Decreases are conditional, so no balance ever goes below zero; callers make this the last
        statement before commit so the contended row and audit locks are held only that long."""
        to_, from_ = transfer.to_account, transfer.from_account
        refused = await self.repository.post(
            {
                "id": transfer.entry_id,
                "kind": str(transfer.kind),
                "booked_on": transfer.booked_on,
                "amount": transfer.amount_fen,
                "debit": to_.id,
                "credit": from_.id,
                "debit_region": to_.region_code,
                "credit_region": from_.region_code,
                "source": transfer.source or to_.source or from_.source,
                "year": transfer.year or to_.year or from_.year,
                "project_id": transfer.project_id,
                "household_id": transfer.household_id,
                "loan_id": transfer.loan_id,
                "allocation_id": transfer.allocation_id,
                "reverses": transfer.reverses_entry_id,
                "memo": transfer.memo,
                "actor": transfer.actor,
            },
            transfer.events,
            transfer.deltas(),
            f"ledger.{transfer.kind}",
            transfer.audit_details(),
        )
        if refused is None:
            return
        reason, _, account_id = refused.partition(":")
        if reason == "backdated":
            raise BackdatedPosting(int(account_id), date_pointer)
        raise InsufficientFunds(int(account_id), amount_pointer)

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
