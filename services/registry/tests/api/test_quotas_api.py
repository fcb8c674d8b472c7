"""Quotas over HTTP: split down the region tree, never above the parent, never negative."""

import uuid

from sqlalchemy import text

from fupin_kit.testing.plugin import api_client
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

PROBLEM = "application/problem+json"


def assert_problem(response, status, pointer=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    if pointer:
        assert pointer in [e["pointer"] for e in body.get("errors", [])], body
    return body


async def test_split_down_the_tree(client, app, make_token):
    province = make_token("22", roles=["officer"])
    async with api_client(app, province) as p:
        assert (await p.put("/v1/quotas/2206/2017", json={"quota": 1000})).status_code == 200
        first = await p.put("/v1/quotas/220622/2017", json={"quota": 600})
        assert first.status_code == 200, first.text
        assert first.json() == {
            "region_code": "220622",
            "region_name": "靖宇县",
            "year": 2017,
            "quota": 600,
            "parent_code": "2206",
            "set_by": "user:officer-1",
            "used": 0,
            "children_total": 0,
        }
        assert (await p.put("/v1/quotas/220621/2017", json={"quota": 400})).status_code == 200
        over = await p.put("/v1/quotas/220623/2017", json={"quota": 1})
        assert "would total 1001" in assert_problem(over, 409, "#/body/quota")["detail"]
        # changing a child is measured against its siblings, not against itself
        assert (await p.put("/v1/quotas/220622/2017", json={"quota": 550})).status_code == 200
        # the same quota again is answered as it stands, and changes nothing (no event)
        again = await p.put("/v1/quotas/220622/2017", json={"quota": 550})
        assert again.status_code == 200 and again.json()["quota"] == 550, again.text
        assert (await p.put("/v1/quotas/220623/2017", json={"quota": 50})).status_code == 200
        # a parent cannot drop below what it already split
        assert_problem(
            await p.put("/v1/quotas/2206/2017", json={"quota": 999}), 409, "#/body/quota"
        )
        assert (await p.put("/v1/quotas/2206/2017", json={"quota": 1000})).status_code == 200
        assert_problem(
            await p.put("/v1/quotas/220622/2017", json={"quota": -1}), 422, "#/body/quota"
        )
        assert_problem(
            await p.put("/v1/quotas/229999/2017", json={"quota": 1}), 422, "#/path/region_code"
        )
        assert_problem(await p.put("/v1/quotas/2206221/2017", json={"quota": 1}), 422)
        assert_problem(await p.put("/v1/quotas/220622/1999", json={"quota": 1}), 422)

        listed = (
            await p.get("/v1/quotas", params={"parent": "2206", "year": 2017, "limit": 2})
        ).json()
        assert [q["region_code"] for q in listed["items"]] == ["220621", "220622"]
        rest = (
            await p.get(
                "/v1/quotas",
                params={"parent": "2206", "year": 2017, "cursor": listed["next_cursor"]},
            )
        ).json()
        assert [q["region_code"] for q in rest["items"]] == ["220623"] and rest[
            "next_cursor"
        ] is None
        parent = (await p.get("/v1/quotas/2206/2017")).json()
        assert parent["children_total"] == 1000

    async with app.state.sessionmaker() as session:
        events = (
            (
                await session.execute(
                    text(
                        "SELECT payload FROM outbox"
                        " WHERE event_type = 'fupin.registry.quota.set.v1' AND key = '220622'"
                        " ORDER BY id"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert [e["data"]["quota"] for e in events] == [600, 550]
    assert events[0]["data"] == {
        "region_code": "220622",
        "year": 2017,
        "quota": 600,
        "parent_code": "2206",
    }


async def test_the_level_above_sets_a_quota(client, app, make_token):
    async with api_client(app, make_token("220622", roles=["officer"])) as county:
        own = await county.put("/v1/quotas/220622/2018", json={"quota": 10})
        assert_problem(own, 403)
        assert (
            await county.put("/v1/quotas/220622100/2018", json={"quota": 10})
        ).status_code == 200
        assert_problem(await county.put("/v1/quotas/220581/2018", json={"quota": 10}), 403)
        assert_problem(await county.get("/v1/quotas/220581/2018"), 404, "#/path/region_code")
        assert (await county.get("/v1/quotas", params={"parent": "2205", "year": 2018})).json()[
            "items"
        ] == []
    async with api_client(app, make_token("220622", roles=["auditor"])) as auditor:
        assert_problem(await auditor.put("/v1/quotas/220622100/2018", json={"quota": 10}), 403)
    # the test client is a provincial administrator: it may set any quota, the province's too
    assert (await client.put("/v1/quotas/22/2018", json={"quota": 100000})).status_code == 200
    assert_problem(await client.get("/v1/quotas/22/2019"), 404, "#/path/year")
    assert_problem(await client.get("/v1/quotas/229999/2018"), 404, "#/path/region_code")


async def test_a_level_without_quota_is_skipped_up_and_down(client, app, make_token):
    async with api_client(app, make_token("22", roles=["officer"])) as p:
        assert (await p.put("/v1/quotas/2206/2019", json={"quota": 100})).status_code == 200
        # no county quota: townships are held to the city's
        township = await p.put("/v1/quotas/220622100/2019", json={"quota": 1000})
        assert "above its quota of 100" in assert_problem(township, 409, "#/body/quota")["detail"]
        assert (await p.put("/v1/quotas/220622100/2019", json={"quota": 60})).status_code == 200
        sibling = await p.put("/v1/quotas/220622101/2019", json={"quota": 41})
        assert "would total 101" in assert_problem(sibling, 409, "#/body/quota")["detail"]
        assert (await p.put("/v1/quotas/220622101/2019", json={"quota": 40})).status_code == 200
        # a county set later must hold its townships, and share the city with its neighbours
        county = await p.put("/v1/quotas/220622/2019", json={"quota": 50})
        assert "total 100, more than 50" in assert_problem(county, 409, "#/body/quota")["detail"]
        neighbour = await p.put("/v1/quotas/220621/2019", json={"quota": 1})
        assert "would total 101" in assert_problem(neighbour, 409, "#/body/quota")["detail"]
        assert (await p.put("/v1/quotas/220622/2019", json={"quota": 100})).status_code == 200
        city = (await p.get("/v1/quotas/2206/2019")).json()
        assert city["children_total"] == 100
        # the city cannot drop below what its townships hold through the quota-less county
        assert (await p.put("/v1/quotas/220622/2019", json={"quota": 100})).status_code == 200
        assert_problem(await p.put("/v1/quotas/2206/2019", json={"quota": 99}), 409)


async def test_households_registered_without_an_approval_here_use_the_quota(client, app):
    """An imported (or demo) household registered in the year takes its members' places; an
    applicant does not."""
    people = PeopleFactory("220602", seed=uuid.uuid4().int)
    ids = []
    for size in (3, 2):
        members = [member_payload(people.id_number(), "韩一", "head")]
        members += [member_payload(people.id_number(), "韩二", "child") for _ in range(size - 1)]
        created = await client.post(
            "/v1/households",
            json=household_payload("220602001001", uuid.uuid4().hex[:8], members, year=2014),
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    async with app.state.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE households SET status = 'identified', registered_on = '2014-05-01'"
                " WHERE id = :h"
            ),
            {"h": ids[0]},
        )
        await session.commit()
    assert (await client.put("/v1/quotas/220602/2014", json={"quota": 10})).status_code == 200
    quota = (await client.get("/v1/quotas/220602/2014")).json()
    assert quota["used"] == 3
    lowered = await client.put("/v1/quotas/220602/2014", json={"quota": 2})
    assert assert_problem(lowered, 409)["used"] == 3


async def test_a_quota_is_a_json_integer_for_a_year_of_the_register(client, app, make_token):
    from fupin_events.values import business_today

    next_year = business_today().year + 1
    province = make_token("22", roles=["officer"])
    async with api_client(app, province) as p:
        for value in (True, "5", 5.0, 5.5, None):
            assert_problem(
                await p.put("/v1/quotas/2206/2019", json={"quota": value}), 422, "#/body/quota"
            )
        for year in (2012, next_year + 1):
            refused = await p.put(f"/v1/quotas/2206/{year}", json={"quota": 5})
            assert (
                "must lie between 2013 and next year"
                in assert_problem(refused, 422, "#/path/year")["errors"][0]["detail"]
            )
        planned = await p.put(f"/v1/quotas/2206/{next_year}", json={"quota": 5})
        assert planned.status_code == 200 and planned.json()["quota"] == 5
