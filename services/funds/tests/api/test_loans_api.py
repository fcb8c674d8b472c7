"""Subsidised loans: registration checked against the register at the start date and the limits,
interest subsidies by actual days through the ledger, repayment, overdue, default, misuse,
risk compensation; a bank sees only its own loans."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from funds_testkit import (
    COUNTY,
    assert_problem,
    change_status,
    open_fund,
    register_household,
    resident_id,
    today,
)
from sqlalchemy import text

from fupin_funds.common.privacy import Privacy
from fupin_kit.testing.plugin import api_client

BORROWER = resident_id(date(1985, 5, 20), 231)


def loan_body(**overrides):
    body = {
        "bank_loan_ref": "L-0001",
        "borrower_id_number": BORROWER,
        "amount": "50000.00",
        "term_months": 36,
        "annual_rate": "0.0435",
        "start_date": "2024-03-01",
        "purpose": "cattle",
        "product": "microcredit",
    }
    body.update(overrides)
    return body


@pytest.fixture
async def bank(app, make_token):
    async with api_client(
        app, make_token("22", scopes=["loans:report"], roles=["partner"], client_id="bank-1")
    ) as client:
        yield client


@pytest.fixture
async def borrower_household(app, settings):
    index = Privacy(settings).index.hex(BORROWER)
    return await register_household(app, member_indexes=[index], registered_on=date(2023, 1, 1))


async def test_loan_checks_limits_and_eligibility(app, bank, borrower_household):
    for change, pointer in [
        ({"amount": "50000.01"}, "#/body/amount"),
        ({"term_months": 37}, "#/body/term_months"),
        ({"annual_rate": "0.5"}, "#/body/annual_rate"),
        (
            {"borrower_id_number": resident_id(date(1985, 5, 20), 232)[:17] + "0"},
            "#/body/borrower_id_number",
        ),
        (
            {"borrower_id_number": resident_id(date(1960, 1, 1), 231)},
            "#/body/borrower_id_number",
        ),  # 64 on start
        (
            {"borrower_id_number": resident_id(date(1990, 1, 1), 777)},
            "#/body/borrower_id_number",
        ),  # not in register
        ({"start_date": "2022-12-01"}, "#/body/borrower_id_number"),  # not yet registered then
        ({"start_date": "2099-01-01"}, "#/body/start_date"),
    ]:
        assert_problem(await bank.post("/v1/loans", json=loan_body(**change)), 422, pointer)
    assert (await bank.get("/v1/loans")).json()["items"] == []
    registered = await bank.post("/v1/loans", json=loan_body())
    assert registered.status_code == 201, registered.text
    loan = registered.json()
    assert loan["household_id"] == borrower_household and loan["maturity_date"] == "2027-03-01"
    assert (
        loan["borrower_id_number"] == BORROWER[:6] + "********" + BORROWER[-4:]
    )  # banks see it masked
    assert_problem(await bank.post("/v1/loans", json=loan_body()), 409)


async def test_a_bank_outside_the_borrowers_region_learns_nothing_about_them(
    app, make_token, borrower_household
):
    """Registered and eligible, but in another city: answered exactly as a stranger would be,
    with no status and no village."""
    token = make_token("2201", scopes=["loans:report"], roles=["partner"], client_id="bank-far")
    async with api_client(app, token) as far_bank:
        known = await far_bank.post("/v1/loans", json=loan_body())
        stranger = await far_bank.post(
            "/v1/loans",
            json=loan_body(borrower_id_number=resident_id(date(1990, 1, 1), 777)),
        )
    for response in (known, stranger):
        assert_problem(response, 422, "#/body/borrower_id_number")
    assert known.json()["errors"] == stranger.json()["errors"]
    assert "2206" not in known.text


async def test_a_household_owes_at_most_the_limit_over_all_its_running_loans(
    app, client, bank, borrower_household, make_token
):
    first = await bank.post("/v1/loans", json=loan_body(amount="30000.00"))
    assert first.status_code == 201, first.text
    token = make_token("22", scopes=["loans:report"], roles=["partner"], client_id="bank-2")
    async with api_client(app, token) as other_bank:
        over = await other_bank.post(
            "/v1/loans", json=loan_body(bank_loan_ref="B2-1", amount="20000.01")
        )
        detail = assert_problem(over, 422, "#/body/amount")["errors"][0]["detail"]
        assert "30000" not in detail  # another bank's amount is not told
        within = await other_bank.post(
            "/v1/loans", json=loan_body(bank_loan_ref="B2-2", amount="20000.00")
        )
        assert within.status_code == 201, within.text
    # Repaying frees the line of credit.
    repaid = await bank.post(
        f"/v1/loans/{first.json()['id']}/repayments",
        json={"amount": "30000.00", "repaid_on": "2024-04-01"},
    )
    assert repaid.status_code == 200, repaid.text
    again = await bank.post("/v1/loans", json=loan_body(bank_loan_ref="L-0002", amount="30000.00"))
    assert again.status_code == 201, again.text


async def test_exited_household_within_transition_may_borrow(
    app, bank, borrower_household, settings
):
    index = [Privacy(settings).index.hex(BORROWER)]
    await change_status(app, borrower_household, "exited", date(2023, 12, 1), member_indexes=index)
    assert (await bank.post("/v1/loans", json=loan_body())).status_code == 201
    await change_status(app, borrower_household, "removed", date(2024, 1, 5), member_indexes=index)
    refused = await bank.post(
        "/v1/loans", json=loan_body(bank_loan_ref="L-2", start_date="2024-02-01")
    )
    assert "removed" in assert_problem(refused, 422, "#/body/borrower_id_number")["detail"]


async def test_a_subsidy_paid_to_a_household_later_removed_is_an_anomaly(
    app, client, bank, borrower_household
):
    """清退: the household was a wrong entry, so the interest it was subsidised is flagged; an
    exit, by contrast, lets a loan's subsidy run to maturity (no exit-transition anomaly)."""
    await open_fund(client, amount="100000.00", on=date(2024, 1, 2))
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    paid = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-03-01", "period_end": "2024-04-01", "on": "2024-04-02"},
    )
    assert paid.status_code == 201, paid.text
    await change_status(app, borrower_household, "removed", date(2024, 5, 1))
    scanned = await client.post("/v1/anomalies/scan", json={"on": "2024-06-01"})
    assert scanned.status_code == 200, scanned.text
    flagged = [
        a
        for a in scanned.json()
        if a["rule"] == "payment_to_unregistered"
        and a["evidence"]["household_id"] == borrower_household
    ]
    assert [a["evidence"]["entry_id"] for a in flagged] == [paid.json()["entry_id"]]
    # Once removed, no further period is subsidised, not even one before the removal.
    refused = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-04-01", "period_end": "2024-05-01", "on": "2024-05-02"},
    )
    assert "wrong entry on 2024-05-01" in assert_problem(refused, 409)["detail"]


@pytest.mark.parametrize("loose", [1714608000, "1714608000", "2024-05-02T00:00:00"])
async def test_business_dates_are_days_not_timestamps(client, bank, borrower_household, loose):
    """Unix seconds would be read as a UTC day, and a date-time as its date: both are 422."""
    await open_fund(client, amount="100000.00", on=date(2024, 1, 2))
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    refused = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-04-01", "period_end": "2024-05-01", "on": loose},
    )
    assert "YYYY-MM-DD" in assert_problem(refused, 422, "#/body/on")["errors"][0]["detail"]
    account = (await client.get("/v1/accounts")).json()["items"][0]["id"]
    read = await client.get(f"/v1/accounts/{account}", params={"as_of": "1714608000"})
    assert_problem(read, 422, "#/query/as_of")


async def test_subsidy_repayment_default_and_compensation(
    app, client, bank, borrower_household, make_token
):
    await open_fund(client, amount="100000.00", on=date(2024, 1, 2))
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    assert_problem(
        await bank.post(
            f"/v1/loans/{loan['id']}/subsidies",
            json={"period_start": "2024-03-01", "period_end": "2024-04-01"},
        ),
        403,
    )
    paid = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-03-01", "period_end": "2024-04-01", "on": "2024-04-02"},
    )
    assert paid.status_code == 201, paid.text
    assert (
        paid.json()["amount"] == "184.73" and paid.json()["days"] == 31
    )  # 50,000 × 4.35% × 31/365
    overlap = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-03-15", "period_end": "2024-05-01", "on": "2024-05-02"},
    )
    assert_problem(overlap, 409)
    backwards = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-05-01", "period_end": "2024-04-01"},
    )
    assert_problem(backwards, 422, "#/body/period_end")

    repaid = await bank.post(
        f"/v1/loans/{loan['id']}/repayments", json={"amount": "20000.00", "repaid_on": "2024-04-11"}
    )
    assert repaid.status_code == 200 and repaid.json()["outstanding"] == "30000.00"
    assert_problem(
        await bank.post(
            f"/v1/loans/{loan['id']}/repayments", json={"amount": "1.00", "repaid_on": "2024-04-10"}
        ),
        422,
        "#/body/repaid_on",
    )
    assert_problem(
        await bank.post(
            f"/v1/loans/{loan['id']}/repayments",
            json={"amount": "30000.01", "repaid_on": "2024-04-12"},
        ),
        422,
        "#/body/amount",
    )
    second = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-04-01", "period_end": "2024-05-01", "on": "2024-05-02"},
    )
    # 10 days on 50,000 and 20 days on 30,000 at 4.35%.
    assert (
        second.json()["amount"]
        == f"{round((5_000_000 * 0.0435 * 10 + 3_000_000 * 0.0435 * 20) / 365) / 100:.2f}"
    )

    future = await bank.post(
        f"/v1/loans/{loan['id']}/overdue", json={"overdue_since": "2099-06-01"}
    )
    assert_problem(future, 422, "#/body/overdue_since")
    overdue = await bank.post(
        f"/v1/loans/{loan['id']}/overdue", json={"overdue_since": "2024-06-01"}
    )
    assert overdue.json()["status"] == "overdue"
    defaulted = await bank.post(f"/v1/loans/{loan['id']}/default", json={"on": "2024-06-15"})
    assert (
        defaulted.json()["status"] == "defaulted"
        and defaulted.json()["subsidy_stopped_on"] == "2024-06-15"
    )
    partial = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-06-01", "period_end": "2024-07-01", "on": "2024-07-02"},
    )
    assert (
        partial.status_code == 201
        and partial.json()["days"] == 14
        and partial.json()["period_end"] == "2024-06-15"
    )
    stopped = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-07-01", "period_end": "2024-08-01", "on": "2024-08-02"},
    )
    assert "stopped" in assert_problem(stopped, 409)["detail"]

    assert (await client.get(f"/v1/risk-compensation/{COUNTY}")).json()["balance"] == "0.00"
    deposit = await client.post(
        f"/v1/risk-compensation/{COUNTY}/deposits",
        json={"source": "central", "year": 2024, "amount": "5000.00", "on": "2024-07-03"},
    )
    assert deposit.status_code == 201, deposit.text
    compensated = await client.post(
        f"/v1/loans/{loan['id']}/compensation", json={"amount": "3000.00", "on": "2024-07-04"}
    )
    assert compensated.status_code == 201, compensated.text
    assert (await client.get(f"/v1/risk-compensation/{COUNTY}")).json()["balance"] == "2000.00"
    # 27,000.00 of the loan is still uncompensated, but the fund holds only 2,000.00.
    beyond_fund = await client.post(
        f"/v1/loans/{loan['id']}/compensation", json={"amount": "2000.01", "on": "2024-07-05"}
    )
    assert assert_problem(beyond_fund, 409, "#/body/amount")["type"].endswith("insufficient-funds")
    assert (await client.get(f"/v1/loans/{loan['id']}")).json()["compensated"] == "3000.00"
    # Money set aside in the risk fund left the year's pool: the supervision report accounts for
    # every yuan of the county, for the year and over all years.
    for params in ({"year": 2024}, {}):
        report = await client.get(
            "/v1/supervision/report", params={"region_code": COUNTY, "on": "2024-07-05", **params}
        )
        rows = [r for r in report.json()["money"] if r["region_code"] == COUNTY]
        total = {k: sum(Decimal(r[k]) for r in rows) for k in ("allocated", "held", "disbursed")}
        assert total["allocated"] == total["held"] + total["disbursed"], (params, rows)

    unmasked = (await client.get(f"/v1/loans/{loan['id']}")).json()
    assert unmasked["borrower_id_number"] == BORROWER  # officer with pii:read
    assert (await client.get("/v1/ledger/trial-balance")).json()["balanced"]


async def test_misuse_is_for_officers_and_banks_see_only_their_loans(
    app, client, bank, borrower_household, make_token
):
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    assert_problem(
        await bank.post(f"/v1/loans/{loan['id']}/misuse", json={"on": "2024-05-01"}), 403
    )
    misused = await client.post(
        f"/v1/loans/{loan['id']}/misuse", json={"on": "2024-05-01", "note": "bought a car"}
    )
    assert misused.json()["status"] == "misused"
    async with api_client(
        app, make_token("22", scopes=["loans:report"], client_id="bank-2")
    ) as other_bank:
        assert_problem(await other_bank.get(f"/v1/loans/{loan['id']}"), 404)
        assert (await other_bank.get("/v1/loans")).json()["items"] == []
    async with api_client(app, make_token("220581")) as neighbour:
        assert_problem(await neighbour.get(f"/v1/loans/{loan['id']}"), 404)


async def test_a_replayable_loan_answer_is_kept_sealed(app, make_token, borrower_household):
    # A bank allowed to read personal data gets the borrower's ID number in clear; the copy kept
    # for replays must not hold it in clear.
    async with api_client(
        app,
        make_token(
            "22", scopes=["loans:report", "pii:read"], roles=["partner"], client_id="bank-1"
        ),
    ) as bank:
        headers = {"Idempotency-Key": "loan-sealed-1"}
        first = await bank.post("/v1/loans", json=loan_body(), headers=headers)
        assert first.status_code == 201, first.text
        assert first.json()["borrower_id_number"] == BORROWER
        async with app.state.sessionmaker() as session:
            stored = (
                await session.execute(
                    text("SELECT response::text FROM idempotency_keys WHERE key = :k"),
                    {"k": "loan-sealed-1"},
                )
            ).scalar_one()
        assert BORROWER not in stored and first.json()["id"] not in stored
        second = await bank.post("/v1/loans", json=loan_body(), headers=headers)
        assert second.headers["idempotent-replayed"] == "true"
        assert second.json() == first.json()


async def defaulted_loan_and_risk_fund(client, bank) -> dict:
    """A loan of 50,000.00 defaulted on 2024-06-15; the county's risk fund holds 150,000.00."""
    await open_fund(client, amount="200000.00", on=date(2024, 1, 2))
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    defaulted = await bank.post(f"/v1/loans/{loan['id']}/default", json={"on": "2024-06-15"})
    assert defaulted.status_code == 200, defaulted.text
    deposit = await client.post(
        f"/v1/risk-compensation/{COUNTY}/deposits",
        json={"source": "central", "year": 2024, "amount": "150000.00", "on": "2024-07-03"},
    )
    assert deposit.status_code == 201, deposit.text
    return loan


async def test_compensation_is_limited_to_the_outstanding_amount_over_all_payments(
    client, bank, borrower_household
):
    loan = await defaulted_loan_and_risk_fund(client, bank)
    compensation = f"/v1/loans/{loan['id']}/compensation"

    first = await client.post(compensation, json={"amount": "30000.00", "on": "2024-07-04"})
    assert first.status_code == 201, first.text
    over = await client.post(compensation, json={"amount": "20000.01", "on": "2024-07-04"})
    assert "20000.00" in assert_problem(over, 422, "#/body/amount")["detail"]
    rest = await client.post(compensation, json={"amount": "20000.00", "on": "2024-07-05"})
    assert rest.status_code == 201, rest.text
    for amount in ("50000.00", "0.01"):
        again = await client.post(compensation, json={"amount": amount, "on": "2024-07-06"})
        assert_problem(again, 422, "#/body/amount")

    read = (await client.get(f"/v1/loans/{loan['id']}")).json()
    assert read["compensated"] == "50000.00" and read["outstanding"] == "50000.00"
    fund = (await client.get(f"/v1/risk-compensation/{COUNTY}")).json()
    assert fund["balance"] == "100000.00"


async def test_subsidy_is_paid_in_arrears(client, bank, borrower_household):
    await open_fund(client, amount="100000.00", on=date(2024, 1, 2))
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    subsidies = f"/v1/loans/{loan['id']}/subsidies"
    ahead = await client.post(
        subsidies,
        json={"period_start": "2024-03-01", "period_end": "2027-03-01", "on": "2024-03-02"},
    )
    assert_problem(ahead, 422, "#/body/period_end")
    one_day_ahead = await client.post(
        subsidies,
        json={"period_start": "2024-03-01", "period_end": "2024-04-02", "on": "2024-04-01"},
    )
    assert_problem(one_day_ahead, 422, "#/body/period_end")
    assert (await client.get(subsidies)).json() == []
    # The period ends (exclusively) on the day it is paid: its last day is already over.
    paid = await client.post(
        subsidies,
        json={"period_start": "2024-03-01", "period_end": "2024-04-01", "on": "2024-04-01"},
    )
    assert paid.status_code == 201, paid.text


async def test_repayment_and_stop_dates_respect_the_paid_subsidy_and_today(
    client, bank, borrower_household
):
    await open_fund(client, amount="100000.00", on=date(2024, 1, 2))
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    paid = await client.post(
        f"/v1/loans/{loan['id']}/subsidies",
        json={"period_start": "2024-03-01", "period_end": "2024-06-01", "on": "2024-06-02"},
    )
    assert paid.status_code == 201, paid.text
    tomorrow = (today() + timedelta(days=1)).isoformat()
    repayments = f"/v1/loans/{loan['id']}/repayments"
    for repaid_on in ("2024-03-02", "2024-05-31", tomorrow):
        refused = await bank.post(repayments, json={"amount": "100.00", "repaid_on": repaid_on})
        assert_problem(refused, 422, "#/body/repaid_on")
    for path in ("default", "misuse"):
        for on in ("2024-03-05", "2024-05-31", tomorrow):
            refused = await client.post(f"/v1/loans/{loan['id']}/{path}", json={"on": on})
            assert_problem(refused, 422, "#/body/on")
    read = (await client.get(f"/v1/loans/{loan['id']}")).json()
    assert read["status"] == "active" and read["outstanding"] == "50000.00"

    repaid = await bank.post(repayments, json={"amount": "100.00", "repaid_on": "2024-06-01"})
    assert repaid.status_code == 200 and repaid.json()["outstanding"] == "49900.00"
    defaulted = await bank.post(f"/v1/loans/{loan['id']}/default", json={"on": "2024-06-01"})
    assert defaulted.status_code == 200, defaulted.text
    assert defaulted.json()["subsidy_stopped_on"] == "2024-06-01"


async def test_only_the_county_office_pays_subsidies_and_compensation_from_county_funds(
    app, client, bank, borrower_household, make_token
):
    # The money comes from the county's fund pool and risk fund, which a township office can
    # neither read nor spend, even for a loan in one of its villages.
    await open_fund(client, amount="100000.00", on=date(2024, 1, 2))
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    deposit = await client.post(
        f"/v1/risk-compensation/{COUNTY}/deposits",
        json={"source": "central", "year": 2024, "amount": "5000.00", "on": "2024-07-03"},
    )
    assert deposit.status_code == 201, deposit.text
    township = loan["region_code"][:9]
    async with api_client(app, make_token(township, roles=["officer"])) as town:
        assert_problem(await town.get(f"/v1/risk-compensation/{COUNTY}"), 404)
        subsidy = await town.post(
            f"/v1/loans/{loan['id']}/subsidies",
            json={"period_start": "2024-03-01", "period_end": "2024-04-01", "on": "2024-04-02"},
        )
        assert_problem(subsidy, 403)
        assert (
            await bank.post(f"/v1/loans/{loan['id']}/default", json={"on": "2024-06-15"})
        ).json()["status"] == "defaulted"
        compensation = await town.post(
            f"/v1/loans/{loan['id']}/compensation", json={"amount": "10.00", "on": "2024-07-04"}
        )
        assert_problem(compensation, 403)
    assert (await client.get(f"/v1/risk-compensation/{COUNTY}")).json()["balance"] == "5000.00"
    assert (await client.get(f"/v1/loans/{loan['id']}")).json()["subsidy_paid_until"] is None


async def test_every_answer_showing_a_borrower_in_clear_is_audited(
    app, borrower_household, make_token
):
    token = make_token("22", scopes=["loans:report", "pii:read"], client_id="bank-pii")
    async with api_client(app, token) as bank_with_pii:
        reported = await bank_with_pii.post(
            "/v1/loans", json=loan_body(bank_loan_ref="L-PII"), headers={"Idempotency-Key": "r1"}
        )
        assert reported.status_code == 201 and reported.json()["borrower_id_number"] == BORROWER
        loan_id = reported.json()["id"]
        replayed = await bank_with_pii.post(
            "/v1/loans", json=loan_body(bank_loan_ref="L-PII"), headers={"Idempotency-Key": "r1"}
        )
        assert replayed.headers.get("Idempotent-Replayed") == "true"
        overdue = await bank_with_pii.post(
            f"/v1/loans/{loan_id}/overdue", json={"overdue_since": "2024-06-01"}
        )
        assert overdue.json()["borrower_id_number"] == BORROWER
    async with app.state.sessionmaker() as session:
        audited = await session.scalar(
            text(
                "SELECT count(*) FROM audit_log WHERE action = 'pii.read_unmasked'"
                " AND object_type = 'loan' AND object_id = :id AND actor LIKE '%bank-pii%'"
            ),
            {"id": loan_id},
        )
    assert audited == 3  # the report, its replay and the overdue report


async def test_a_page_of_loans_shown_in_clear_is_audited_a_record_per_loan(
    app, borrower_household, make_token
):
    """Twenty loans listed with their borrowers in clear: twenty records, each findable by its
    loan's id (not one record of ids joined and cut short)."""
    token = make_token("22", scopes=["loans:report", "pii:read"], client_id="bank-page")
    async with api_client(app, token) as bank_with_pii:
        ids = []
        for n in range(20):
            reported = await bank_with_pii.post(
                "/v1/loans", json=loan_body(bank_loan_ref=f"L-PAGE-{n}", amount="2000.00")
            )
            assert reported.status_code == 201, reported.text
            ids.append(reported.json()["id"])
        page = await bank_with_pii.get("/v1/loans", params={"limit": 100})
        assert {loan["id"] for loan in page.json()["items"]} >= set(ids)
    async with app.state.sessionmaker() as session:
        audited = (
            await session.execute(
                text(
                    "SELECT object_id, count(*) FROM audit_log WHERE action = 'pii.read_unmasked'"
                    " AND object_type = 'loan' AND actor = 'client:bank-page' GROUP BY object_id"
                )
            )
        ).all()
    # each loan: its report, and its line on the page
    assert dict(audited) == dict.fromkeys(ids, 2)


async def test_a_subsidy_paid_for_misused_days_is_recovered_by_reversing_it(
    client, bank, borrower_household
):
    """Misuse found inside a subsidised period: the latest period is reversed (money back to
    the pool), the misuse is recorded on its day, and the period is paid again up to it."""
    fund = await open_fund(client, amount="100000.00", on=date(2024, 1, 2))
    loan = (await bank.post("/v1/loans", json=loan_body())).json()
    subsidies = f"/v1/loans/{loan['id']}/subsidies"
    march = await client.post(
        subsidies,
        json={"period_start": "2024-03-01", "period_end": "2024-04-01", "on": "2024-04-02"},
    )
    april = await client.post(
        subsidies,
        json={"period_start": "2024-04-01", "period_end": "2024-05-01", "on": "2024-05-02"},
    )
    assert march.status_code == april.status_code == 201, (march.text, april.text)
    march, april = march.json(), april.json()
    pool = f"/v1/funds/{fund['id']}"
    before = (await client.get(pool)).json()["pool_balance"]

    earlier = await client.post(
        f"/v1/entries/{march['entry_id']}/reversal", json={"reason": "misuse", "on": "2024-05-10"}
    )
    assert april["entry_id"] in assert_problem(earlier, 409)["detail"]  # the latest goes first
    misuse = f"/v1/loans/{loan['id']}/misuse"
    assert_problem(await client.post(misuse, json={"on": "2024-04-15"}), 422, "#/body/on")

    reversed_ = await client.post(
        f"/v1/entries/{april['entry_id']}/reversal", json={"reason": "misuse", "on": "2024-05-10"}
    )
    assert reversed_.status_code == 201, reversed_.text
    # The reversed period is paid again before any later one: no month is left unpaid.
    may = await client.post(
        subsidies,
        json={"period_start": "2024-05-01", "period_end": "2024-06-01", "on": "2024-06-02"},
    )
    assert "2024-04-01" in assert_problem(may, 409)["detail"]
    read = (await client.get(f"/v1/loans/{loan['id']}")).json()
    assert read["subsidy_paid_until"] == "2024-04-01"
    listed = (await client.get(subsidies)).json()
    assert [(s["period_start"], s["reversed_on"]) for s in listed] == [
        ("2024-03-01", None),
        ("2024-04-01", "2024-05-10"),
    ]
    after = (await client.get(pool)).json()["pool_balance"]
    assert Decimal(after) - Decimal(before) == Decimal(april["amount"])
    again = await client.post(
        f"/v1/entries/{april['entry_id']}/reversal", json={"reason": "twice", "on": "2024-05-10"}
    )
    assert_problem(again, 409)

    # The misuse is now recorded on its own day, and April is paid again up to it.
    recorded = await client.post(misuse, json={"on": "2024-04-15", "note": "sold the cattle"})
    assert recorded.status_code == 200, recorded.text
    repaid = await client.post(
        subsidies,
        json={"period_start": "2024-04-01", "period_end": "2024-05-01", "on": "2024-05-11"},
    )
    assert repaid.status_code == 201, repaid.text
    assert (repaid.json()["period_end"], repaid.json()["days"]) == ("2024-04-15", 14)
    assert (await client.get("/v1/ledger/trial-balance")).json()["balanced"]


async def test_a_compensation_reversed_is_taken_off_the_loan(client, bank, borrower_household):
    loan = await defaulted_loan_and_risk_fund(client, bank)
    compensation = f"/v1/loans/{loan['id']}/compensation"
    paid = await client.post(compensation, json={"amount": "50000.00", "on": "2024-07-04"})
    assert paid.status_code == 201, paid.text

    reversed_ = await client.post(
        f"/v1/entries/{paid.json()['entry_id']}/reversal",
        json={"reason": "paid to the wrong bank", "on": "2024-07-05"},
    )
    assert reversed_.status_code == 201, reversed_.text
    assert (await client.get(f"/v1/loans/{loan['id']}")).json()["compensated"] == "0.00"
    fund = (await client.get(f"/v1/risk-compensation/{COUNTY}")).json()
    assert fund["balance"] == "150000.00"
    # The whole outstanding amount may be compensated again, once.
    again = await client.post(compensation, json={"amount": "50000.00", "on": "2024-07-06"})
    assert again.status_code == 201, again.text
    over = await client.post(compensation, json={"amount": "0.01", "on": "2024-07-06"})
    assert_problem(over, 422, "#/body/amount")
