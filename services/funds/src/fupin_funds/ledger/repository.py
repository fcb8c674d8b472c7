"""SQL of the ledger. The contended part of a posting (balance updates and the audit record) is
one round trip to the ``ledger_post`` function (migration 0003), the last statement before
commit, so that row and audit-chain locks are held as briefly as possible."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.ledger.models import Account, LedgerEntry, LedgerPosting
from fupin_kit.audit import canonical


@dataclass(frozen=True)
class AccountKey:
    kind: str
    region_code: str
    source: str = ""
    year: int = 0
    ref_id: str = ""


@dataclass(frozen=True)
class AccountRef:
    id: int
    kind: str
    region_code: str
    source: str
    year: int
    ref_id: str
    normal_side: str
    balance_fen: int


_ACCOUNT_COLUMNS = (
    Account.id, Account.kind, Account.region_code, Account.source, Account.year, Account.ref_id,
    Account.normal_side, Account.balance_fen,
)

_INSERT_ENTRY = text(
    "WITH entry AS ("
    " INSERT INTO ledger_entries (id, kind, booked_on, amount_fen, debit_account_id, credit_account_id,"
    " debit_region, credit_region, source, year, project_id, household_id, loan_id, allocation_id,"
    " reverses_entry_id, memo, actor)"
    " VALUES (:id, :kind, :booked_on, :amount, :debit, :credit, :debit_region, :credit_region, :source,"
    " :year, :project_id, :household_id, :loan_id, :allocation_id, :reverses, :memo, :actor)"
    " RETURNING id)"
    " INSERT INTO ledger_postings (entry_id, account_id, side, amount_fen, booked_on)"
    " SELECT entry.id, leg.account_id, leg.side, :amount, :booked_on FROM entry,"
    " (VALUES (CAST(:debit AS bigint), 'debit'), (CAST(:credit AS bigint), 'credit')) AS leg(account_id, side)"
)

_POST = text(
    "SELECT ledger_post(CAST(:accounts AS bigint[]), CAST(:deltas AS bigint[]), :on, :actor, :action,"
    " :object_type, :object_id, :details, :digest, :occurred, :occurred_text)"
)


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, key: AccountKey) -> AccountRef | None:
        row = (
            await self.session.execute(
                select(*_ACCOUNT_COLUMNS).where(
                    Account.kind == key.kind,
                    Account.region_code == key.region_code,
                    Account.source == key.source,
                    Account.year == key.year,
                    Account.ref_id == key.ref_id,
                )
            )
        ).first()
        return None if row is None else AccountRef(*row)

    async def get_or_create(self, key: AccountKey, normal_side: str) -> AccountRef:
        # Look first: an INSERT ... ON CONFLICT on a hot account would wait behind its row lock.
        found = await self.find(key)
        if found is not None:
            return found
        await self.session.execute(
            insert(Account)
            .values(
                kind=key.kind, region_code=key.region_code, source=key.source, year=key.year,
                ref_id=key.ref_id, normal_side=normal_side, balance_fen=0,
            )
            .on_conflict_do_nothing()
        )
        created = await self.find(key)
        assert created is not None
        return created

    async def by_id(self, account_id: int) -> AccountRef | None:
        row = (await self.session.execute(select(*_ACCOUNT_COLUMNS).where(Account.id == account_id))).first()
        return None if row is None else AccountRef(*row)

    async def insert_entry(self, values: dict[str, Any]) -> None:
        await self.session.execute(_INSERT_ENTRY, values)

    async def post(
        self, deltas: list[tuple[int, int]], on: date, actor: str, action: str, object_id: str, details: dict[str, Any]
    ) -> str | None:
        """Apply balance deltas (accounts in id order, decreases conditional) and append the audit
        record. Returns None on success, else ``insufficient:<id>`` or ``backdated:<id>``."""
        ordered = sorted(deltas)
        body = canonical(details)
        occurred = datetime.now(UTC)
        return await self.session.scalar(
            _POST,
            {
                "accounts": [a for a, _ in ordered],
                "deltas": [d for _, d in ordered],
                "on": on,
                "actor": actor,
                "action": action,
                "object_type": "ledger_entry",
                "object_id": object_id,
                "details": body,
                "digest": hashlib.sha256(body.encode()).hexdigest(),
                "occurred": occurred,
                "occurred_text": occurred.isoformat(),
            },
        )

    async def entry(self, entry_id: str) -> LedgerEntry | None:
        return await self.session.get(LedgerEntry, entry_id)

    async def reversal_of(self, entry_id: str) -> LedgerEntry | None:
        return (
            await self.session.execute(select(LedgerEntry).where(LedgerEntry.reverses_entry_id == entry_id))
        ).scalar()

    def _signed(self, normal_side: str) -> Any:
        return case((LedgerPosting.side == normal_side, LedgerPosting.amount_fen), else_=-LedgerPosting.amount_fen)

    async def balance_as_of(self, account: AccountRef, day: date) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(self._signed(account.normal_side)), 0)).where(
                LedgerPosting.account_id == account.id, LedgerPosting.booked_on <= day
            )
        )
        return int(total or 0)

    async def list_accounts(self, jurisdiction_filter: Any, filters: dict[str, Any], after: int | None, limit: int) -> list[AccountRef]:
        statement = select(*_ACCOUNT_COLUMNS).where(jurisdiction_filter)
        for name, value in filters.items():
            if value is not None:
                statement = statement.where(getattr(Account, name) == value)
        if after is not None:
            statement = statement.where(Account.id > after)
        rows = await self.session.execute(statement.order_by(Account.id).limit(limit))
        return [AccountRef(*row) for row in rows]

    async def statement(self, account: AccountRef, start: date | None, end: date | None, limit: int) -> list[Any]:
        conditions = [LedgerPosting.account_id == account.id]
        if start is not None:
            conditions.append(LedgerPosting.booked_on >= start)
        if end is not None:
            conditions.append(LedgerPosting.booked_on <= end)
        rows = await self.session.execute(
            select(
                LedgerEntry.id, LedgerEntry.booked_on, LedgerEntry.kind, LedgerPosting.side,
                LedgerPosting.amount_fen, self._signed(account.normal_side).label("signed"),
                LedgerEntry.debit_account_id, LedgerEntry.credit_account_id, LedgerEntry.project_id,
                LedgerEntry.household_id, LedgerEntry.loan_id, LedgerEntry.reverses_entry_id, LedgerEntry.memo,
            )
            .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
            .where(and_(*conditions))
            .order_by(LedgerPosting.booked_on, LedgerPosting.id)
            .limit(limit)
        )
        return list(rows)

    async def opening_balance(self, account: AccountRef, start: date | None) -> int:
        if start is None:
            return 0
        total = await self.session.scalar(
            select(func.coalesce(func.sum(self._signed(account.normal_side)), 0)).where(
                LedgerPosting.account_id == account.id, LedgerPosting.booked_on < start
            )
        )
        return int(total or 0)

    async def totals(self, jurisdiction: str) -> tuple[int, int, int]:
        """Sum of debit postings, sum of credit postings and entry count (in a jurisdiction)."""
        visible = or_(
            LedgerEntry.debit_region.startswith(jurisdiction, autoescape=True),
            LedgerEntry.credit_region.startswith(jurisdiction, autoescape=True),
        )
        row = (
            await self.session.execute(
                select(
                    func.coalesce(func.sum(case((LedgerPosting.side == "debit", LedgerPosting.amount_fen), else_=0)), 0),
                    func.coalesce(func.sum(case((LedgerPosting.side == "credit", LedgerPosting.amount_fen), else_=0)), 0),
                    func.count(func.distinct(LedgerPosting.entry_id)),
                )
                .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
                .where(visible)
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    async def mismatched_accounts(self, jurisdiction: str) -> list[tuple[int, int, int]]:
        """Accounts whose stored balance differs from the sum of their postings."""
        computed = (
            select(
                LedgerPosting.account_id.label("account_id"),
                func.sum(
                    case((LedgerPosting.side == Account.normal_side, LedgerPosting.amount_fen), else_=-LedgerPosting.amount_fen)
                ).label("total"),
            )
            .join(Account, Account.id == LedgerPosting.account_id)
            .group_by(LedgerPosting.account_id)
            .subquery()
        )
        rows = await self.session.execute(
            select(Account.id, Account.balance_fen, func.coalesce(computed.c.total, 0))
            .outerjoin(computed, computed.c.account_id == Account.id)
            .where(
                Account.region_code.startswith(jurisdiction, autoescape=True),
                Account.balance_fen != func.coalesce(computed.c.total, 0),
            )
        )
        return [(int(a), int(b), int(c)) for a, b, c in rows]
