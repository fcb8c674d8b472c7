"""Allocation down the region tree: formula with registry population and assessments, approval by
the owning level, public notice and objections, release, manual lines over the parent."""

from datetime import date, timedelta
from decimal import Decimal

from funds_testkit import assert_problem, open_fund, register_household

from fupin_events.values import business_today
from fupin_funds.allocations.repository import AllocationRepository
from fupin_kit.testing.plugin import api_client

CITY = "2206"
COUNTIES = ["220602", "220605", "220621", "220622", "220623", "220681"]


async def set_factor_values(client, code, values):
    response = await client.put(
        f"/v1/allocation-factors/{code}/values",
        json={
            "year": 2024,
            "values": [{"region_code": c, "value": str(v)} for c, v in values.items()],
        },
    )
    assert response.status_code == 200, response.text


async def test_factor_values_name_a_region_listed_twice(client):
    response = await client.put(
        "/v1/allocation-factors/poverty_incidence/values",
        json={
            "year": 2024,
            "values": [
                {"region_code": "220602", "value": "1"},
                {"region_code": "220605", "value": "1"},
                {"region_code": "220602", "value": "2"},
            ],
        },
    )
    assert "220602 is listed twice" in assert_problem(response, 422, "#/body/values/2")["detail"]


async def seed_formula_inputs(app, client):
    for index, county in enumerate(COUNTIES):
        # Registered poor population from the registry read model: (index + 1) households of 2.
        for n in range(index + 1):
            await register_household(
                app,
                household_id=f"alloc-{county}-{n}",
                village=f"{county}100001" if county != "220622" else "220622100001",
                members=2,
            )
    await set_factor_values(client, "poverty_incidence", {c: 5 + i for i, c in enumerate(COUNTIES)})
    await set_factor_values(
        client, "fiscal_capacity", {c: 1000 * (i + 1) for i, c in enumerate(COUNTIES)}
    )
    async with app.state.sessionmaker() as session:
        repository = AllocationRepository(session)
        for county, score, year in [
            ("220602", "90", 2023),
            ("220605", "60", 2023),
            ("220602", "70", 2022),
        ]:
            await repository.upsert_assessment(
                {
                    "assessment_id": f"a-{county}-{year}",
                    "county_code": county,
                    "year": year,
                    "score": Decimal(score),
                    "grade": "good",
                    "gdp_excluded": False,
                    "published_on": date(year + 1, 1, 15),
                }
            )
        await session.commit()


async def test_formula_allocation_is_exact_explained_and_gated(app, client, make_token):
    fund = await open_fund(client, region=CITY, amount="1000000.00")
    await seed_formula_inputs(app, client)
    proposed = await client.post(
        "/v1/allocations", json={"fund_id": fund["id"], "total": "600000.01", "on": "2024-03-01"}
    )
    assert proposed.status_code == 201, proposed.text
    allocation = proposed.json()
    lines = {line["region_code"]: line for line in allocation["lines"]}
    assert set(lines) == set(COUNTIES)
    assert sum(Decimal(line["amount"]) for line in lines.values()) == Decimal("600000.01")
    assert allocation["award_pool"] == "120000.00"  # 20% by default
    # Award by the latest published scores only: 90 and 60 (the 2022 score of 220602 is older).
    assert (
        lines["220602"]["award_amount"] == "72000.00"
        and lines["220605"]["award_amount"] == "48000.00"
    )
    assert lines["220621"]["award_amount"] == "0.00"
    computation = lines["220681"]["computation"]
    assert {f["factor"] for f in computation["factors"]} == {
        "poor_population",
        "poverty_incidence",
        "fiscal_capacity",
    }
    assert [f["value"] for f in computation["factors"] if f["factor"] == "poor_population"] == [
        "12"
    ]
    # The children named in any order split the same way (a rounding tie goes to the earlier
    # region code), and the lines come in code order.
    reordered = await client.post(
        "/v1/allocations",
        json={
            "fund_id": fund["id"],
            "total": "600000.01",
            "children": sorted(lines, reverse=True),
            "on": "2024-03-01",
        },
    )
    assert reordered.status_code == 201, reordered.text
    assert [(x["region_code"], x["amount"]) for x in reordered.json()["lines"]] == [
        (code, lines[code]["amount"]) for code in sorted(lines)
    ]

    # Approval by the owning level only.
    async with api_client(app, make_token("220622")) as county:
        assert_problem(
            await county.post(
                f"/v1/allocations/{allocation['id']}/approve", json={"on": "2024-03-02"}
            ),
            404,
        )
    async with api_client(app, make_token("22")) as province:
        assert_problem(
            await province.post(
                f"/v1/allocations/{allocation['id']}/approve", json={"on": "2024-03-02"}
            ),
            403,
        )
    async with api_client(app, make_token(CITY)) as city:
        approved = await city.post(
            f"/v1/allocations/{allocation['id']}/approve", json={"on": "2024-03-02"}
        )
        assert approved.status_code == 200, approved.text
        # Seven days counted from the day after the approval, as the Civil Code counts them.
        assert approved.json()["notice_ends_on"] == "2024-03-09"
        pool = (await city.get(f"/v1/funds/{fund['id']}")).json()
        assert pool["pool_balance"] == "399999.99"  # reserved while in notice
        early = await city.post(
            f"/v1/allocations/{allocation['id']}/release", json={"on": "2024-03-09"}
        )
        assert_problem(early, 409)
        released = await city.post(
            f"/v1/allocations/{allocation['id']}/release", json={"on": "2024-03-10"}
        )
        assert released.status_code == 200, released.text
        again = await city.post(
            f"/v1/allocations/{allocation['id']}/approve", json={"on": "2024-03-10"}
        )
        assert_problem(again, 409)
    county_funds = (await client.get("/v1/funds", params={"year": 2024})).json()["items"]
    by_region = {f["region_code"]: f["pool_balance"] for f in county_funds}
    assert by_region["220602"] == lines["220602"]["amount"]
    export = await client.get(
        f"/v1/allocations/{allocation['id']}/export", params={"format": "csv"}
    )
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "220602" in export.text and "600000.01" in export.text
    xlsx = await client.get(f"/v1/allocations/{allocation['id']}/export")
    assert xlsx.content[:2] == b"PK"
    assert (await client.get("/v1/ledger/trial-balance")).json()["balanced"]


async def test_manual_lines_above_the_parent_and_wrong_children_are_refused(client):
    fund = await open_fund(client, region=CITY, source="provincial", amount="100.00")
    over = await client.post(
        "/v1/allocations",
        json={
            "fund_id": fund["id"],
            "lines": [
                {"region_code": "220602", "amount": "60.00"},
                {"region_code": "220605", "amount": "40.01"},
            ],
        },
    )
    assert_problem(over, 422, "#/body/lines")
    outside = await client.post(
        "/v1/allocations",
        json={"fund_id": fund["id"], "lines": [{"region_code": "220581", "amount": "1.00"}]},
    )
    assert_problem(outside, 422, "#/body/lines/0")
    mismatch = await client.post(
        "/v1/allocations",
        json={
            "fund_id": fund["id"],
            "total": "10.00",
            "lines": [{"region_code": "220602", "amount": "9.99"}],
        },
    )
    assert_problem(mismatch, 422, "#/body/total")
    missing_factor = await client.post(
        "/v1/allocations", json={"fund_id": fund["id"], "total": "10.00"}
    )
    assert_problem(missing_factor, 422)
    for unknown in ("0", "00000000-0000-0000-0000-000000000000"):
        absent = await client.post(
            "/v1/allocations",
            json={"fund_id": unknown, "lines": [{"region_code": "220602", "amount": "1.00"}]},
        )
        assert_problem(absent, 404, "#/body/fund_id")
    assert (await client.get("/v1/allocations")).json()["items"] == []


async def approved_in_notice(app, client, make_token) -> tuple[dict, str, dict]:
    """A city allocation of 30.00 to 220602, approved today: its fund, id and running notice."""
    fund = await open_fund(client, region=CITY, source="city", amount="100.00", on=date(2024, 1, 2))
    proposal = await client.post(
        "/v1/allocations",
        json={
            "fund_id": fund["id"],
            "lines": [{"region_code": "220602", "amount": "30.00"}],
            "on": "2024-01-03",
        },
    )
    allocation_id = proposal.json()["id"]
    today = business_today().isoformat()
    async with api_client(app, make_token(CITY)) as city:
        approved = await city.post(f"/v1/allocations/{allocation_id}/approve", json={"on": today})
        assert approved.status_code == 200, approved.text
        notices = (
            await city.get("/v1/public/announcements", params={"region": CITY, "active_on": today})
        ).json()
    notice = next(n for n in notices["items"] if n["subject_id"] == allocation_id)
    return fund, allocation_id, notice


async def test_upheld_objection_withdraws_the_allocation_and_returns_the_money(
    app, client, make_token
):
    fund, allocation_id, notice = await approved_in_notice(app, client, make_token)
    async with api_client(app) as anyone:
        filed = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections",
            json={"text": "220602 got too much"},
        )
        assert filed.status_code == 201, filed.text
    # Decided by the level that holds the money (分级负责), not by the province above it.
    async with api_client(app, make_token("22")) as province:
        above = await province.post(
            f"/v1/objections/{filed.json()['id']}/resolution",
            json={"outcome": "upheld", "resolution": "recompute"},
        )
        assert_problem(above, 403)
        assert (await province.get(f"/v1/allocations/{allocation_id}")).json()["status"] == (
            "approved"
        )
    async with api_client(app, make_token(CITY)) as city:
        resolved = await city.post(
            f"/v1/objections/{filed.json()['id']}/resolution",
            json={"outcome": "upheld", "resolution": "recompute"},
        )
        assert resolved.status_code == 200, resolved.text
        allocation = (await city.get(f"/v1/allocations/{allocation_id}")).json()
        assert allocation["status"] == "rejected"
        assert (await city.get(f"/v1/funds/{fund['id']}")).json()["pool_balance"] == "100.00"


async def test_an_objection_cannot_withdraw_a_released_allocation_and_says_why(
    app, client, make_token
):
    _, allocation_id, notice = await approved_in_notice(app, client, make_token)
    today = business_today()
    async with api_client(app, make_token(CITY)) as city:
        # released on a date given ahead of the notice's end (outside production only)
        ahead = (today + timedelta(days=30)).isoformat()
        released = await city.post(f"/v1/allocations/{allocation_id}/release", json={"on": ahead})
        assert released.status_code == 200, released.text
    async with api_client(app) as anyone:
        filed = await anyone.post(
            f"/v1/public/announcements/{notice['id']}/objections", json={"text": "too much"}
        )
        assert filed.status_code == 201, filed.text
    async with api_client(app, make_token(CITY)) as city:
        refused = await city.post(
            f"/v1/objections/{filed.json()['id']}/resolution",
            json={"outcome": "upheld", "resolution": "recompute", "on": ahead},
        )
        assert "supervision finding" in assert_problem(refused, 409)["detail"]
        dismissed = await city.post(
            f"/v1/objections/{filed.json()['id']}/resolution",
            json={"outcome": "dismissed", "resolution": "released: see finding", "on": ahead},
        )
        assert dismissed.status_code == 200, dismissed.text
        assert (await city.get(f"/v1/allocations/{allocation_id}")).json()["status"] == "released"


async def test_factor_weights_are_data_with_etags(client, make_token, app):
    read = await client.get("/v1/allocation-factors/poverty_incidence")
    etag = read.headers["etag"]
    assert not etag.startswith("W/")  # a version is a strong validator
    assert_problem(
        await client.patch(
            "/v1/allocation-factors/poverty_incidence",
            json={"weight": "0.4"},
            headers={"If-Match": f"W/{etag}"},
        ),
        412,
    )
    assert_problem(
        await client.patch("/v1/allocation-factors/poverty_incidence", json={"weight": "0.4"}), 428
    )
    assert_problem(
        await client.patch(
            "/v1/allocation-factors/poverty_incidence",
            json={"weight": "0.4"},
            headers={"If-Match": 'W/"x"'},
        ),
        412,
    )
    # The largest weight the schema allows is stored; one above it is refused on the weight.
    for weight, status in (("1000", 422), ("999.999999", 200)):
        created = await client.post(
            "/v1/allocation-factors",
            json={"code": f"w_{status}", "name": "n", "direction": "direct", "weight": weight},
        )
        assert created.status_code in (status, 201), created.text
        if status == 422:
            assert_problem(created, 422, "#/body/weight")
    changed = await client.patch(
        "/v1/allocation-factors/poverty_incidence",
        json={"weight": "0.4"},
        headers={"If-Match": etag},
    )
    assert changed.status_code == 200 and Decimal(changed.json()["weight"]) == Decimal("0.4")
    async with api_client(app, make_token("220622")) as county:
        refused = await county.patch(
            "/v1/allocation-factors/poverty_incidence",
            json={"weight": "0.1"},
            headers={"If-Match": "*"},
        )
        assert_problem(refused, 403)


async def test_a_line_rounded_to_nothing_is_skipped_on_release(app, client, make_token):
    fund = await open_fund(client, region=CITY, amount="1000000.00")
    await seed_formula_inputs(app, client)
    proposed = await client.post(
        "/v1/allocations", json={"fund_id": fund["id"], "total": "0.05", "on": "2024-03-01"}
    )
    assert proposed.status_code == 201, proposed.text
    allocation = proposed.json()
    lines = {line["region_code"]: line["amount"] for line in allocation["lines"]}
    assert "0.00" in lines.values()
    assert sum(Decimal(amount) for amount in lines.values()) == Decimal("0.05")
    async with api_client(app, make_token(CITY)) as city:
        approved = await city.post(
            f"/v1/allocations/{allocation['id']}/approve", json={"on": "2024-03-02"}
        )
        assert approved.status_code == 200, approved.text
        released = await city.post(
            f"/v1/allocations/{allocation['id']}/release", json={"on": "2024-03-10"}
        )
        assert released.status_code == 200, released.text
        assert released.json()["status"] == "released"
    pools = (await client.get("/v1/funds", params={"year": 2024})).json()["items"]
    by_region = {f["region_code"]: f["pool_balance"] for f in pools}
    assert by_region[CITY] == "999999.95"
    for region, amount in lines.items():
        assert by_region.get(region, "0.00") == amount
    assert (await client.get("/v1/ledger/trial-balance")).json()["balanced"]


async def test_approval_beyond_the_parent_balance_names_the_allocation(app, client, make_token):
    fund = await open_fund(client, region=CITY, source="city", amount="100.00", on=date(2024, 1, 2))
    ids = []
    for amount in ("60.00", "50.00"):
        proposal = await client.post(
            "/v1/allocations",
            json={
                "fund_id": fund["id"],
                "lines": [{"region_code": "220602", "amount": amount}],
                "on": "2024-01-03",
            },
        )
        assert proposal.status_code == 201, proposal.text
        ids.append(proposal.json()["id"])
    async with api_client(app, make_token(CITY)) as city:
        first = await city.post(f"/v1/allocations/{ids[0]}/approve", json={"on": "2024-01-04"})
        assert first.status_code == 200, first.text
        second = await city.post(f"/v1/allocations/{ids[1]}/approve", json={"on": "2024-01-04"})
        body = assert_problem(second, 409, "#/path/allocation_id")
        assert body["type"].endswith("insufficient-funds")
        assert (await city.get(f"/v1/allocations/{ids[1]}")).json()["status"] == "proposed"
        # Turned down instead, on a day after its proposal.
        early = await city.post(
            f"/v1/allocations/{ids[1]}/reject", json={"note": "no money", "on": "2024-01-02"}
        )
        assert "dates out of order" in assert_problem(early, 422, "#/body/on")["detail"]
        rejected = await city.post(
            f"/v1/allocations/{ids[1]}/reject", json={"note": "no money", "on": "2024-01-04"}
        )
        assert rejected.json()["status"] == "rejected", rejected.text
