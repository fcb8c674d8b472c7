"""SQL of the ledger. A posting is one statement: entry, postings, events and the settlement that
moves the balances and appends the audit record (``ledger_post``, migrations 0003 and 0006),
settled by that statement or at commit, so row and audit-chain locks are held as briefly as
possible. Project payments post in batches (``post_batch``, migrations 0007 and 0011).

The posting statement runs as an asyncpg prepared statement on the connection of the request's
own transaction (``driver``): same transaction, a fraction of the client-side cost of building
SQLAlchemy statements per request (see bench/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.ledger.models import Account, LedgerEntry, LedgerPosting


@dataclass(frozen=True)
class IdempotentWrite:
    """The idempotency record a batched posting reserves in its own statement (kit table
    ``idempotency_keys``), with the response a retry with the same key replays."""

    caller: str
    key: str
    request_hash: str
    response: str  # JSON text

    def parameters(self) -> tuple[str, str, str, str]:
        return (self.caller, self.key, self.request_hash, self.response)


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
    Account.id,
    Account.kind,
    Account.region_code,
    Account.source,
    Account.year,
    Account.ref_id,
    Account.normal_side,
    Account.balance_fen,
)

# One statement per posting: the entry, its two postings, its outbox events and its settlement
# (the balance deltas and audit record, applied by a trigger at the end of the statement or, with
# $32, when the transaction commits: migration 0006).
_POST = (
    "WITH entry AS ("
    " INSERT INTO ledger_entries (id, kind, booked_on, amount_fen, debit_account_id, "
    "credit_account_id,"
    " debit_region, credit_region, source, year, project_id, household_id, loan_id, allocation_id,"
    " reverses_entry_id, memo, actor)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    " RETURNING id),"
    " postings AS (INSERT INTO ledger_postings (entry_id, account_id, side, amount_fen, booked_on)"
    " SELECT entry.id, leg.account_id, leg.side, $4, $3 FROM entry,"
    " (VALUES ($5::bigint, 'debit'), ($6::bigint, 'credit')) AS leg(account_id, side)),"
    " events AS (INSERT INTO outbox (event_id, topic, key, event_type, payload)"
    " SELECT e.event_id, e.topic, e.key, e.event_type, e.payload::jsonb FROM entry,"
    " unnest($18::text[], $19::text[], $20::text[], $21::text[], $22::text[])"
    " AS e(event_id, topic, key, event_type, payload))"
    " INSERT INTO ledger_settlements (entry_id, accounts, deltas, booked_on, actor,"
    " action, details, digest, occurred_at, occurred_text, amount_pointer, date_pointer,"
    " settle_at_commit)"
    " SELECT entry.id, $23::bigint[], $24::bigint[], $3, $17, $25, $26, $27, $28, $29, $30, $31,"
    " $32"
    " FROM entry"
)
# Many transfers in one statement that commits by itself (migrations 0007, 0011), one answer per
# transfer (NULL: posted). The transfers travel as ONE JSON array of rows that PostgreSQL unpacks
# into the function's column arrays: encoding 33 typed arrays element by element cost the API
# process five times the CPU of encoding the same rows as JSON. Each row is an array of the
# columns below, in this order (the function's parameter order).
_BATCH_COLUMNS = (
    ("caller", "text"),
    ("key", "text"),
    ("request_hash", "text"),
    ("response", "text"),
    ("id", "text"),
    ("kind", "text"),
    ("booked_on", "date"),
    ("amount", "bigint"),
    ("debit", "bigint"),
    ("credit", "bigint"),
    ("debit_region", "text"),
    ("credit_region", "text"),
    ("source", "text"),
    ("year", "integer"),
    ("project", "text"),
    ("household", "text"),
    ("loan", "text"),
    ("allocation", "text"),
    ("reverses", "text"),
    ("memo", "text"),
    ("actor", "text"),
    ("debit_delta", "bigint"),
    ("credit_delta", "bigint"),
    ("event_id", "text"),
    ("topic", "text"),
    ("event_key", "text"),
    ("event_type", "text"),
    ("payload", "text"),  # an object; ->> gives its JSON text
    ("action", "text"),
    ("details", "text"),
    ("digest", "text"),
    ("occurred", "timestamptz"),
    ("occurred_text", "text"),
)
_BATCH_ARRAYS = ", ".join(
    f"coalesce(array_agg((r.item->>{at})::{kind} ORDER BY r.at), '{{}}')"
    for at, (_, kind) in enumerate(_BATCH_COLUMNS)
)
_POST_BATCH = (
    f"SELECT ledger_post_batch({_BATCH_ARRAYS})"  # noqa: S608 (constants only)
    " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS r(item, at)"
)
_FIND_ACCOUNT = (
    "SELECT id, kind, region_code, source, year, ref_id, normal_side, balance_fen FROM accounts"
    " WHERE kind = $1 AND region_code = $2 AND source = $3 AND year = $4 AND ref_id = $5"
)


async def post_batch(connection: Any, rows: str) -> list[str | None]:
    """``ledger_post_batch`` on a plain asyncpg connection (``fupin_kit.db.DriverConnections``),
    outside any transaction. ``rows`` is a JSON array of rows, each an array of the values of
    ``_BATCH_COLUMNS`` in order. Each transfer's answer: None (posted), ``used``,
    ``insufficient:<account>`` or ``backdated:<account>``."""
    answers: list[str | None] = await connection.fetchval(_POST_BATCH, rows)
    return answers


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def driver(self) -> Any:
        """The asyncpg connection carrying this session's transaction."""
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def find(self, key: AccountKey) -> AccountRef | None:
        row = await (await self.driver()).fetchrow(
            _FIND_ACCOUNT, str(key.kind), key.region_code, key.source, key.year, key.ref_id
        )
        return None if row is None else AccountRef(*row)

    async def get_or_create(self, key: AccountKey, normal_side: str) -> AccountRef:
        # Look first: an INSERT ... ON CONFLICT on a hot account would wait behind its row lock.
        found = await self.find(key)
        if found is not None:
            return found
        await self.session.execute(
            insert(Account)
            .values(
                kind=key.kind,
                region_code=key.region_code,
                source=key.source,
                year=key.year,
                ref_id=key.ref_id,
                normal_side=normal_side,
                balance_fen=0,
            )
            .on_conflict_do_nothing()
        )
        created = await self.find(key)
        assert created is not None
        return created

    async def by_id(self, account_id: int) -> AccountRef | None:
        row = (
            await self.session.execute(select(*_ACCOUNT_COLUMNS).where(Account.id == account_id))
        ).first()
        return None if row is None else AccountRef(*row)

    async def post(
        self,
        entry: tuple[Any, ...],
        events: list[dict[str, Any]],
        deltas: list[tuple[int, int]],
        audit: tuple[str, str, str, datetime, str],
        *,
        pointers: tuple[str, str] = ("#/body/amount", "#/body/on"),
        settle_at_commit: bool = False,
    ) -> None:
        """Write the entry (``Transfer.entry_values``) with its postings, events and settlement
        (balance deltas, accounts in id order, decreases conditional; the audit record,
        ``Transfer.audit_values``) in one round trip. The settlement is applied by this
        statement, or by the commit with ``settle_at_commit``, and fails with
        ``ledger_sufficient_funds`` or ``ledger_booking_order`` if a balance would go negative
        or a date is out of order (``pointers``: the request fields those refusals blame)."""
        ordered = sorted(deltas)
        columns = [
            [str(e[name]) for e in events] for name in ("event_id", "topic", "key", "event_type")
        ]
        payloads = [to_json(e["payload"]).decode() for e in events]
        await (await self.driver()).execute(
            _POST,
            *entry,
            *columns,
            payloads,
            [a for a, _ in ordered],
            [d for _, d in ordered],
            *audit,
            *pointers,
            settle_at_commit,
        )

    async def entry(self, entry_id: str) -> LedgerEntry | None:
        return await self.session.get(LedgerEntry, entry_id)

    async def reversal_of(self, entry_id: str) -> LedgerEntry | None:
        return (
            await self.session.execute(
                select(LedgerEntry).where(LedgerEntry.reverses_entry_id == entry_id)
            )
        ).scalar()

    def _signed(self, normal_side: str) -> Any:
        return case(
            (LedgerPosting.side == normal_side, LedgerPosting.amount_fen),
            else_=-LedgerPosting.amount_fen,
        )

    async def balance_as_of(self, account: AccountRef, day: date) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(self._signed(account.normal_side)), 0)).where(
                LedgerPosting.account_id == account.id, LedgerPosting.booked_on <= day
            )
        )
        return int(total or 0)

    async def list_accounts(
        self, jurisdiction_filter: Any, filters: dict[str, Any], after: int | None, limit: int
    ) -> list[AccountRef]:
        statement = select(*_ACCOUNT_COLUMNS).where(jurisdiction_filter)
        for name, value in filters.items():
            if value is not None:
                statement = statement.where(getattr(Account, name) == value)
        if after is not None:
            statement = statement.where(Account.id > after)
        rows = await self.session.execute(statement.order_by(Account.id).limit(limit))
        return [AccountRef(*row) for row in rows]

    async def statement(
        self, account: AccountRef, start: date | None, end: date | None, limit: int
    ) -> list[Any]:
        conditions = [LedgerPosting.account_id == account.id]
        if start is not None:
            conditions.append(LedgerPosting.booked_on >= start)
        if end is not None:
            conditions.append(LedgerPosting.booked_on <= end)
        rows = await self.session.execute(
            select(
                LedgerEntry.id,
                LedgerEntry.booked_on,
                LedgerEntry.kind,
                LedgerPosting.side,
                LedgerPosting.amount_fen,
                self._signed(account.normal_side).label("signed"),
                LedgerEntry.debit_account_id,
                LedgerEntry.credit_account_id,
                LedgerEntry.project_id,
                LedgerEntry.household_id,
                LedgerEntry.loan_id,
                LedgerEntry.reverses_entry_id,
                LedgerEntry.memo,
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
                    func.coalesce(
                        func.sum(
                            case((LedgerPosting.side == "debit", LedgerPosting.amount_fen), else_=0)
                        ),
                        0,
                    ),
                    func.coalesce(
                        func.sum(
                            case(
                                (LedgerPosting.side == "credit", LedgerPosting.amount_fen), else_=0
                            )
                        ),
                        0,
                    ),
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
                    case(
                        (LedgerPosting.side == Account.normal_side, LedgerPosting.amount_fen),
                        else_=-LedgerPosting.amount_fen,
                    )
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
