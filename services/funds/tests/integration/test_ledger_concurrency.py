"""Ledger invariants under real concurrency (requests really commit, real PostgreSQL): many
disbursements racing on one account never overdraw it, the entries always balance, and
concurrent retries with one Idempotency-Key have one effect."""

import asyncio
import uuid
from datetime import date

from funds_testkit import resident_id
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from fupin_events.registry import (
    HouseholdAttribute,
    HouseholdRegistered,
    HouseholdStatus,
    SupportType,
)
from fupin_funds.common.privacy import Privacy
from fupin_funds.households import service as households
from fupin_funds.ledger.batches import BATCH_SIZE
from fupin_kit.testing.plugin import bearer

COUNTY = "220621"  # 抚松县: its own region, so committed data does not meet other tests'


async def open_fund(client, headers, year: int, amount: str) -> None:
    fund = await client.post(
        "/v1/funds",
        headers=headers,
        json={
            "region_code": COUNTY,
            "source": "central",
            "year": year,
            "name": "race",
            "amount": amount,
            "on": f"{year}-01-02",
        },
    )
    assert fund.status_code == 201, fund.text


async def reversals_at_once(client, headers, entry_id: str, on: str, count: int) -> list:
    """``count`` reversals of one entry sent at once: one reverses it, the others are 409."""
    responses = await asyncio.gather(
        *[
            client.post(
                f"/v1/entries/{entry_id}/reversal",
                json={"reason": "paid twice", "on": on},
                headers=headers,
            )
            for _ in range(count)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (count - 1), [
        r.text for r in responses if r.status_code != 201
    ]
    return responses


async def prepare(client, headers, year: int, project_amount: str) -> tuple[str, int]:
    await open_fund(client, headers, year, "1000000.00")
    project = await client.post(
        "/v1/projects",
        headers=headers,
        json={
            "name": "race",
            "project_type": "water",
            "year": year,
            "region_code": COUNTY,
            "village_codes": ["220621100001"],
            "implementing_unit": "u",
            "budget": [{"source": "central", "amount": "1000000.00"}],
            "on": f"{year}-01-03",
        },
    )
    assert project.status_code == 201, project.text
    pid = project.json()["id"]
    for action, day in (("approve", "01-04"), ("announce", "01-05")):
        assert (
            await client.post(
                f"/v1/projects/{pid}/{action}", headers=headers, json={"on": f"{year}-{day}"}
            )
        ).status_code == 200
    funded = await client.post(
        f"/v1/projects/{pid}/fundings",
        headers=headers,
        json={"source": "central", "amount": project_amount, "on": f"{year}-02-01"},
    )
    assert funded.status_code == 201, funded.text
    return pid, funded.json()["to_account_id"]


async def ledger_state(engine, account_id: int) -> dict:
    async with engine.connect() as conn:
        totals = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(amount_fen) FILTER (WHERE side = 'debit'), 0),"
                    " coalesce(sum(amount_fen) FILTER (WHERE side = 'credit'), 0) FROM "
                    "ledger_postings"
                )
            )
        ).one()
        mismatched = await conn.scalar(
            text(
                "SELECT count(*) FROM accounts a WHERE a.balance_fen <> coalesce((SELECT "
                "sum(CASE WHEN p.side = a.normal_side"
                " THEN p.amount_fen ELSE -p.amount_fen END) FROM ledger_postings p WHERE "
                "p.account_id = a.id), 0)"
            )
        )
        balance = await conn.scalar(
            text("SELECT balance_fen FROM accounts WHERE id = :i"), {"i": account_id}
        )
        payments = await conn.scalar(
            text(
                "SELECT count(*) FROM ledger_entries WHERE credit_account_id = :i AND kind = "
                "'project_payment'"
            ),
            {"i": account_id},
        )
        negative = await conn.scalar(text("SELECT count(*) FROM accounts WHERE balance_fen < 0"))
    return {
        "debits": totals[0],
        "credits": totals[1],
        "mismatched": mismatched,
        "balance": balance,
        "payments": payments,
        "negative": negative,
    }


def _batches_of_more_than_one() -> float:
    samples = {s.name + s.labels.get("le", ""): s.value for s in BATCH_SIZE.collect()[0].samples}
    return (
        samples["fupin_ledger_batch_postings_count"]
        - samples["fupin_ledger_batch_postings_bucket1.0"]
    )


async def test_fifty_concurrent_disbursements_never_overdraw(committed_client, make_token, engine):
    headers = bearer(
        make_token("22", subject=f"race-{uuid.uuid4().hex[:6]}", roles=["officer", "admin"])
    )
    pid, account = await prepare(committed_client, headers, 2001, "30.00")

    async def pay():
        return await committed_client.post(
            f"/v1/projects/{pid}/payments",
            json={"amount": "1.00", "payee": "racer", "on": "2001-02-02"},
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )

    batched_before = _batches_of_more_than_one()
    responses = await asyncio.gather(*[pay() for _ in range(50)])
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 30 and statuses.count(409) == 20, statuses
    assert _batches_of_more_than_one() > batched_before  # they were posted in group commits
    # Refused inside a group-commit statement: the same problem as a refusal anywhere else.
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("insufficient-funds")
    assert refused.json()["errors"][0]["pointer"] == "#/body/amount"
    state = await ledger_state(engine, account)
    assert state["balance"] == 0 and state["payments"] == 30 and state["negative"] == 0
    assert state["debits"] == state["credits"] and state["mismatched"] == 0
    trial = (await committed_client.get("/v1/ledger/trial-balance", headers=headers)).json()
    assert trial["balanced"] and trial["debits"] == trial["credits"]
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM ledger_settlements")) == 0
        audited = await conn.scalar(
            text(
                "SELECT count(*) FROM audit_log a JOIN ledger_entries e ON e.id = a.object_id"
                " WHERE e.credit_account_id = :i AND e.kind = 'project_payment'"
            ),
            {"i": account},
        )
    assert audited == 30  # every settled payment has its audit record, the refused ones none


async def test_concurrent_retries_with_one_key_pay_once(committed_client, make_token, engine):
    headers = bearer(
        make_token("22", subject=f"retry-{uuid.uuid4().hex[:6]}", roles=["officer", "admin"])
    )
    pid, account = await prepare(committed_client, headers, 2002, "100.00")
    retry = {**headers, "Idempotency-Key": "pay-the-builder-once"}
    responses = await asyncio.gather(
        *[
            committed_client.post(
                f"/v1/projects/{pid}/payments",
                json={"amount": "40.00", "payee": "b", "on": "2002-02-02"},
                headers=retry,
            )
            for _ in range(8)
        ]
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["entry_id"] for r in responses}) == 1
    state = await ledger_state(engine, account)
    assert state["payments"] == 1 and state["balance"] == 6000


async def test_opposite_transfers_do_not_deadlock(committed_client, make_token, engine):
    """Reversals move money back while new payments move it forward between the same accounts."""
    headers = bearer(
        make_token("22", subject=f"both-{uuid.uuid4().hex[:6]}", roles=["officer", "admin"])
    )
    pid, account = await prepare(committed_client, headers, 2003, "100.00")
    first = [
        (
            await committed_client.post(
                f"/v1/projects/{pid}/payments",
                headers=headers,
                json={"amount": "1.00", "payee": "b", "on": "2003-02-02"},
            )
        ).json()["entry_id"]
        for _ in range(10)
    ]
    forward = [
        committed_client.post(
            f"/v1/projects/{pid}/payments",
            headers=headers,
            json={"amount": "1.00", "payee": "b", "on": "2003-02-02"},
        )
        for _ in range(10)
    ]
    backward = [
        committed_client.post(
            f"/v1/entries/{entry}/reversal",
            headers=headers,
            json={"reason": "duplicate", "on": "2003-02-02"},
        )
        for entry in first
    ]
    responses = await asyncio.gather(*forward, *backward)
    assert {r.status_code for r in responses} == {201}, [
        r.text for r in responses if r.status_code != 201
    ]
    state = await ledger_state(engine, account)
    assert (
        state["balance"] == 10000 - 1000
        and state["mismatched"] == 0
        and state["debits"] == state["credits"]
    )


async def test_a_payment_checked_before_its_project_closed_is_not_posted_after(
    committed_client, make_token, engine
):
    """A lifecycle step closes the project while a payment that already read the project as
    open waits to be posted: the posting sees the new status and refuses it."""
    headers = bearer(
        make_token("22", subject=f"close-{uuid.uuid4().hex[:6]}", roles=["officer", "admin"])
    )
    pid, account = await prepare(committed_client, headers, 2004, "100.00")
    async with engine.connect() as step:  # a lifecycle step, mid-transaction
        await step.execute(text("SELECT 1 FROM projects WHERE id = :p FOR UPDATE"), {"p": pid})
        await step.execute(
            text("UPDATE projects SET status = 'accepted' WHERE id = :p"), {"p": pid}
        )
        payment = asyncio.create_task(
            committed_client.post(
                f"/v1/projects/{pid}/payments",
                json={"amount": "1.00", "payee": "late", "on": "2004-02-02"},
                headers={**headers, "Idempotency-Key": "late-payment"},
            )
        )
        await asyncio.sleep(0.5)
        assert not payment.done()  # read the project as announced, waits to be posted
        await step.commit()
    response = await payment
    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("announcement-gate")
    assert "accepted" in response.json()["detail"]
    state = await ledger_state(engine, account)
    assert state["payments"] == 0 and state["balance"] == 10000
    async with engine.connect() as conn:
        assert not await conn.scalar(
            text("SELECT count(*) FROM idempotency_keys WHERE key = 'late-payment'")
        )


async def test_concurrent_reversals_of_one_entry_reverse_it_once(
    committed_client, make_token, engine
):
    headers = bearer(
        make_token("22", subject=f"undo-{uuid.uuid4().hex[:6]}", roles=["officer", "admin"])
    )
    async with (
        engine.connect() as conn
    ):  # data here is committed: a year no test of this run has used
        year = await conn.scalar(
            text("SELECT coalesce(max(year), 2009) + 1 FROM funds WHERE region_code = :c"),
            {"c": COUNTY},
        )
    pid, account = await prepare(committed_client, headers, year, "100.00")
    paid = await committed_client.post(
        f"/v1/projects/{pid}/payments",
        json={"amount": "40.00", "payee": "b", "on": f"{year}-02-02"},
        headers=headers,
    )
    assert paid.status_code == 201, paid.text
    responses = await reversals_at_once(
        committed_client, headers, paid.json()["entry_id"], f"{year}-02-03", 12
    )
    assert all(
        r.json()["detail"] == "this entry is already reversed"
        for r in responses
        if r.status_code == 409
    )
    state = await ledger_state(engine, account)
    assert state["balance"] == 10000


async def test_concurrent_reversals_of_one_interest_subsidy_reverse_it_once(
    committed_client, make_token, engine, settings
):
    """The second reversal waits for the loan the first one holds, then finds the subsidy
    reversed: 409, not an error."""
    headers = bearer(
        make_token("22", subject=f"undo-{uuid.uuid4().hex[:6]}", roles=["officer", "admin"])
    )
    bank = bearer(make_token("22", scopes=["loans:report"], roles=["partner"], client_id="bank-1"))
    async with engine.connect() as conn:
        year = await conn.scalar(
            text("SELECT coalesce(max(year), 2009) + 1 FROM funds WHERE region_code = :c"),
            {"c": COUNTY},
        )
    borrower = resident_id(date(1985, 5, 20), 300 + year % 100)
    household = f"hh-{uuid.uuid4().hex[:10]}"
    async with async_sessionmaker(engine)() as session:
        await households.apply_registered(
            session,
            HouseholdRegistered(
                household_id=household,
                village_code=f"{COUNTY}100001",
                household_number=household,
                attribute=HouseholdAttribute.ORDINARY_POOR,
                support_type=SupportType.DEVELOPMENT,
                primary_cause="illness",
                status=HouseholdStatus.IDENTIFIED,
                member_count=1,
                member_indexes=[Privacy(settings).index.hex(borrower)],
                registered_on=date(year, 1, 2),
                year=year,
            ),
            date(year, 1, 2),
        )
        await session.commit()
    await open_fund(committed_client, headers, year, "100000.00")
    loan = await committed_client.post(
        "/v1/loans",
        headers=bank,
        json={
            "bank_loan_ref": f"U-{household}",
            "borrower_id_number": borrower,
            "amount": "50000.00",
            "term_months": 36,
            "annual_rate": "0.0435",
            "start_date": f"{year}-03-01",
            "purpose": "cattle",
            "product": "microcredit",
        },
    )
    assert loan.status_code == 201, loan.text
    subsidies = f"/v1/loans/{loan.json()['id']}/subsidies"
    for start, end in (("03-01", "04-01"), ("04-01", "05-01")):
        paid = await committed_client.post(
            subsidies,
            headers=headers,
            json={
                "period_start": f"{year}-{start}",
                "period_end": f"{year}-{end}",
                "on": f"{year}-05-02",
            },
        )
        assert paid.status_code == 201, paid.text
    latest = paid.json()["entry_id"]
    await reversals_at_once(committed_client, headers, latest, f"{year}-05-03", 6)
    read = (await committed_client.get(f"/v1/loans/{loan.json()['id']}", headers=headers)).json()
    assert read["subsidy_paid_until"] == f"{year}-04-01"
