"""The ledger against real PostgreSQL: immutable entries, the CHECK guard, the conditional
update, as-of balances, the audit chain written by ledger_post."""

import dataclasses
from datetime import date

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fupin_funds.common.vocabulary import AccountKind, EntryKind
from fupin_funds.ledger.exceptions import BackdatedPosting, InsufficientFunds
from fupin_funds.ledger.repository import AccountKey, LedgerRepository
from fupin_funds.ledger.service import Ledger, Transfer, appropriation, fund_pool
from fupin_kit.audit import audit_keys, verify_chain


async def _inflow(ledger: Ledger, amount: int, on: date = date(2024, 1, 1)) -> Transfer:
    return await ledger.transfer(
        Transfer(
            kind=EntryKind.APPROPRIATION,
            to_account=await ledger.account(fund_pool("220622", "central", 2024)),
            from_account=await ledger.account(appropriation("220622", "central", 2024)),
            amount_fen=amount,
            booked_on=on,
            actor="test",
        )
    )


async def _spend(ledger: Ledger, amount: int, on: date = date(2024, 1, 2)) -> Transfer:
    return await ledger.transfer(
        Transfer(
            kind=EntryKind.DIRECT_SUBSIDY,
            to_account=await ledger.account(AccountKey(AccountKind.HOUSEHOLD_SUBSIDY, "220622")),
            from_account=await ledger.account(fund_pool("220622", "central", 2024)),
            amount_fen=amount,
            booked_on=on,
            actor="test",
            household_id="h1",
        )
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount_fen = 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_postings SET amount_fen = 1",
        "DELETE FROM ledger_postings",
        "TRUNCATE ledger_postings",
        "DELETE FROM accounts",  # entries refer to accounts, which therefore never go
        "TRUNCATE accounts CASCADE",
    ],
)
async def test_entries_and_postings_refuse_change(db_session, statement):
    await _inflow(Ledger(db_session), 500)
    await db_session.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        async with db_session.begin_nested():
            await db_session.execute(text(statement))


async def test_check_constraint_refuses_a_negative_balance_written_directly(db_session):
    await _inflow(Ledger(db_session), 500)
    with pytest.raises(DBAPIError, match="balance_not_negative"):
        async with db_session.begin_nested():
            await db_session.execute(
                text("UPDATE accounts SET balance_fen = -1 WHERE kind = 'fund_pool'")
            )


async def test_conditional_update_refuses_overdraft_and_backdating(db_session):
    ledger = Ledger(db_session)
    await _inflow(ledger, 1000)
    await _spend(ledger, 600)
    with pytest.raises(InsufficientFunds):
        async with db_session.begin_nested():
            await _spend(ledger, 401)
    with pytest.raises(BackdatedPosting):
        async with db_session.begin_nested():
            await _spend(ledger, 1, on=date(2023, 12, 31))
    pool = await ledger.existing(fund_pool("220622", "central", 2024))
    assert pool is not None and pool.balance_fen == 400
    repository = LedgerRepository(db_session)
    assert await repository.balance_as_of(pool, date(2024, 1, 1)) == 1000
    assert await repository.balance_as_of(pool, date(2024, 1, 2)) == 400
    debits, credits, entries = await repository.totals("220622")
    assert debits == credits == 1600 and entries == 2
    assert await repository.mismatched_accounts("220622") == []


async def test_ledger_post_extends_the_kit_audit_chain(db_session):
    ledger = Ledger(db_session)
    await _inflow(ledger, 1000)
    await _spend(ledger, 1)
    report = await verify_chain(await db_session.connection())
    assert report.ok, report.problems
    rows = (
        await db_session.execute(
            text("SELECT action, key_id FROM audit_log ORDER BY seq DESC LIMIT 2")
        )
    ).all()
    # signed in the server with the session's audit key (migration 0017)
    assert [tuple(r) for r in rows] == [
        ("ledger.direct_subsidy", audit_keys().signing),
        ("ledger.appropriation", audit_keys().signing),
    ]


async def test_a_posting_to_an_account_that_does_not_exist_is_refused(db_session):
    ledger = Ledger(db_session)
    await _inflow(ledger, 500)
    pool = await ledger.account(fund_pool("220622", "central", 2024))
    ghost = dataclasses.replace(pool, id=pool.id + 10_000, normal_side="debit")
    for to_account, from_account in ((ghost, pool), (pool, ghost)):
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="does not exist"):
            async with db_session.begin_nested():
                await ledger.transfer(
                    Transfer(
                        kind=EntryKind.APPROPRIATION,
                        to_account=to_account,
                        from_account=from_account,
                        amount_fen=1,
                        booked_on=date(2024, 1, 1),
                        actor="test",
                    )
                )
