"""Jurisdiction on every object: a neighbouring county's officer gets 404 on each object of
靖宇县 (220622) and 403 on commands naming its regions; lists show nothing of it."""

from datetime import date

from funds_testkit import (
    COUNTY,
    OTHER_COUNTY,
    after_notice,
    announced_project,
    assert_problem,
    open_fund,
    register_household,
)

from fupin_kit.testing.plugin import api_client


async def test_every_object_is_invisible_outside_the_jurisdiction(app, client, make_token):
    fund = await open_fund(client, amount="1000.00")
    household = await register_household(app)
    project = await announced_project(client, beneficiaries=[household])
    funding = (
        await client.post(
            f"/v1/projects/{project['id']}/fundings",
            json={"source": "central", "amount": "10.00", "on": after_notice(project)},
        )
    ).json()
    allocation = (
        await client.post(
            "/v1/allocations",
            json={"fund_id": fund["id"], "lines": [{"region_code": "220622100", "amount": "1.00"}]},
        )
    ).json()
    finding = (
        await client.post(
            "/v1/findings",
            json={
                "region_code": COUNTY,
                "finding_type": "late",
                "responsible_unit": "u",
                "description": "d",
                "deadline": "2099-01-01",
            },
        )
    ).json()
    await open_fund(client, source="social", amount="1.00", on=date(2020, 1, 1))
    anomaly = (
        await client.post("/v1/anomalies/scan", json={"region_code": COUNTY, "on": "2024-12-31"})
    ).json()[0]
    notice = next(
        n
        for n in (await client.get("/v1/public/announcements", params={"region": COUNTY})).json()[
            "items"
        ]
        if n["subject_id"] == project["id"]
    )
    objects = [
        f"/v1/funds/{fund['id']}",
        f"/v1/projects/{project['id']}",
        f"/v1/allocations/{allocation['id']}",
        f"/v1/accounts/{fund['pool_account_id']}",
        f"/v1/accounts/{fund['pool_account_id']}/statement",
        f"/v1/entries/{funding['entry_id']}",
        f"/v1/findings/{finding['id']}",
        f"/v1/anomalies/{anomaly['id']}",
        f"/v1/announcements/{notice['id']}/objections",
        f"/v1/households/{household}",
        f"/v1/regions/{COUNTY}",
        f"/v1/allocations/{allocation['id']}/export",
    ]
    for path in objects:
        assert (await client.get(path)).status_code == 200, path
    async with api_client(app, make_token(OTHER_COUNTY)) as neighbour:
        for path in objects:
            assert_problem(await neighbour.get(path), 404)
        for path in (
            "/v1/funds",
            "/v1/projects",
            "/v1/allocations",
            "/v1/accounts",
            "/v1/findings",
            "/v1/anomalies",
            "/v1/loans",
        ):
            assert (await neighbour.get(path)).json()["items"] == [], path
        commands = [
            (f"/v1/projects/{project['id']}/payments", {"amount": "1.00", "payee": "x"}, 404),
            (f"/v1/projects/{project['id']}/approve", {}, 404),
            (f"/v1/entries/{funding['entry_id']}/reversal", {"reason": "x"}, 404),
            (
                "/v1/funds",
                {
                    "region_code": COUNTY,
                    "source": "city",
                    "year": 2024,
                    "name": "x",
                    "amount": "1.00",
                },
                403,
            ),
            (
                "/v1/projects",
                {
                    "name": "x",
                    "project_type": "roads",
                    "year": 2024,
                    "region_code": COUNTY,
                    "village_codes": ["220622100001"],
                    "implementing_unit": "u",
                    "budget": [{"source": "central", "amount": "1.00"}],
                },
                403,
            ),
            (
                "/v1/findings",
                {
                    "region_code": COUNTY,
                    "finding_type": "x",
                    "responsible_unit": "u",
                    "description": "d",
                    "deadline": "2099-01-01",
                },
                403,
            ),
            (
                "/v1/household-subsidies",
                {
                    "household_id": household,
                    "source": "central",
                    "year": 2024,
                    "amount": "1.00",
                    "purpose": "x",
                },
                422,
            ),
            (
                f"/v1/risk-compensation/{COUNTY}/deposits",
                {"source": "central", "year": 2024, "amount": "1.00"},
                403,
            ),
        ]
        for path, body, status in commands:
            assert_problem(await neighbour.post(path, json=body), status)
    # Of the county's own office, a viewer reads and writes nothing, the express payment route
    # included; an unknown county's risk fund is not there.
    async with api_client(app, make_token(COUNTY, roles=["viewer"])) as viewer:
        for path in objects:
            assert (await viewer.get(path)).status_code == 200, path
        for path, body, _ in commands:
            refused = await viewer.post(path, json=body)
            assert_problem(refused, 403, "#/header/Authorization"), path
    async with api_client(app, make_token("22", roles=["viewer"])) as province:
        unknown = await province.get("/v1/risk-compensation/229999")
        assert_problem(unknown, 404, "#/path/county_code")
    async with api_client(app) as anonymous:
        assert_problem(await anonymous.get(f"/v1/funds/{fund['id']}"), 401)
    # Nothing the neighbour tried was written.
    assert (await client.get(f"/v1/projects/{project['id']}")).json()["paid"] == "0.00"
