"""Group commit against real PostgreSQL: ``ledger_post_batch`` posts what fits, refuses the rest
without a trace, reserves each Idempotency-Key once, and extends the audit chain in order."""

import asyncio
from datetime import date

from sqlalchemy import text

from fupin_funds.common.vocabulary import AccountKind, EntryKind
from fupin_funds.disbursements.service import disbursed
from fupin_funds.ledger.batches import PostingBatches
from fupin_funds.ledger.repository import AccountKey, IdempotentWrite
from fupin_funds.ledger.service import Ledger, Transfer, appropriation, fund_pool
from fupin_funds.projects.lifecycle import MONEY_STATES, ProjectStatus
from fupin_funds.projects.models import Project
from fupin_kit.audit import verify_chain
from fupin_kit.testing.service import SavepointDriverConnections

ON = date(2024, 1, 2)


async def _pool_with(db_session, amount: int) -> tuple[Ledger, object, object]:
    ledger = Ledger(db_session)
    pool = await ledger.account(fund_pool("220622", "central", 2024))
    await ledger.transfer(
        Transfer(
            kind=EntryKind.APPROPRIATION,
            to_account=pool,
            from_account=await ledger.account(appropriation("220622", "central", 2024)),
            amount_fen=amount,
            booked_on=date(2024, 1, 1),
            actor="test",
        )
    )
    subsidies = await ledger.account(AccountKey(AccountKind.HOUSEHOLD_SUBSIDY, "220622"))
    return ledger, await ledger.account(fund_pool("220622", "central", 2024)), subsidies


def _payment(pool, subsidies, amount: int, on: date = ON) -> Transfer:
    transfer = Transfer(
        kind=EntryKind.DIRECT_SUBSIDY,
        to_account=subsidies,
        from_account=pool,
        amount_fen=amount,
        booked_on=on,
        actor="test",
        household_id="h1",
    )
    return Ledger.stage(transfer, [disbursed(transfer, "220622100001")])


async def _batches(db_session) -> PostingBatches:
    connections = SavepointDriverConnections(await db_session.connection())
    return PostingBatches(lambda: connections, limit=64, flushers=1)


async def _post_together(batches: PostingBatches, *postings):
    return await asyncio.gather(*(batches.post(t, key) for t, key in postings))


async def _count(db_session, sql: str, **params) -> int:
    return int(await db_session.scalar(text(sql), params))


async def test_a_batch_posts_what_fits_and_refuses_the_rest_without_a_trace(db_session):
    _, pool, subsidies = await _pool_with(db_session, 500)
    transfers = [_payment(pool, subsidies, amount) for amount in (200, 400, 300, 1)]
    answers = await _post_together(await _batches(db_session), *((t, None) for t in transfers))
    assert [a.outcome for a in answers] == [
        None,
        f"insufficient:{pool.id}",
        None,
        f"insufficient:{pool.id}",
    ]
    refusal = answers[1].refusal("#/body/amount", "#/body/on")
    assert refusal.status == 409 and refusal.extensions["account_id"] == pool.id

    balances = dict((await db_session.execute(text("SELECT id, balance_fen FROM accounts"))).all())
    assert balances[pool.id] == 0 and balances[subsidies.id] == 500
    posted = {transfers[0].entry_id, transfers[2].entry_id}
    entries = set(
        (
            await db_session.execute(
                text("SELECT id FROM ledger_entries WHERE kind = 'direct_subsidy'")
            )
        )
        .scalars()
        .all()
    )
    assert entries == posted
    assert (
        await _count(
            db_session,
            "SELECT count(*) FROM ledger_postings WHERE entry_id = ANY(:ids)",
            ids=list(posted),
        )
        == 4
    )
    events = await _count(
        db_session,
        "SELECT count(*) FROM outbox WHERE event_id = ANY(:ids)",
        ids=[str(t.events[0]["event_id"]) for t in transfers],
    )
    assert events == 2
    audited = (
        (
            await db_session.execute(
                text(
                    "SELECT object_id FROM audit_log WHERE action = 'ledger.direct_subsidy'"
                    " ORDER BY seq"
                )
            )
        )
        .scalars()
        .all()
    )
    assert audited == [transfers[0].entry_id, transfers[2].entry_id]  # in the batch's order
    report = await verify_chain(await db_session.connection())
    assert report.ok, report.problems
    unsigned = await db_session.scalar(
        text(
            "SELECT count(*) FROM audit_log"
            " WHERE action = 'ledger.direct_subsidy' AND key_id IS NULL"
        )
    )
    assert unsigned == 0


async def test_each_key_is_reserved_once_and_a_refused_transfer_leaves_its_key_free(db_session):
    _, pool, subsidies = await _pool_with(db_session, 100)
    batches = await _batches(db_session)
    key = IdempotentWrite("officer", "k-1", "hash", '{"answer": 1}')
    answers = await _post_together(
        batches,
        (_payment(pool, subsidies, 10), key),
        (_payment(pool, subsidies, 10), key),  # a retry racing the first, in the same batch
        (_payment(pool, subsidies, 1000), IdempotentWrite("officer", "k-2", "hash", "{}")),
    )
    assert [a.outcome for a in answers] == [None, "used", f"insufficient:{pool.id}"]
    assert answers[1].key_used
    stored = (
        await db_session.execute(
            text("SELECT key, response->>'answer' FROM idempotency_keys WHERE caller = 'officer'")
        )
    ).all()
    assert stored == [("k-1", "1")]
    # k-2 was refused, so it may be used again once money has arrived.
    again = await batches.post(
        _payment(pool, subsidies, 90), IdempotentWrite("officer", "k-2", "hash", "{}")
    )
    assert again.posted
    assert (
        await _count(db_session, "SELECT balance_fen FROM accounts WHERE id = :i", i=pool.id) == 0
    )


async def test_a_backdated_transfer_in_a_batch_changes_nothing(db_session):
    _, pool, subsidies = await _pool_with(db_session, 100)
    answers = await _post_together(
        await _batches(db_session),
        (_payment(pool, subsidies, 10, on=date(2024, 1, 5)), None),
        (_payment(pool, subsidies, 10, on=date(2024, 1, 3)), None),  # before the 5th
    )
    assert [a.outcome for a in answers] == [None, f"backdated:{pool.id}"]
    refusal = answers[1].refusal("#/body/amount", "#/body/on")
    assert refusal.status == 422 and refusal.errors[0].pointer == "#/body/on"
    assert (
        await _count(db_session, "SELECT balance_fen FROM accounts WHERE id = :i", i=pool.id) == 90
    )


async def test_a_transfer_that_breaks_the_batch_fails_alone(db_session):
    _, pool, subsidies = await _pool_with(db_session, 100)
    broken = _payment(pool, subsidies, 10)
    broken.to_account = pool  # debit and credit the same account: the entries' check refuses it
    batches = await _batches(db_session)
    answers = await asyncio.gather(
        batches.post(_payment(pool, subsidies, 10), None),
        batches.post(broken, None),
        batches.post(_payment(pool, subsidies, 20), None),
        return_exceptions=True,
    )
    assert answers[0].posted and answers[2].posted
    assert isinstance(answers[1], Exception) and "two_accounts" in str(answers[1])
    assert (
        await _count(db_session, "SELECT balance_fen FROM accounts WHERE id = :i", i=pool.id) == 70
    )


async def test_a_transfer_from_a_project_posts_only_while_the_project_takes_payments(db_session):
    """The statement itself re-reads the project's status under a lock: a payment checked while
    the project was open is refused if the project has moved on by the time it is posted."""
    _, pool, subsidies = await _pool_with(db_session, 10_000)
    for status in ProjectStatus:
        project_id = f"p-{status.value}"
        db_session.add(
            Project(
                id=project_id,
                name="p",
                project_type="water",
                category="infrastructure",
                year=2024,
                region_code="220622",
                village_codes=["220622100001"],
                implementing_unit="u",
                status=status.value,
                budget_fen=100,
                proposed_by="test",
                proposed_on=date(2024, 1, 1),
            )
        )
        await db_session.flush()
        transfer = _payment(pool, subsidies, 10)
        transfer.project_id = project_id
        key = IdempotentWrite("officer", f"key-{status.value}", "hash", "{}")
        answer = await (await _batches(db_session)).post(transfer, key)
        if status in MONEY_STATES:
            assert answer.posted, status
        else:
            assert answer.outcome == f"closed:{status.value}" and answer.project_status == status
            assert not await _count(
                db_session,
                "SELECT count(*) FROM ledger_entries WHERE id = :i",
                i=transfer.entry_id,
            )
            assert not await _count(  # the refused payment's key stays free
                db_session,
                "SELECT count(*) FROM idempotency_keys WHERE key = :k",
                k=f"key-{status.value}",
            )
