"""Households over HTTP: registration, validation, masking, ETags, members, incomes, plan,
history and jurisdiction."""

import base64
import json
import uuid
from datetime import date

import pytest
from sqlalchemy import text

from fupin_events.envelope import decode
from fupin_events.values import business_today
from fupin_kit.testing.plugin import api_client, bearer
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

VILLAGE = "220622100201"  # 靖安村, 靖宇县
OTHER_COUNTY_VILLAGE = "220581001200"  # 建国村, 梅河口市
PROBLEM = "application/problem+json"


def assert_problem(response, status, pointer=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body.get("errors", [])], body
    return body


@pytest.fixture
def people():
    return PeopleFactory("220622", seed=uuid.uuid4().int)


def family(people, size=3):
    members = [member_payload(people.id_number(date(1970, 5, 1), "male"), "王建国", "head")]
    if size > 1:
        members.append(
            member_payload(people.id_number(date(1972, 3, 9), "female"), "李秀英", "spouse")
        )
    for i in range(size - 2):
        members.append(
            member_payload(people.id_number(date(2005, 1, 1 + i), "male"), "王小明", "child")
        )
    return members


async def create(client, people, number=None, village=VILLAGE, **fields):
    body = household_payload(village, number or uuid.uuid4().hex[:8], family(people), **fields)
    response = await client.post("/v1/households", json=body)
    assert response.status_code == 201, response.text
    return response


async def test_register_read_and_events(client, people, app):
    response = await create(
        client,
        people,
        phone="13912345678",
        bank_account="6228480012345678901",
        incomes=[
            {
                "year": 2016,
                "wages": "3000.00",
                "production": "2500",
                "transfer": "900.50",
                "production_costs": "700",
            }
        ],
        plan=[
            {
                "measure_type": "industry",
                "description": "cattle raising",
                "responsible_cadre_id": "c-1",
            }
        ],
        year=2016,
    )
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert body["status"] == "applied" and body["version"] == 1 and body["year"] == 2016
    assert body["village_name"] == "靖安村"
    assert body["member_count"] == 3
    head = body["members"][0]
    assert (
        head["relation"] == "head" and head["sex"] == "male" and head["birth_date"] == "1970-05-01"
    )
    assert head["name"] == "王建国" and len(head["id_number"]) == 18 and not body["masked"]
    assert body["phone"] == "13912345678"
    income = body["incomes"][0]
    # (3000 + 2500 + 900.50 - 700) / 3
    assert income["net_income"] == "5700.50" and income["per_capita_net_income"] == "1900.17"
    assert body["plan"][0]["measure_type"] == "industry"

    household_id = body["id"]
    async with app.state.sessionmaker() as session:
        stored = (
            (
                await session.execute(
                    text("SELECT payload FROM outbox WHERE key = :k ORDER BY id"),
                    {"k": household_id},
                )
            )
            .scalars()
            .all()
        )
        raw = (
            await session.execute(
                text("SELECT id_number_enc, name_enc FROM members WHERE household_id = :h"),
                {"h": household_id},
            )
        ).all()
    assert [e["type"] for e in stored] == ["fupin.registry.household.registered.v1"]
    decoded = decode(json.dumps(stored[0]))  # valid against the shared event catalog
    assert decoded.data.status == "applied" and decoded.subject == household_id
    data = stored[0]["data"]
    assert data["member_count"] == 3 and len(data["member_indexes"]) == 3
    assert all(len(i) == 64 for i in data["member_indexes"])
    assert head["id_number"] not in str(stored) and "王建国" not in str(stored)
    assert all(head["id_number"].encode() not in row[0] for row in raw)


async def test_masked_read_without_pii_scope_and_audited_unmasked_read(
    client, app, make_token, people
):
    household_id = (await create(client, people, phone="13912345678")).json()["id"]
    async with api_client(app, make_token("220622")) as plain:
        masked = (await plain.get(f"/v1/households/{household_id}")).json()
    assert masked["masked"] is True
    assert "*" in masked["members"][0]["id_number"] and masked["members"][0]["name"].startswith(
        "王"
    )
    assert masked["members"][0]["name"] != "王建国" and masked["phone"] == "139****5678"

    await client.get(f"/v1/households/{household_id}")
    async with app.state.sessionmaker() as session:
        audits = (
            await session.execute(
                text("SELECT action, details FROM audit_log WHERE object_id = :i ORDER BY seq"),
                {"i": household_id},
            )
        ).all()
    # the creation response and the read both showed personal data in clear; the masked read did not
    assert [a.action for a in audits] == ["pii.read_unmasked", "pii.read_unmasked"]
    assert audits[-1].details["fields"] == ["birth_date", "id_number", "name", "phone"]


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"village_code": "220622100299"}, "#/body/village_code"),  # no such village
        ({"village_code": "220622100"}, "#/body/village_code"),  # a township, wrong length
        ({"primary_cause": "greed"}, "#/body/primary_cause"),
        ({"secondary_causes": ["illness"]}, "#/body/secondary_causes"),  # repeats the primary
        ({"secondary_causes": ["disaster", "disaster"]}, "#/body/secondary_causes"),
        (
            {"secondary_causes": ["disaster", "lack_of_land", "lack_of_water"]},
            "#/body/secondary_causes",
        ),
        ({"incomes": [{"year": 2016, "wages": "-5"}]}, "#/body/incomes/0/wages"),
        ({"incomes": [{"year": 2016, "wages": "99999999999"}]}, "#/body/incomes/0/wages"),
        ({"incomes": [{"year": 2016, "wages": 12.5}]}, "#/body/incomes/0/wages"),
        ({"incomes": [{"year": 1999}]}, "#/body/incomes/0/year"),
        ({"year": 2099}, "#/body/year"),
        ({"phone": "12345"}, "#/body/phone"),
        ({"phone": "1３９１２３４５６７８"}, "#/body/phone"),  # full-width digits
        ({"bank_account": "６２２８４８００１２３４５６７８"}, "#/body/bank_account"),
        ({"bank_account": "٦٢٢٨٤٨٠٠١٢٣٤٥٦٧٨"}, "#/body/bank_account"),  # Arabic-Indic digits
        ({"status": "identified"}, "#/body/status"),  # status only moves through cases
        # A leading '-' would be exported as '-A1 (formula guard) and not import again.
        ({"household_number": "-A1"}, "#/body/household_number"),
        ({"household_number": "--1"}, "#/body/household_number"),
        ({"household_number": "-0001"}, "#/body/household_number"),
    ],
)
async def test_bad_household_input_is_named_and_nothing_written(client, people, change, pointer):
    before = len((await client.get("/v1/households", params={"region": VILLAGE})).json()["items"])
    body = {**household_payload(VILLAGE, "bad-1", family(people)), **change}
    assert_problem(await client.post("/v1/households", json=body), 422, pointer)
    after = len((await client.get("/v1/households", params={"region": VILLAGE})).json()["items"])
    assert after == before


async def test_bad_members_are_named(client, people):
    members = family(people)
    wrong_check = members[0]["id_number"][:17] + (
        "0" if members[0]["id_number"][17] != "0" else "1"
    )
    cases = [
        ([{**members[0], "id_number": wrong_check}, *members[1:]], "#/body/members/0/id_number"),
        ([members[0], {**members[1], "birth_date": "1999-01-01"}], "#/body/members/1/birth_date"),
        ([members[0], {**members[1], "sex": "male"}], "#/body/members/1/sex"),
        ([members[0], {**members[1], "relation": "head"}], "#/body/members"),  # two heads
        (
            [members[0], {**members[1], "id_number": members[0]["id_number"]}],
            "#/body/members/1/id_number",
        ),
        ([members[0], {**members[1], "health": "disabled"}], "#/body/members/1/disability"),
        ([members[0], {**members[1], "migrant_months": 13}], "#/body/members/1/migrant_months"),
        ([members[0], {**members[1], "name": "王小明１"}], "#/body/members/1/name"),  # a digit
        ([members[0], {**members[1], "name": "王\u0301"}], "#/body/members/1/name"),  # a mark
        # the closed list of GB 3304, as in imports (an export imports again)
        ([members[0], {**members[1], "ethnicity": "汉族"}], "#/body/members/1/ethnicity"),
        ([members[0], {**members[1], "ethnicity": "=1+1"}], "#/body/members/1/ethnicity"),
    ]
    for bad_members, pointer in cases:
        body = household_payload(VILLAGE, "bad-2", bad_members)
        assert_problem(await client.post("/v1/households", json=body), 422, pointer)


async def test_person_in_two_active_households_is_409_naming_the_member(client, people):
    first = await create(client, people)
    head_id = first.json()["members"][0]["id_number"]
    members = [
        member_payload(people.id_number(), "赵四", "head"),
        member_payload(head_id, "王建国", "parent"),
    ]
    response = await client.post(
        "/v1/households", json=household_payload(VILLAGE, "dup-1", members)
    )
    problem = assert_problem(response, 409, "#/body/members/1/id_number")
    assert head_id not in str(problem)
    number_taken = household_payload(VILLAGE, first.json()["household_number"], family(people))
    assert_problem(
        await client.post("/v1/households", json=number_taken), 409, "#/body/household_number"
    )


@pytest.mark.parametrize(
    "description",
    [
        "联系电话 138 0013 8000",
        "户主身份证２２０６２２１９７００５０１",
        "账户6228-4800-1234",
        "电话138.0013.8000",
        "138/0013/8000",
        "138_0013_8000",
        "138–0013–8000",  # en dash
        "138  0013\t8000",
        "138\u200b0013\u200b8000",  # zero-width spaces
        "١٣٨٠٠١٣٨٠٠٠",  # Arabic-Indic digits
        "座机0431-88886666",
    ],
)
async def test_a_plan_text_holding_a_long_number_is_refused_and_nothing_changes(
    client, people, app, description
):
    """A plan's text travels with its event to other services: no phone, account or ID
    number in it (full-width digits and separators included)."""
    created = (await create(client, people)).json()
    url = f"/v1/households/{created['id']}"
    plan = {
        "measures": [
            {"measure_type": "employment", "description": "转移就业培训"},
            {"measure_type": "industry", "description": description},
        ]
    }
    refused = await client.put(f"{url}/plan/2017", json=plan, headers={"If-Match": '"1"'})
    body = assert_problem(refused, 422, "#/body/measures/1/description")
    assert "phone, account or ID number" in json.dumps(body, ensure_ascii=False)
    read = await client.get(url)
    assert read.headers["etag"] == '"1"' and read.json()["plan"] == []
    async with app.state.sessionmaker() as session:
        types = (
            await session.execute(
                text("SELECT payload->>'type' FROM outbox WHERE key = :k"), {"k": created["id"]}
            )
        ).scalars()
        assert not [t for t in types if t.endswith("assistance_plan_changed.v1")]


@pytest.mark.parametrize(
    "description",
    [
        "2026-03-01起发放补助",
        "2026.03.01-2026.12.31 护林员公益岗位",
        "项目编号2026-001-02",
        "扶贫小额信贷5万元，3年期",
        "补助1,000,000元",
    ],
)
async def test_a_plan_text_with_dates_amounts_and_short_numbers_is_taken(
    client, people, description
):
    created = (await create(client, people)).json()
    plan = {"measures": [{"measure_type": "industry", "description": description}]}
    taken = await client.put(
        f"/v1/households/{created['id']}/plan/2017", json=plan, headers={"If-Match": '"1"'}
    )
    assert taken.status_code == 200, taken.text
    assert taken.json()["plan"][0]["description"] == description


async def test_a_closed_household_refuses_changes_naming_it(client, people, app):
    created = (await create(client, people)).json()
    async with app.state.sessionmaker() as session:
        # closed the way a natural-decrease case closes it (the workflow is tested elsewhere)
        await session.execute(
            text("UPDATE households SET status = 'natural_decrease' WHERE id = :id"),
            {"id": created["id"]},
        )
        await session.commit()
    url = f"/v1/households/{created['id']}"
    refused = await client.patch(url, json={"attribute": "dibao"}, headers={"If-Match": '"1"'})
    body = assert_problem(refused, 409, "#/path/household_id")
    assert body["type"].endswith("household-closed") and "natural_decrease" in body["detail"]
    assert (await client.get(url)).json()["attribute"] == created["attribute"]


async def test_update_needs_if_match_and_bumps_version(client, people, app):
    created = (await create(client, people)).json()
    url = f"/v1/households/{created['id']}"
    assert_problem(await client.patch(url, json={"attribute": "dibao"}), 428, "#/header/If-Match")
    assert_problem(
        await client.patch(url, json={"attribute": "dibao"}, headers={"If-Match": '"7"'}), 412
    )
    # A weak tag never matches (If-Match compares strongly), even of the current version.
    assert_problem(
        await client.patch(url, json={"attribute": "dibao"}, headers={"If-Match": 'W/"1"'}), 412
    )
    # "*" names no version: an update says which version it was read at.
    assert_problem(
        await client.patch(url, json={"attribute": "dibao"}, headers={"If-Match": "*"}), 412
    )
    updated = await client.patch(
        url, json={"attribute": "dibao", "support_type": "both"}, headers={"If-Match": '"1"'}
    )
    assert updated.status_code == 200, updated.text
    assert updated.headers["etag"] == '"2"' and updated.json()["attribute"] == "dibao"
    stale = await client.patch(url, json={"attribute": "wubao"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "#/header/If-Match")
    bad = await client.patch(
        url, json={"secondary_causes": ["illness"]}, headers={"If-Match": '"2"'}
    )
    assert_problem(bad, 422, "#/body/secondary_causes")
    assert_problem(
        await client.patch(url, json={"attribute": None}, headers={"If-Match": '"2"'}),
        422,
        "#/body/attribute",
    )

    changes = (await client.get(f"{url}/changes")).json()["items"]
    assert [(c["version"], c["action"]) for c in changes] == [(1, "created"), (2, "updated")]
    assert sorted(changes[1]["changed"]) == ["attribute", "support_type"]
    assert changes[0]["valid_to"] is not None and changes[1]["valid_to"] is None
    async with app.state.sessionmaker() as session:
        types = (
            (
                await session.execute(
                    text("SELECT event_type FROM outbox WHERE key = :k ORDER BY id"),
                    {"k": created["id"]},
                )
            )
            .scalars()
            .all()
        )
    assert types[-1] == "fupin.registry.household.updated.v1"


async def test_members_incomes_and_plan(client, people, app):
    created = (await create(client, people)).json()
    url = f"/v1/households/{created['id']}"
    newborn = member_payload(people.id_number(date(2015, 6, 1), "female"), "王小红", "grandchild")
    added = await client.post(f"{url}/members", json=newborn, headers={"If-Match": '"1"'})
    assert added.status_code == 201, added.text
    assert added.json()["member_count"] == 4 and added.headers["etag"] == '"2"'

    again = await client.post(f"{url}/members", json=newborn, headers={"If-Match": '"2"'})
    assert_problem(again, 409, "#/body/id_number")

    income = {"wages": "4000", "production": "1000", "production_costs": "200"}
    put = await client.put(f"{url}/incomes/2016", json=income, headers={"If-Match": '"2"'})
    assert put.status_code == 200, put.text
    year = put.json()["incomes"][0]
    assert year["year"] == 2016 and year["per_capita_net_income"] == "1200.00"  # 4800 / 4
    assert_problem(
        await client.put(f"{url}/incomes/2016", json={"wages": "-1"}, headers={"If-Match": '"3"'}),
        422,
        "#/body/wages",
    )
    assert_problem(
        await client.put(f"{url}/incomes/2099", json=income, headers={"If-Match": '"3"'}),
        422,
        "#/path/year",
    )
    # The year before the register's first (2013) is assessed at identifications in 2013, as
    # imports accept it; the year before that is not.
    refused = await client.put(f"{url}/incomes/2011", json=income, headers={"If-Match": '"3"'})
    assert "between 2012 and this year" in assert_problem(refused, 422, "#/path/year")["detail"]

    child = added.json()["members"][-1]
    left = await client.delete(
        f"{url}/members/{child['id']}",
        params={"reason": "migration", "on": "2020-01-02"},
        headers={"If-Match": '"3"'},
    )
    assert left.status_code == 200, left.text
    assert left.json()["member_count"] == 3
    assert left.json()["incomes"][0]["per_capita_net_income"] == "1600.00"
    head = left.json()["members"][0]
    assert_problem(
        await client.delete(
            f"{url}/members/{head['id']}", params={"reason": "death"}, headers={"If-Match": '"4"'}
        ),
        409,
    )

    renamed = await client.patch(
        f"{url}/members/{head['id']}",
        json={"name": "王建军", "migrant_months": 6},
        headers={"If-Match": '"4"'},
    )
    assert renamed.status_code == 200, renamed.text
    assert (
        renamed.json()["members"][0]["name"] == "王建军"
        and renamed.json()["members"][0]["migrant_months"] == 6
    )
    two_heads = await client.patch(
        f"{url}/members/{left.json()['members'][1]['id']}",
        json={"relation": "head"},
        headers={"If-Match": '"5"'},
    )
    assert_problem(two_heads, 422, "#/body/relation")

    plan = {
        "measures": [
            {"measure_type": "employment", "description": "job fair"},
            {"measure_type": "education", "description": "school grant"},
        ]
    }
    planned = await client.put(f"{url}/plan/2017", json=plan, headers={"If-Match": '"5"'})
    assert planned.status_code == 200, planned.text
    assert [m["measure_type"] for m in planned.json()["plan"]] == ["employment", "education"]
    async with app.state.sessionmaker() as session:
        events = (
            (
                await session.execute(
                    text("SELECT payload FROM outbox WHERE key = :k ORDER BY id"),
                    {"k": created["id"]},
                )
            )
            .scalars()
            .all()
        )
    assert events[-1]["type"] == "fupin.registry.household.assistance_plan_changed.v1"
    assert events[-1]["data"]["year"] == 2017 and len(events[-1]["data"]["measures"]) == 2
    changes = (await client.get(f"{url}/changes")).json()["items"]
    assert [c["action"] for c in changes] == [
        "created",
        "member_added",
        "incomes_changed",
        "member_left",
        "member_updated",
        "plan_changed",
    ]
    earlier = await client.put(f"{url}/incomes/2012", json=income, headers={"If-Match": '"6"'})
    assert earlier.status_code == 200, earlier.text


async def test_departed_member_can_join_another_household(client, people):
    first = (await create(client, people)).json()
    spouse = first["members"][1]
    url = f"/v1/households/{first['id']}"
    assert (
        await client.delete(
            f"{url}/members/{spouse['id']}",
            params={"reason": "marriage"},
            headers={"If-Match": '"1"'},
        )
    ).status_code == 200
    members = [member_payload(spouse["id_number"], "李秀英", "head")]
    response = await client.post(
        "/v1/households", json=household_payload(VILLAGE, "new-1", members)
    )
    assert response.status_code == 201, response.text


async def test_as_of_reads_history(client, people):
    created = (await create(client, people)).json()
    url = f"/v1/households/{created['id']}"
    today = business_today().isoformat()  # the register's date (Asia/Shanghai), not the host's
    now = (await client.get(url, params={"as_of": today})).json()
    assert now["as_of"] == today and now["version"] == 1 and now["members"][0]["name"] == "王建国"
    assert_problem(await client.get(url, params={"as_of": "2015-01-01"}), 404, "#/query/as_of")
    assert_problem(await client.get(url, params={"as_of": "2999-01-01"}), 422, "#/query/as_of")
    # A business date is a day, written YYYY-MM-DD: not Unix seconds (read in UTC), not a
    # date-time, on a household and on statistics alike.
    for loose in ("1454630400", "0", today + "T00:00:00"):
        for route in (url, "/v1/statistics/register"):
            refused = await client.get(route, params={"as_of": loose})
            assert (
                "YYYY-MM-DD" in assert_problem(refused, 422, "#/query/as_of")["errors"][0]["detail"]
            )


async def test_search_filters_and_keyset_pagination(client, people):
    region = "220622100202"
    ids = []
    for i in range(5):
        attribute = "dibao" if i % 2 else "ordinary_poor"
        response = await create(
            client,
            people,
            number=f"s{i}",
            village=region,
            attribute=attribute,
            primary_cause="disaster",
            secondary_causes=[] if i else ["lack_of_water"],
        )
        ids.append(response.json()["id"])
    seen, cursor = [], None
    while True:
        params = {"region": region, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/households", params=params)).json()
        seen += [h["id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    dibao = (
        await client.get("/v1/households", params={"region": region, "attribute": "dibao"})
    ).json()["items"]
    assert len(dibao) == 2 and all(h["attribute"] == "dibao" for h in dibao)
    water = (
        await client.get("/v1/households", params={"region": region, "cause": "lack_of_water"})
    ).json()["items"]
    assert [h["id"] for h in water] == [ids[0]]
    assert "id_number" not in str(dibao) and "name" not in dibao[0]
    # A repeated filter means any of its values, never only the last one.
    both = [("region", region), ("attribute", "dibao"), ("attribute", "ordinary_poor")]
    assert len((await client.get("/v1/households", params=both)).json()["items"]) == 5
    statuses = [("region", region), ("status", "identified"), ("status", "applied")]
    applied = (await client.get("/v1/households", params=statuses)).json()["items"]
    assert len(applied) == 5 and {h["status"] for h in applied} == {"applied"}
    assert (
        await client.get("/v1/households", params=[*statuses[:2], ("status", "exited")])
    ).json()["items"] == []
    assert_problem(
        await client.get("/v1/households", params=[("status", "applied"), ("status", "x")]),
        422,
        "#/query/status/1",
    )
    assert (
        len(
            (
                await client.get(
                    "/v1/households", params={"region": region, "has_open_flags": True}
                )
            ).json()["items"]
        )
        == 0
    )
    assert_problem(
        await client.get("/v1/households", params={"cursor": "%%%"}), 422, "#/query/cursor"
    )
    assert_problem(await client.get("/v1/households", params={"region": "2206221"}), 422)


async def test_other_county_cannot_read_change_or_search(client, app, make_token, people):
    created = (await create(client, people)).json()
    url = f"/v1/households/{created['id']}"
    async with api_client(app, make_token("220581", scopes=["pii:read"])) as neighbour:
        assert_problem(await neighbour.get(url), 404)
        assert_problem(await neighbour.get(f"{url}/changes"), 404)
        assert_problem(
            await neighbour.patch(url, json={"attribute": "dibao"}, headers={"If-Match": '"1"'}),
            404,
        )
        # On a route of a member, an income or a plan the household is still what is named.
        hidden = await neighbour.put(f"{url}/incomes/2016", json={}, headers={"If-Match": '"1"'})
        assert_problem(hidden, 404, "#/path/household_id")
        absent = await client.delete(f"/v1/households/{uuid.uuid4()}/members/{uuid.uuid4()}")
        assert assert_problem(absent, 404)["errors"] == hidden.json()["errors"]
        found = (await neighbour.get("/v1/households", params={"region": "220622"})).json()
        assert found["items"] == []
        body = household_payload(VILLAGE, "x-1", family(people))
        assert_problem(
            await neighbour.post("/v1/households", json=body), 403, "#/header/Authorization"
        )
    async with api_client(app, make_token("220622", roles=["auditor"])) as reader:
        assert (await reader.get(url)).status_code == 200
        assert_problem(
            await reader.patch(url, json={"attribute": "dibao"}, headers={"If-Match": '"1"'}), 403
        )


async def test_idempotent_registration(client, people):
    body = household_payload(VILLAGE, "idem-1", family(people))
    first = await client.post("/v1/households", json=body, headers={"Idempotency-Key": "reg-1"})
    second = await client.post("/v1/households", json=body, headers={"Idempotency-Key": "reg-1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"


async def test_unauthenticated_is_401(app):
    async with api_client(app) as anonymous:
        assert_problem(await anonymous.get("/v1/households"), 401)
        assert_problem(
            await anonymous.get(f"/v1/households/{uuid.uuid4()}", headers=bearer("x.y.z")), 401
        )


async def test_head_changes_atomically_and_former_head_can_die(client, people, app):
    created = (await create(client, people)).json()
    url = f"/v1/households/{created['id']}"
    head, spouse, child = created["members"]

    refused = await client.patch(
        f"{url}/members/{child['id']}", json={"relation": "head"}, headers={"If-Match": '"1"'}
    )
    assert "/head" in assert_problem(refused, 422, "#/body/relation")["detail"]
    assert_problem(
        await client.post(f"{url}/head", json={"member_id": child["id"]}),
        428,
    )
    assert_problem(
        await client.post(
            f"{url}/head",
            json={"member_id": head["id"], "former_head_relation": "parent"},
            headers={"If-Match": '"1"'},
        ),
        422,
        "#/body/member_id",
    )
    assert_problem(
        await client.post(
            f"{url}/head",
            json={"member_id": child["id"]},
            headers={"If-Match": '"1"'},
        ),
        422,
        "#/body/former_head_relation",
    )

    moved = await client.post(
        f"{url}/head",
        json={"member_id": spouse["id"], "former_head_relation": "spouse"},
        headers={"If-Match": '"1"', "Idempotency-Key": "head-1"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.headers["etag"] == '"2"'
    relations = {m["id"]: m["relation"] for m in moved.json()["members"]}
    assert relations == {head["id"]: "spouse", spouse["id"]: "head", child["id"]: "child"}
    replayed = await client.post(
        f"{url}/head",
        json={"member_id": spouse["id"], "former_head_relation": "spouse"},
        headers={"If-Match": '"1"', "Idempotency-Key": "head-1"},
    )
    assert replayed.status_code == 200 and replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["version"] == 2

    # the head dies: the child takes over and the death is recorded in the same change
    died = await client.post(
        f"{url}/head",
        json={
            "member_id": child["id"],
            "former_head_departure": "death",
            "on": "2020-03-01",
        },
        headers={"If-Match": '"2"'},
    )
    assert died.status_code == 200, died.text
    assert {m["id"]: m["relation"] for m in died.json()["members"]} == {
        head["id"]: "spouse",
        child["id"]: "head",
    }
    changes = (await client.get(f"{url}/changes")).json()["items"]
    assert [c["action"] for c in changes] == ["created", "head_changed", "head_changed"]
    async with app.state.sessionmaker() as session:
        events = (
            (
                await session.execute(
                    text("SELECT payload FROM outbox WHERE key = :k ORDER BY id"),
                    {"k": created["id"]},
                )
            )
            .scalars()
            .all()
        )
        left = (
            await session.execute(
                text("SELECT left_on, left_reason, active FROM members WHERE id = :m"),
                {"m": spouse["id"]},
            )
        ).one()
    assert [e["type"] for e in events[-2:]] == ["fupin.registry.household.updated.v1"] * 2
    assert events[-1]["data"]["changed"] == ["members"]
    assert left == (date(2020, 3, 1), "death", False)


def crafted(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


async def test_crafted_cursors_are_422_on_the_cursor_everywhere(client, people):
    household = (await create(client, people)).json()
    cases = {
        f"/v1/households/{household['id']}/changes": [
            crafted(99999999999999999999999),
            crafted(2**31),
            crafted(-1),
            crafted("1"),
        ],
        "/v1/households": [crafted("not-a-uuid"), crafted(1)],
        "/v1/regions/2206/children": [crafted("a\u0000b"), crafted(5)],
        "/v1/quotas?parent=22&year=2016": [crafted("a\u0000b")],
        "/v1/crosscheck/reports/duplicate-ids": [crafted(5)],
        "/v1/cases": [crafted("2016-01-01T00:00:00", "x"), crafted("yesterday", str(uuid.uuid4()))],
        "/v1/imports": [crafted("2016-01-01", 5)],
        "/v1/flags": [crafted(1, 2)],
    }
    for path, cursors in cases.items():
        for cursor in cursors:
            response = await client.get(f"{path}{'&' if '?' in path else '?'}cursor={cursor}")
            body = assert_problem(response, 422, "#/query/cursor")
            assert [e["detail"] for e in body["errors"]] == ["the cursor is not valid"], path


async def test_a_member_cannot_leave_before_birth(client, people):
    created = (await create(client, people)).json()
    url = f"/v1/households/{created['id']}"
    head, _, child = created["members"]
    left = await client.delete(
        f"{url}/members/{child['id']}",
        params={"reason": "death", "on": "1800-01-01"},
        headers={"If-Match": '"1"'},
    )
    assert assert_problem(left, 422, "#/query/on")["errors"][0]["detail"] == (
        "is before the member's birth date"
    )
    died = await client.post(
        f"{url}/head",
        json={"member_id": child["id"], "former_head_departure": "death", "on": "1900-01-01"},
        headers={"If-Match": '"1"'},
    )
    assert_problem(died, 422, "#/body/on")
    after = (await client.get(url)).json()
    assert after["version"] == 1 and len(after["members"]) == 3
    assert [m["relation"] for m in after["members"]][0] == "head" and head["relation"] == "head"


async def test_a_replayed_head_change_carries_the_etag_of_the_household_it_shows(client, people):
    """A replay shows the household as the first run left it: its ETag is that version, so a
    client sending it back cannot overwrite a change it never saw."""
    created = (await create(client, people)).json()
    url = f"/v1/households/{created['id']}"
    spouse = created["members"][1]
    body = {"member_id": spouse["id"], "former_head_relation": "spouse"}
    headers = {"If-Match": '"1"', "Idempotency-Key": f"head-etag-{created['id']}"}
    first = await client.post(f"{url}/head", json=body, headers=headers)
    assert first.status_code == 200 and first.headers["etag"] == '"2"', first.text
    changed = await client.patch(url, json={"attribute": "dibao"}, headers={"If-Match": '"2"'})
    assert changed.headers["etag"] == '"3"', changed.text
    replayed = await client.post(f"{url}/head", json=body, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["version"] == 2 and replayed.headers["etag"] == '"2"'
    stale = await client.patch(
        url, json={"attribute": "ordinary_poor"}, headers={"If-Match": replayed.headers["etag"]}
    )
    assert_problem(stale, 412)
    assert (await client.get(url)).json()["attribute"] == "dibao"
