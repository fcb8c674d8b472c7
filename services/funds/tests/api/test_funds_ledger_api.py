"""Funds, the ledger and disbursements through the API: balances, as-of dates, reversals,
idempotency, bad input with nothing written, the announcement gate."""

from datetime import date

import pytest
from funds_testkit import (
    COUNTY,
    after_notice,
    announced_project,
    assert_problem,
    change_status,
    open_fund,
    register_household,
)


async def trial_balance(client):
    body = (await client.get("/v1/ledger/trial-balance")).json()
    assert body["balanced"], body
    return body


async def test_totals_beyond_one_amounts_range_are_answered(client):
    """One amount has at most 12 integer digits; sums of them (a pool, a province's trial
    balance, the supervision report) may have more and are answered, not a 500."""
    most = "999999999999.00"
    fund = await open_fund(client, amount=most, on=date(2024, 1, 5))
    more = await client.post(
        f"/v1/funds/{fund['id']}/appropriations", json={"amount": most, "on": "2024-03-01"}
    )
    assert more.status_code == 201, more.text
    assert more.json()["pool_balance"] == "1999999999998.00"
    assert (await client.get(f"/v1/funds/{fund['id']}")).json()["appropriated"] == (
        "1999999999998.00"
    )
    await trial_balance(client)
    report = await client.get("/v1/supervision/report", params={"year": 2024})
    assert report.status_code == 200, report.text
    too_much = await client.post(
        f"/v1/funds/{fund['id']}/appropriations",
        json={"amount": "1000000000000.00", "on": "2024-03-02"},
    )
    assert_problem(too_much, 422, "#/body/amount")


async def test_fund_appropriation_and_balance_as_of(client):
    fund = await open_fund(client, amount="1000.00", on=date(2024, 1, 5))
    assert fund["pool_balance"] == "1000.00" and fund["appropriated"] == "1000.00"
    more = await client.post(
        f"/v1/funds/{fund['id']}/appropriations", json={"amount": "250.50", "on": "2024-03-01"}
    )
    assert more.status_code == 201, more.text
    assert more.json()["pool_balance"] == "1250.50"
    pool = fund["pool_account_id"]
    assert (await client.get(f"/v1/accounts/{pool}", params={"as_of": "2024-02-01"})).json()[
        "balance_as_of"
    ] == "1000.00"
    assert (await client.get(f"/v1/accounts/{pool}", params={"as_of": "2024-01-04"})).json()[
        "balance_as_of"
    ] == "0.00"
    assert (await client.get(f"/v1/accounts/{pool}", params={"as_of": "2024-03-01"})).json()[
        "balance_as_of"
    ] == "1250.50"
    statement = (await client.get(f"/v1/accounts/{pool}/statement")).json()
    assert [line["running_balance"] for line in statement["lines"]] == ["1000.00", "1250.50"]
    await trial_balance(client)


async def test_duplicate_fund_is_conflict(client):
    await open_fund(client, source="county", year=2023)
    again = await client.post(
        "/v1/funds",
        json={
            "region_code": COUNTY,
            "source": "county",
            "year": 2023,
            "name": "x",
            "amount": "1.00",
        },
    )
    assert_problem(again, 409)


@pytest.mark.parametrize(
    ("amount", "pointer"),
    [
        ("0", "#/body/amount"),
        ("-5.00", "#/body/amount"),
        ("1.005", "#/body/amount"),
        (1.5, "#/body/amount"),
    ],
)
async def test_bad_amounts_are_named_and_nothing_written(client, amount, pointer):
    before = (await client.get("/v1/funds")).json()["items"]
    response = await client.post(
        "/v1/funds",
        json={"region_code": COUNTY, "source": "city", "year": 2022, "name": "x", "amount": amount},
    )
    assert_problem(response, 422, pointer)
    assert (await client.get("/v1/funds")).json()["items"] == before


async def test_unknown_region_is_refused(client):
    response = await client.post(
        "/v1/funds",
        json={
            "region_code": "229999",
            "source": "city",
            "year": 2022,
            "name": "x",
            "amount": "1.00",
        },
    )
    assert_problem(response, 422, "#/body/region_code")


async def test_disbursement_gate_budget_balance_and_reversal(client, app):
    fund = await open_fund(client, amount="60000.00")
    household = await register_household(app)
    project = await announced_project(client, beneficiaries=[household])
    pid = project["id"]

    # During the notice period no money moves.
    early = await client.post(
        f"/v1/projects/{pid}/fundings",
        json={"source": "central", "amount": "100.00", "on": "2024-02-12"},
    )
    body = assert_problem(early, 409)
    assert "notice" in body["detail"]

    on = after_notice(project)
    over_budget = await client.post(
        f"/v1/projects/{pid}/fundings", json={"source": "central", "amount": "50000.01", "on": on}
    )
    assert_problem(over_budget, 422, "#/body/amount")
    wrong_source = await client.post(
        f"/v1/projects/{pid}/fundings", json={"source": "city", "amount": "1.00", "on": on}
    )
    assert_problem(wrong_source, 422, "#/body/source")

    funded = await client.post(
        f"/v1/projects/{pid}/fundings", json={"source": "central", "amount": "1000.00", "on": on}
    )
    assert funded.status_code == 201, funded.text
    project_account = funded.json()["to_account_id"]

    beyond = await client.post(
        f"/v1/projects/{pid}/payments", json={"amount": "1000.01", "payee": "builder", "on": on}
    )
    body = assert_problem(beyond, 409, "#/body/amount")
    assert body["account_id"] == project_account

    paid = await client.post(
        f"/v1/projects/{pid}/payments",
        json={"amount": "300.00", "household_id": household, "on": on},
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["kind"] == "household_payment"
    stranger = await client.post(
        f"/v1/projects/{pid}/payments", json={"amount": "1.00", "household_id": "nobody", "on": on}
    )
    assert_problem(stranger, 422, "#/body/household_id")

    assert (await client.get(f"/v1/accounts/{project_account}")).json()["balance"] == "700.00"
    reversal = await client.post(
        f"/v1/entries/{paid.json()['entry_id']}/reversal", json={"reason": "wrong amount", "on": on}
    )
    assert reversal.status_code == 201, reversal.text
    assert reversal.json()["reverses_entry_id"] == paid.json()["entry_id"]
    assert (await client.get(f"/v1/accounts/{project_account}")).json()["balance"] == "1000.00"
    twice = await client.post(
        f"/v1/entries/{paid.json()['entry_id']}/reversal", json={"reason": "again", "on": on}
    )
    assert_problem(twice, 409)
    read = (await client.get(f"/v1/projects/{pid}")).json()
    assert read["funded"] == "1000.00" and read["paid"] == "0.00"
    pool = (await client.get(f"/v1/accounts/{fund['pool_account_id']}")).json()
    assert pool["balance"] == "59000.00"
    await trial_balance(client)


async def test_backdated_disbursement_is_refused(client, app):
    await open_fund(client, amount="5000.00")
    project = await announced_project(client)
    on = after_notice(project)
    ok = await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": "10.00", "on": "2024-03-10"},
    )
    assert ok.status_code == 201, ok.text
    backdated = await client.post(
        f"/v1/projects/{project['id']}/payments", json={"amount": "1.00", "payee": "x", "on": on}
    )
    assert_problem(backdated, 422, "#/body/on")


async def test_household_eligibility_on_payment_date(client, app):
    await open_fund(client, amount="5000.00")
    household = await register_household(app)
    project = await announced_project(client, beneficiaries=[household])
    await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": "100.00", "on": "2024-03-01"},
    )
    await change_status(app, household, "removed", date(2024, 3, 2))
    refused = await client.post(
        f"/v1/projects/{project['id']}/payments",
        json={"amount": "10.00", "household_id": household, "on": "2024-03-03"},
    )
    body = assert_problem(refused, 422, "#/body/household_id")
    assert "removed" in body["detail"]


async def test_idempotent_disbursement_replays(client):
    await open_fund(client, amount="5000.00")
    project = await announced_project(client)
    request = {"source": "central", "amount": "100.00", "on": after_notice(project)}
    headers = {"Idempotency-Key": "fund-once"}
    first = await client.post(
        f"/v1/projects/{project['id']}/fundings", json=request, headers=headers
    )
    second = await client.post(
        f"/v1/projects/{project['id']}/fundings", json=request, headers=headers
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert (await client.get(f"/v1/projects/{project['id']}")).json()["funded"] == "100.00"
    reused = await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={**request, "amount": "101.00"},
        headers=headers,
    )
    assert_problem(reused, 422, "#/header/Idempotency-Key")


async def test_statement_and_project_exports(client):
    import io

    from openpyxl import load_workbook

    fund = await open_fund(client, amount="5000.00")
    project = await announced_project(client)
    on = after_notice(project)
    await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": "120.50", "on": on},
    )
    pool = fund["pool_account_id"]
    csv_statement = await client.get(
        f"/v1/accounts/{pool}/statement", params={"format": "csv", "from": "2024-01-01"}
    )
    assert csv_statement.status_code == 200 and csv_statement.headers["content-type"].startswith(
        "text/csv"
    )
    lines = csv_statement.text.lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("entry_id,booked_on,kind,side,amount,running_balance")
    assert lines[-1].split(",")[5] == "4879.50"
    xlsx = await client.get(f"/v1/accounts/{pool}/statement", params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]][:3] == ["entry_id", "booked_on", "kind"]
    assert sheet.cell(row=3, column=6).value == "4879.50"  # amounts stay exact text
    out_of_order = await client.get(
        f"/v1/accounts/{pool}/statement", params={"from": "2024-03-01", "to": "2024-02-01"}
    )
    assert_problem(out_of_order, 422, "#/query/to")
    projects = await client.get("/v1/projects/export", params={"format": "xlsx"})
    rows = list(load_workbook(io.BytesIO(projects.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("id", "name", "type")
    exported = next(r for r in rows if r[0] == project["id"])
    assert exported[8] == "announced" and exported[10] == "120.50"


async def test_an_export_beyond_its_row_limit_is_refused_not_cut(app, client, monkeypatch):
    fund = await open_fund(client, amount="5000.00")
    project = await announced_project(client)
    await announced_project(client)
    await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": "1.00", "on": after_notice(project)},
    )
    settings = app.state.settings.model_copy(update={"export_max_rows": 1})
    monkeypatch.setattr(app.state, "settings", settings)
    statement = await client.get(f"/v1/accounts/{fund['pool_account_id']}/statement")
    assert_problem(statement, 422, "#/query/to")
    assert_problem(await client.get("/v1/projects/export"), 422, "#/query/year")


async def test_exports_write_caller_text_inert(client):
    import io
    import zipfile

    from funds_testkit import project_body

    name = '=HYPERLINK("http://example.invalid/x","details")'
    created = await client.post(
        "/v1/projects", json=project_body(name=name, implementing_unit="=1+1")
    )
    assert created.status_code == 201, created.text
    csv_export = await client.get("/v1/projects/export", params={"format": "csv"})
    line = next(r for r in csv_export.text.splitlines() if r.startswith(created.json()["id"]))
    assert "'=HYPERLINK" in line and "'=1+1" in line
    xlsx = await client.get("/v1/projects/export", params={"format": "xlsx"})
    with zipfile.ZipFile(io.BytesIO(xlsx.content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = (
            book.read("xl/sharedStrings.xml").decode()
            if "xl/sharedStrings.xml" in (book.namelist())
            else ""
        )
    assert "<f>" not in sheet  # no formula cell at all
    assert "'=HYPERLINK" in sheet + strings


async def test_reading_a_fund_writes_nothing(app, client):
    """A fund without accounts yet (opened before they were made at opening) reads as empty,
    and the read creates none."""
    import uuid

    from sqlalchemy import text

    fund_id = str(uuid.uuid4())
    async with app.state.sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO funds (id, region_code, source, year, name, created_by)"
                " VALUES (:id, :region, 'provincial', 2011, 'legacy', 'test')"
            ),
            {"id": fund_id, "region": COUNTY},
        )
        await session.commit()
        before = await session.scalar(text("SELECT count(*) FROM accounts"))
    try:
        read = await client.get(f"/v1/funds/{fund_id}")
        assert read.status_code == 200, read.text
        assert read.json()["pool_account_id"] is None and read.json()["pool_balance"] == "0.00"
        async with app.state.sessionmaker() as session:
            assert await session.scalar(text("SELECT count(*) FROM accounts")) == before
    finally:
        async with app.state.sessionmaker() as session:
            await session.execute(text("DELETE FROM funds WHERE id = :id"), {"id": fund_id})
            await session.commit()
