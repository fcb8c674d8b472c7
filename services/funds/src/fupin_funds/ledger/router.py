from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fupin_events import funds as events
from fupin_events.values import Day
from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import business_date
from fupin_funds.common.exports import EXPORT_RESPONSES, ExportFormat, render
from fupin_funds.common.money import from_fen
from fupin_funds.common.vocabulary import AccountKind, EntryKind, FundSource
from fupin_funds.ledger.dependencies import AccountDep, EntryDep
from fupin_funds.ledger.models import Account, LedgerEntry
from fupin_funds.ledger.repository import AccountRef, LedgerRepository
from fupin_funds.ledger.schemas import (
    AccountRead,
    EntryRead,
    ReversalCreate,
    Statement,
    StatementLine,
    TrialBalance,
)
from fupin_funds.ledger.service import Ledger
from fupin_funds.loans.service import LOAN_PAYMENTS, undo_loan_payment
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.outbox import add_event
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import Conflict, Unprocessable, problem_responses

router = APIRouter(tags=["ledger"])

REVERSIBLE = frozenset(
    {
        EntryKind.APPROPRIATION,
        EntryKind.DONATION,
        EntryKind.PROJECT_FUNDING,
        EntryKind.PROJECT_PAYMENT,
        EntryKind.HOUSEHOLD_PAYMENT,
        EntryKind.DIRECT_SUBSIDY,
        EntryKind.RISK_DEPOSIT,
    }
)


def account_read(
    account: AccountRef, as_of: Day | None = None, balance_as_of: int | None = None
) -> AccountRead:
    return AccountRead(
        id=account.id,
        kind=account.kind,
        region_code=account.region_code,
        source=account.source,
        year=account.year,
        ref_id=account.ref_id,
        normal_side=account.normal_side,
        balance=from_fen(account.balance_fen),
        as_of=as_of,
        balance_as_of=None if balance_as_of is None else from_fen(balance_as_of),
    )


def entry_read(entry: LedgerEntry, reversed_by: str | None = None) -> EntryRead:
    return EntryRead(
        id=entry.id,
        kind=entry.kind,
        booked_on=entry.booked_on,
        amount=from_fen(entry.amount_fen),
        debit_account_id=entry.debit_account_id,
        credit_account_id=entry.credit_account_id,
        debit_region=entry.debit_region,
        credit_region=entry.credit_region,
        source=entry.source,
        year=entry.year,
        project_id=entry.project_id,
        household_id=entry.household_id,
        loan_id=entry.loan_id,
        allocation_id=entry.allocation_id,
        reverses_entry_id=entry.reverses_entry_id,
        reversed_by=reversed_by,
        memo=entry.memo,
        actor=entry.actor,
    )


@router.get("/v1/accounts", summary="Ledger accounts in the caller's jurisdiction")
async def list_accounts(
    session: SessionDep,
    caller: CallerDep,
    kind: Annotated[AccountKind | None, Query()] = None,
    region_code: Annotated[str | None, Query(pattern=r"^[0-9]{2,12}$")] = None,
    source: Annotated[FundSource | None, Query()] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AccountRead]:
    after = decode_cursor(cursor, 1, (int,))
    filters = {
        "kind": None if kind is None else kind.value,
        "region_code": region_code,
        "source": None if source is None else source.value,
        "year": year,
    }
    rows = await LedgerRepository(session).list_accounts(
        caller.region_filter(Account.region_code), filters, after[0] if after else None, limit
    )
    return Page(
        items=[account_read(a) for a in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )


@router.get(
    "/v1/accounts/{account_id}",
    responses=problem_responses(401, 404),
    summary="Balance, also as of a date",
)
async def read_account(
    account: AccountDep, session: SessionDep, as_of: Annotated[Day | None, Query()] = None
) -> AccountRead:
    if as_of is None:
        return account_read(account)
    return account_read(
        account, as_of, await LedgerRepository(session).balance_as_of(account, as_of)
    )


@router.get(
    "/v1/accounts/{account_id}/statement",
    responses={**problem_responses(401, 404, 422), **EXPORT_RESPONSES},
    summary="Ledger statement (json, .xlsx or .csv)",
)
async def account_statement(
    account: AccountDep,
    request: Request,
    session: SessionDep,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    format: Annotated[ExportFormat | None, Query()] = None,
) -> Statement:
    if start is not None and end is not None and end < start:
        raise Unprocessable("#/query/to", "dates out of order: 'to' is before 'from'")
    repository = LedgerRepository(session)
    opening = await repository.opening_balance(account, start)
    running = opening
    lines = []
    most = request.app.state.settings.export_max_rows
    rows = await repository.statement(account, start, end, most + 1)
    if len(rows) > most:
        # A cut statement would close on a wrong balance: ask for a shorter period instead.
        raise Unprocessable(
            "#/query/to", f"the period holds more than {most} entries; ask for a shorter one"
        )
    for row in rows:
        running += row.signed
        counter = row.credit_account_id if row.side == "debit" else row.debit_account_id
        lines.append(
            StatementLine(
                entry_id=row.id,
                booked_on=row.booked_on,
                kind=row.kind,
                side=row.side,
                amount=from_fen(row.amount_fen),
                running_balance=from_fen(running),
                counter_account_id=counter,
                project_id=row.project_id,
                household_id=row.household_id,
                loan_id=row.loan_id,
                reverses_entry_id=row.reverses_entry_id,
                memo=row.memo,
            )
        )
    statement = Statement(
        account=account_read(account),
        opening_balance=from_fen(opening),
        closing_balance=from_fen(running),
        lines=lines,
    )
    if format is None:
        return statement
    header = [
        "entry_id",
        "booked_on",
        "kind",
        "side",
        "amount",
        "running_balance",
        "counter_account_id",
        "project_id",
        "household_id",
        "loan_id",
        "reverses_entry_id",
        "memo",
    ]
    rows = [[getattr(line, name) for name in header] for line in lines]
    return render(rows, header, format, f"statement-{account.id}", "statement")  # type: ignore[return-value]


@router.get(
    "/v1/entries/{entry_id}", responses=problem_responses(401, 404), summary="A ledger entry"
)
async def read_entry(entry: EntryDep, session: SessionDep) -> EntryRead:
    reversal = await LedgerRepository(session).reversal_of(entry.id)
    return entry_read(entry, None if reversal is None else reversal.id)


@router.post(
    "/v1/entries/{entry_id}/reversal",
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Correct an entry by a reversing entry (entries are never changed or deleted)",
)
async def reverse_entry(
    entry: EntryDep,
    body: ReversalCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> EntryRead:
    async def command() -> EntryRead:
        caller.require_region_write(entry.debit_region)
        caller.require_region_write(entry.credit_region)
        if entry.kind not in REVERSIBLE and entry.kind not in LOAN_PAYMENTS:
            raise Conflict(
                f"{entry.kind} entries are corrected through their own workflow, not reversed"
            )
        repository = LedgerRepository(session)
        if await repository.reversal_of(entry.id) is not None:
            raise Conflict("this entry is already reversed")
        on = business_date(body.on, request.app.state.settings)
        if entry.kind in LOAN_PAYMENTS:
            await undo_loan_payment(session, caller, entry, on)
        reversal = await Ledger(session).reverse(entry, on, caller.actor, body.reason)
        await add_event(
            session,
            events.Reversed(
                entry_id=reversal.entry_id,
                reverses_entry_id=entry.id,
                amount=from_fen(entry.amount_fen),
                reason=body.reason,
                region_code=entry.debit_region,
            ),
            subject=str(reversal.from_account.id),
        )
        created = await repository.entry(reversal.entry_id)
        assert created is not None
        return entry_read(created)

    return await run_idempotent(  # type: ignore[return-value]
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint([entry.id, body], caller),
        command=command,
    )


@router.get(
    "/v1/ledger/trial-balance", summary="Debits equal credits; stored balances equal their postings"
)
async def trial_balance(session: SessionDep, caller: CallerDep) -> TrialBalance:
    repository = LedgerRepository(session)
    debits, credits, entries = await repository.totals(caller.jurisdiction)
    mismatched = await repository.mismatched_accounts(caller.jurisdiction)
    return TrialBalance(
        jurisdiction=caller.jurisdiction,
        entries=entries,
        debits=from_fen(debits),
        credits=from_fen(credits),
        balanced=debits == credits and not mismatched,
        mismatched_accounts=[
            {"account_id": a, "stored": str(from_fen(s)), "postings": str(from_fen(p))}
            for a, s, p in mismatched
        ],
    )
