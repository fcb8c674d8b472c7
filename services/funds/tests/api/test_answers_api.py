"""A command's answer, its replay and every later read of the same object write each number the
same way: money with two decimals, rates, shares, weights and factor values with the places of
their column, whatever form the request gave them in ("100", "10.5", "0.5", "1E+1")."""

from datetime import date

from funds_testkit import (
    COUNTY,
    after_notice,
    announced_project,
    open_fund,
    project_body,
    register_household,
    resident_id,
)

from fupin_funds.common.privacy import Privacy
from fupin_kit.testing.plugin import api_client

BORROWER = resident_id(date(1985, 5, 20), 231)


async def command(client, method: str, path: str, body: dict, key: str | None = None) -> dict:
    """The answer, checked against the replay of the same request when sent with ``key``."""
    headers = {"Idempotency-Key": key} if key else {}
    answer = await client.request(method, path, json=body, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    if key:
        replay = await client.request(method, path, json=body, headers=headers)
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == answer.json()
    return answer.json()


async def read(client, path: str) -> dict:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def test_money_reads_as_it_was_answered(app, client):
    fund = await command(
        client,
        "POST",
        "/v1/funds",
        {
            "region_code": COUNTY,
            "source": "central",
            "year": 2024,
            "name": "central 2024",
            "amount": "100000",
            "on": "2024-01-05",
        },
        key="open-fund",
    )
    assert fund["appropriated"] == "100000.00"
    assert fund == await read(client, f"/v1/funds/{fund['id']}")
    topped_up = await command(
        client,
        "POST",
        f"/v1/funds/{fund['id']}/appropriations",
        {"amount": "0.5", "on": "2024-01-06"},
        key="top-up",
    )
    assert topped_up["pool_balance"] == "100000.50"
    assert topped_up == await read(client, f"/v1/funds/{fund['id']}")

    household = await register_household(app)
    proposed = await command(
        client,
        "POST",
        "/v1/projects",
        project_body(beneficiaries=[household], budget=[{"source": "central", "amount": "500.5"}]),
        key="propose",
    )
    assert proposed["budget_total"] == "500.50"
    assert proposed == await read(client, f"/v1/projects/{proposed['id']}")

    allocation = await command(
        client,
        "POST",
        "/v1/allocations",
        {"fund_id": fund["id"], "lines": [{"region_code": "220622100", "amount": "10.5"}]},
        key="allocate",
    )
    assert allocation["lines"][0]["amount"] == "10.50" and allocation["award_share"] == "0.0000"
    assert allocation == await read(client, f"/v1/allocations/{allocation['id']}")

    project = await announced_project(client, beneficiaries=[household])
    on = after_notice(project)
    funding = await command(
        client,
        "POST",
        f"/v1/projects/{project['id']}/fundings",
        {"source": "central", "amount": "100", "on": on},
        key="fund-project",
    )
    payment = await command(  # the express route
        client,
        "POST",
        f"/v1/projects/{project['id']}/payments",
        {"amount": "10.5", "household_id": household, "on": on},
        key="pay",
    )
    for answer in (funding, payment):
        entry = await read(client, f"/v1/entries/{answer['entry_id']}")
        assert answer["amount"] == entry["amount"] and "." in entry["amount"]
    assert payment["amount"] == "10.50"


async def test_rates_shares_and_weights_read_as_they_were_answered(
    app, client, make_token, settings
):
    """These are stored with a fixed scale (numeric(8,6), (5,4), (9,6), (20,6)); the answer built
    from the request's value writes them with the same places as a read of the stored one."""
    fund = await open_fund(client, region="2206", source="provincial", amount="1000.00")
    allocation = await command(
        client,
        "POST",
        "/v1/allocations",
        {"fund_id": fund["id"], "lines": [{"region_code": COUNTY, "amount": "10.00"}]},
        key="allocate",
    )
    assert allocation["award_share"] == "0.0000"
    assert allocation == await read(client, f"/v1/allocations/{allocation['id']}")

    created = await client.post(
        "/v1/allocation-factors",
        json={"code": "road_distance", "name": "distance", "direction": "direct", "weight": "0.5"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["weight"] == "0.500000"
    assert created.json() == await read(client, "/v1/allocation-factors/road_distance")
    changed = await client.patch(
        "/v1/allocation-factors/road_distance",
        json={"weight": "1E+1"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["weight"] == "10.000000"
    assert changed.json() == await read(client, "/v1/allocation-factors/road_distance")
    values = await client.put(
        "/v1/allocation-factors/road_distance/values",
        json={"year": 2024, "values": [{"region_code": COUNTY, "value": "12.5"}]},
    )
    assert values.status_code == 200, values.text
    assert values.json()[0]["value"] == "12.500000"
    assert values.json() == await read(
        client, "/v1/allocation-factors/road_distance/values?year=2024"
    )

    index = Privacy(settings).index.hex(BORROWER)
    await register_household(app, member_indexes=[index], registered_on=date(2023, 1, 1))
    bank_token = make_token("22", scopes=["loans:report"], roles=["partner"], client_id="bank-1")
    async with api_client(app, bank_token) as bank:
        loan = await command(
            bank,
            "POST",
            "/v1/loans",
            {
                "bank_loan_ref": "L-1",
                "borrower_id_number": BORROWER,
                "amount": "5000",
                "term_months": 36,
                "annual_rate": "0.0435",
                "start_date": "2024-03-01",
                "purpose": "cattle",
                "product": "microcredit",
            },
            key="report-loan",
        )
        assert loan["annual_rate"] == "0.043500" and loan["amount"] == "5000.00"
        assert loan == await read(bank, f"/v1/loans/{loan['id']}")
