"""Statistics over HTTP: computed in SQL now and as of a past date, with poverty incidence."""

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from fupin_events.values import business_today
from fupin_kit.testing.plugin import api_client
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

TOWNSHIP = "220622103"  # 那尔轰镇
VILLAGE_A = "220622103200"
VILLAGE_B = "220622103201"


@pytest.fixture
def people():
    return PeopleFactory("220622", seed=uuid.uuid4().int)


async def register(client, people, village, size, **fields):
    members = [member_payload(people.id_number(), "孙立", "head")]
    members += [member_payload(people.id_number(), "孙二", "child") for _ in range(size - 1)]
    response = await client.post(
        "/v1/households",
        json=household_payload(village, uuid.uuid4().hex[:8], members, year=2016, **fields),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def identify(app, household_id, on="2016-06-01"):
    async with app.state.sessionmaker() as session:
        await session.execute(
            text("UPDATE households SET status = 'identified', registered_on = :d WHERE id = :h"),
            {"h": household_id, "d": date.fromisoformat(on)},
        )
        await session.commit()


async def test_register_statistics_by_status_attribute_and_cause(client, app, people):
    a1 = await register(
        client,
        people,
        VILLAGE_A,
        3,
        attribute="dibao",
        primary_cause="illness",
        secondary_causes=[],
    )
    await register(
        client,
        people,
        VILLAGE_A,
        2,
        attribute="ordinary_poor",
        primary_cause="disaster",
        secondary_causes=[],
    )
    await register(
        client,
        people,
        VILLAGE_B,
        4,
        attribute="dibao",
        primary_cause="illness",
        secondary_causes=[],
    )
    await identify(app, a1["id"])

    by_status = (
        await client.get(
            "/v1/statistics/register",
            params={"region": TOWNSHIP, "level": "village", "by": "status"},
        )
    ).json()
    rows = {(r["region_code"], r["key"]): (r["households"], r["people"]) for r in by_status["rows"]}
    assert rows == {
        (VILLAGE_A, "applied"): (1, 2),
        (VILLAGE_A, "identified"): (1, 3),
        (VILLAGE_B, "applied"): (1, 4),
    }
    assert [r["region_name"] for r in by_status["rows"]] == ["那尔轰村", "那尔轰村", "小西头村"]

    by_cause = (
        await client.get(
            "/v1/statistics/register",
            params={"region": TOWNSHIP, "level": "township", "by": "cause"},
        )
    ).json()
    assert {(r["key"], r["households"], r["people"]) for r in by_cause["rows"]} == {
        ("illness", 2, 7),
        ("disaster", 1, 2),
    }
    by_attribute = (
        await client.get(
            "/v1/statistics/register",
            params={"region": TOWNSHIP, "level": "township", "by": "attribute"},
        )
    ).json()
    assert {(r["key"], r["people"]) for r in by_attribute["rows"]} == {
        ("dibao", 7),
        ("ordinary_poor", 2),
    }
    totals = (
        await client.get(
            "/v1/statistics/register", params={"region": TOWNSHIP, "level": "township"}
        )
    ).json()
    assert totals["rows"] == [
        {
            "region_code": TOWNSHIP,
            "region_name": "那尔轰镇",
            "key": None,
            "households": 3,
            "people": 9,
        }
    ]
    assert (
        await client.get(
            "/v1/statistics/register",
            params={"region": TOWNSHIP, "level": "township", "year": 2015},
        )
    ).json()["rows"] == []
    # poor households only, by cause: the applicants are left out
    poor_by_cause = (
        await client.get(
            "/v1/statistics/register",
            params=[
                ("region", TOWNSHIP),
                ("level", "township"),
                ("by", "cause"),
                ("status", "identified"),
                ("status", "returned"),
            ],
        )
    ).json()
    assert {(r["key"], r["households"], r["people"]) for r in poor_by_cause["rows"]} == {
        ("illness", 1, 3)
    }
    unknown = await client.get(
        "/v1/statistics/register", params={"region": TOWNSHIP, "status": "rich"}
    )
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    # A region code that is not in the region table is not an empty region.
    for path in ("/v1/statistics/register", "/v1/statistics/poverty-incidence"):
        nowhere = await client.get(path, params={"region": "229999"})
        assert nowhere.status_code == 422, nowhere.text
        assert nowhere.json()["errors"][0]["pointer"] == "#/query/region"
        assert "region 229999 does not exist" in nowhere.json()["errors"][0]["detail"]


async def test_statistics_as_of_a_past_date(client, app, people):
    household = await register(client, people, VILLAGE_A, 2)
    fresh = (await client.get(f"/v1/households/{household['id']}")).json()
    await client.patch(
        f"/v1/households/{household['id']}",
        json={"attribute": "wubao"},
        headers={"If-Match": f'"{fresh["version"]}"'},
    )
    # Move the two versions into the past: created 10 days ago, changed 5 days ago.
    async with app.state.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE household_versions SET valid_from = now() - interval '10 days',"
                " valid_to = now() - interval '5 days'"
                " WHERE household_id = :h AND version = 1"
            ),
            {"h": household["id"]},
        )
        await session.execute(
            text(
                "UPDATE household_versions SET valid_from = now() - interval '5 days'"
                " WHERE household_id = :h AND version = 2"
            ),
            {"h": household["id"]},
        )
        await session.commit()

    async def attributes(as_of):
        params = {
            "region": VILLAGE_A,
            "level": "village",
            "by": "attribute",
            "as_of": as_of.isoformat(),
            "basis": "recorded",
        }
        return {
            (r["key"], r["people"])
            for r in (await client.get("/v1/statistics/register", params=params)).json()["rows"]
        }

    today = business_today()  # the register's date (Asia/Shanghai), not the host's
    assert await attributes(today - timedelta(days=12)) == set()
    assert await attributes(today - timedelta(days=7)) == {("ordinary_poor", 2)}
    assert await attributes(today) == {("wubao", 2)}
    past = await client.get(
        f"/v1/households/{household['id']}",
        params={"as_of": (today - timedelta(days=7)).isoformat(), "basis": "recorded"},
    )
    assert past.json()["attribute"] == "ordinary_poor" and past.json()["version"] == 1
    future = await client.get(
        "/v1/statistics/register", params={"as_of": (today + timedelta(days=2)).isoformat()}
    )
    assert future.status_code == 422


async def test_poverty_incidence(client, app, people):
    for village, size in ((VILLAGE_A, 3), (VILLAGE_A, 2), (VILLAGE_B, 4)):
        household = await register(client, people, village, size)
        await identify(app, household["id"])
    await register(client, people, VILLAGE_B, 5)  # applied: not counted as poor
    assert (
        await client.put(
            f"/v1/regions/{VILLAGE_A}/rural-population", json={"rural_population": 500}
        )
    ).status_code == 200
    assert (
        await client.put(
            f"/v1/regions/{VILLAGE_B}/rural-population", json={"rural_population": 300}
        )
    ).status_code == 200

    villages = (
        await client.get(
            "/v1/statistics/poverty-incidence", params={"region": TOWNSHIP, "level": "village"}
        )
    ).json()
    by_code = {r["region_code"]: r for r in villages["rows"]}
    assert by_code[VILLAGE_A]["poor_people"] == 5 and by_code[VILLAGE_A]["incidence"] == "0.0100"
    assert by_code[VILLAGE_B]["poor_people"] == 4 and by_code[VILLAGE_B]["incidence"] == "0.0133"
    assert villages["poor_statuses"] == ["identified", "returned"]
    township = (
        await client.get(
            "/v1/statistics/poverty-incidence", params={"region": TOWNSHIP, "level": "township"}
        )
    ).json()
    # the township has no figure of its own: the sum of its villages' figures stands in
    assert (
        township["rows"][0]["rural_population"] == 800 and township["rows"][0]["poor_people"] == 9
    )


async def test_statistics_stay_in_jurisdiction(app, make_token):
    async with api_client(app, make_token("220581")) as county:
        assert (
            await county.get("/v1/statistics/register", params={"region": "220622"})
        ).status_code == 403
        own = await county.get("/v1/statistics/register")
        assert own.status_code == 200 and own.json()["region"] == "220581"
        assert (
            await county.get("/v1/statistics/register", params={"level": "city"})
        ).status_code == 422
        assert (
            await county.get("/v1/statistics/poverty-incidence", params={"region": "22"})
        ).status_code == 403
        assert (
            await county.put("/v1/regions/220581/rural-population", json={"rural_population": 1})
        ).status_code == 403

    # Below a county, the default level is the caller's own: a township office asking with no
    # parameters gets its own figures, not "county is above the region".
    async with api_client(app, make_token(TOWNSHIP)) as township:
        for path in ("/v1/statistics/register", "/v1/statistics/poverty-incidence"):
            own = await township.get(path)
            assert own.status_code == 200, own.text
            assert (own.json()["region"], own.json()["level"]) == (TOWNSHIP, "township")
        by_village = await township.get("/v1/statistics/register", params={"level": "village"})
        assert by_village.json()["level"] == "village"


async def test_as_of_in_effect_counts_a_late_entered_approval_from_its_own_date(client, people):
    """An identification approved with a 2016 date but entered today: in effect at the end of
    2016 the household was registered; as recorded then, the register did not know it yet."""
    household = await register(client, people, VILLAGE_B, 3)

    async def step(path, body):
        response = await client.post(path, json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    case = await step(
        "/v1/cases",
        {"kind": "identification", "household_id": household["id"], "on": "2016-03-01"},
    )
    url = f"/v1/cases/{case['id']}"
    await step(f"{url}/appraisal", {"votes_for": 9, "votes_against": 0, "on": "2016-03-01"})
    await step(f"{url}/notice-completion", {"on": "2016-03-09"})
    await step(f"{url}/review", {"decision": "approve", "on": "2016-03-09"})
    await step(f"{url}/notice-completion", {"on": "2016-03-17"})
    await step(f"{url}/approval", {"decision": "approve", "on": "2016-03-20"})

    async def statuses(as_of, basis=None):
        params = {"region": VILLAGE_B, "level": "village", "by": "status", "as_of": as_of}
        if basis:
            params["basis"] = basis
        answer = (await client.get("/v1/statistics/register", params=params)).json()
        assert answer["basis"] == (basis or "effective")
        return {(r["key"], r["households"], r["people"]) for r in answer["rows"]}

    assert ("identified", 1, 3) in await statuses("2016-12-31")
    assert await statuses("2016-03-19") == set()  # not yet approved, nor applied in effect
    assert await statuses("2016-12-31", "recorded") == set()
    incidence = await client.get(
        "/v1/statistics/poverty-incidence",
        params={"region": VILLAGE_B, "level": "village", "as_of": "2016-12-31"},
    )
    assert incidence.json()["rows"][0]["poor_people"] >= 3

    read = f"/v1/households/{household['id']}"
    effective = await client.get(read, params={"as_of": "2016-12-31"})
    assert effective.status_code == 200 and effective.json()["status"] == "identified"
    recorded = await client.get(read, params={"as_of": "2016-12-31", "basis": "recorded"})
    assert recorded.status_code == 404
    today = business_today().isoformat()
    assert (await client.get(read, params={"as_of": today})).json()["status"] == "identified"
