"""The identification and dynamic-management workflows over HTTP, against real PostgreSQL."""

import json
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from fupin_events.values import business_today
from fupin_kit.testing.plugin import api_client
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

VILLAGE = "220622100203"  # 永生村, 靖宇镇, 靖宇县
D0 = date(2016, 3, 1)
PROBLEM = "application/problem+json"


def assert_problem(response, status, slug=None, pointer=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    if slug:
        assert body["type"].endswith("/" + slug), body
    if pointer:
        assert pointer in [e["pointer"] for e in body.get("errors", [])], body
    return body


def day(n):
    return (D0 + timedelta(days=n)).isoformat()


@pytest.fixture
def people():
    return PeopleFactory("220622", seed=uuid.uuid4().int)


async def new_household(client, people, size=2, village=VILLAGE, **fields):
    members = [member_payload(people.id_number(date(1968, 2, 2), "male"), "刘大山", "head")]
    members += [member_payload(people.id_number(), "刘小", "child") for _ in range(size - 1)]
    body = household_payload(village, uuid.uuid4().hex[:10], members, year=2016, **fields)
    response = await client.post("/v1/households", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def open_case(client, household_id, kind="identification", on=D0, **extra):
    response = await client.post(
        "/v1/cases",
        json={"kind": kind, "household_id": household_id, "on": on.isoformat(), **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def step(client, case_id, name, body, expect=200):
    response = await client.post(f"/v1/cases/{case_id}/{name}", json=body)
    assert response.status_code == expect, response.text
    return response.json()


async def drive_to_approval(client, case_id, start=0):
    await step(
        client, case_id, "appraisal", {"votes_for": 20, "votes_against": 3, "on": day(start)}
    )
    await step(client, case_id, "notice-completion", {"on": day(start + 8)})
    await step(client, case_id, "review", {"decision": "approve", "on": day(start + 8)})
    return await step(client, case_id, "notice-completion", {"on": day(start + 16)})


async def outbox_types(app, key):
    async with app.state.sessionmaker() as session:
        return (
            (
                await session.execute(
                    text("SELECT payload FROM outbox WHERE key = :k ORDER BY id"), {"k": key}
                )
            )
            .scalars()
            .all()
        )


async def test_identification_from_application_to_registration(client, app, people):
    household = await new_household(client, people, size=3)
    case = await open_case(client, household["id"])
    assert case["state"] == "village_appraisal" and case["steps"][0]["step"] == "applied"

    appraised = await step(
        client,
        case["id"],
        "appraisal",
        {
            "votes_for": 18,
            "votes_against": 2,
            "votes_abstain": 1,
            "on": day(0),
            "evidence": {"documents": ["minutes.pdf"], "note": "villagers' meeting"},
        },
    )
    assert appraised["state"] == "village_notice"
    assert appraised["notice_started_on"] == day(0) and appraised["notice_ends_on"] == day(7)
    assert appraised["steps"][-1]["evidence"] == {
        "documents": ["minutes.pdf"],
        "note": "villagers' meeting",
        "votes_for": 18,
        "votes_against": 2,
        "votes_abstain": 1,
    }

    # Objections are heard through the notice's last day: it completes the day after.
    early = await client.post(f"/v1/cases/{case['id']}/notice-completion", json={"on": day(7)})
    assert_problem(early, 409, "notice-running")
    illegal = await client.post(
        f"/v1/cases/{case['id']}/approval", json={"decision": "approve", "on": day(7)}
    )
    assert_problem(illegal, 409, "invalid-transition")

    await step(client, case["id"], "notice-completion", {"on": day(8)})
    township = await step(client, case["id"], "review", {"decision": "approve", "on": day(8)})
    assert township["state"] == "township_notice" and township["notice_ends_on"] == day(15)

    objected = await step(
        client,
        case["id"],
        "objections",
        {"content": "they own a shop", "contact": "13800001111", "on": day(9)},
        expect=201,
    )
    assert objected["suspended"] is True and objected["objections"][0]["contact"] == "13800001111"
    assert_problem(
        await client.post(f"/v1/cases/{case['id']}/notice-completion", json={"on": day(16)}),
        409,
        "case-suspended",
    )
    objection_id = objected["objections"][0]["id"]
    resumed = await step(
        client,
        case["id"],
        f"objections/{objection_id}/resolution",
        {"outcome": "dismissed", "resolution": "the shop belongs to a cousin", "on": day(12)},
    )
    assert resumed["suspended"] is False and resumed["objections"][0]["status"] == "dismissed"
    assert_problem(
        await client.post(
            f"/v1/cases/{case['id']}/objections/{objection_id}/resolution",
            json={"outcome": "upheld", "resolution": "x", "on": day(12)},
        ),
        409,
    )
    resolution = {"outcome": "upheld", "resolution": "x", "on": day(12)}
    for path, pointer in (
        (f"{uuid.uuid4()}/objections/{objection_id}", "#/path/case_id"),
        (f"{case['id']}/objections/{uuid.uuid4()}", "#/path/objection_id"),
    ):
        unknown = await client.post(f"/v1/cases/{path}/resolution", json=resolution)
        assert_problem(unknown, 404, "not-found", pointer)

    await step(client, case["id"], "notice-completion", {"on": day(16)})
    approved = await step(client, case["id"], "approval", {"decision": "approve", "on": day(20)})
    assert approved["state"] == "approved"
    assert [s["step"] for s in approved["steps"]] == [
        "applied",
        "appraised",
        "notice_completed",
        "reviewed",
        "objection_raised",
        "objection_dismissed",
        "notice_completed",
        "approved",
    ]
    assert all(s["actor"] == "user:officer-1" for s in approved["steps"])

    registered = (await client.get(f"/v1/households/{household['id']}")).json()
    assert registered["status"] == "identified" and registered["registered_on"] == day(20)
    events = await outbox_types(app, household["id"])
    changed = [e for e in events if e["type"] == "fupin.registry.household.status_changed.v1"]
    assert len(changed) == 1
    assert (
        changed[0]["data"]["from_status"] == "applied"
        and changed[0]["data"]["to_status"] == "identified"
    )
    assert changed[0]["data"]["case_id"] == case["id"] and changed[0]["data"]["member_count"] == 3
    history = (await client.get(f"/v1/households/{household['id']}/changes")).json()["items"]
    assert history[-1]["action"] == "status_changed" and history[-1]["status"] == "identified"


async def test_upheld_objection_rejects_with_reason(app, client, people):
    household = await new_household(client, people)
    case = await open_case(client, household["id"])
    await step(client, case["id"], "appraisal", {"votes_for": 9, "votes_against": 0, "on": day(0)})
    objected = await step(
        client,
        case["id"],
        "objections",
        {"content": "the son drives a new car", "on": day(1)},
        expect=201,
    )
    oid = objected["objections"][0]["id"]
    second = await step(
        client,
        case["id"],
        "objections",
        {"content": "they also run a shop", "on": day(2)},
        expect=201,
    )
    [other] = [o for o in second["objections"] if o["id"] != oid]
    rejected = await step(
        client,
        case["id"],
        f"objections/{oid}/resolution",
        {"outcome": "upheld", "resolution": "car registered to the son", "on": day(3)},
    )
    assert (
        rejected["state"] == "rejected"
        and rejected["rejection_reason"] == "car registered to the son"
    )
    # The other objection is closed with the case, not left open for good.
    statuses = {o["id"]: (o["status"], o["resolution"]) for o in rejected["objections"]}
    assert statuses == {
        oid: ("upheld", "car registered to the son"),
        other["id"]: ("closed", f"closed with the case: objection {oid} was upheld"),
    }
    assert (await client.get(f"/v1/households/{household['id']}")).json()["status"] == "rejected"
    assert_problem(
        await client.post(f"/v1/cases/{case['id']}/review", json={"decision": "approve"}),
        409,
        "invalid-transition",
    )
    # The event says why as a code: the officer's words (which may name people) stay here.
    [changed] = [
        e
        for e in await outbox_types(app, household["id"])
        if e["type"] == "fupin.registry.household.status_changed.v1"
    ]
    assert changed["data"]["reason"] == "identification_rejected"
    assert "car registered" not in json.dumps(changed, ensure_ascii=False)


async def test_failed_appraisal_and_rejections_need_reasons(client, people):
    household = await new_household(client, people)
    case = await open_case(client, household["id"])
    failed = await step(
        client, case["id"], "appraisal", {"votes_for": 4, "votes_against": 6, "on": day(0)}
    )
    assert failed["state"] == "rejected" and "4 for, 6 against" in failed["rejection_reason"]

    other = await new_household(client, people)
    case = await open_case(client, other["id"])
    await step(client, case["id"], "appraisal", {"votes_for": 9, "votes_against": 0, "on": day(0)})
    await step(client, case["id"], "notice-completion", {"on": day(8)})
    assert_problem(
        await client.post(
            f"/v1/cases/{case['id']}/review", json={"decision": "reject", "on": day(8)}
        ),
        422,
        pointer="#/body/reason",
    )
    assert_problem(
        await client.post(
            f"/v1/cases/{case['id']}/review", json={"decision": "approve", "on": day(6)}
        ),
        422,
        pointer="#/body/on",
    )
    assert_problem(
        await client.post(
            f"/v1/cases/{case['id']}/review", json={"decision": "approve", "on": "2999-01-01"}
        ),
        422,
        pointer="#/body/on",
    )


async def test_one_open_case_per_household_and_opening_rules(client, people):
    household = await new_household(client, people)
    await open_case(client, household["id"])
    again = await client.post(
        "/v1/cases", json={"kind": "identification", "household_id": household["id"]}
    )
    assert_problem(again, 409, "open-case-exists")
    exit_case = await client.post(
        "/v1/cases", json={"kind": "exit", "household_id": household["id"]}
    )
    assert_problem(exit_case, 409, "invalid-transition")
    missing = await client.post(
        "/v1/cases", json={"kind": "identification", "household_id": str(uuid.uuid4())}
    )
    assert_problem(missing, 422, pointer="#/body/household_id")
    assert_problem(
        await client.post("/v1/cases", json={"kind": "promotion", "household_id": household["id"]}),
        422,
        pointer="#/body/kind",
    )


async def test_tiered_responsibility(client, app, make_token, people):
    household = await new_household(client, people)
    case = await open_case(client, household["id"])
    village = make_token(VILLAGE, subject="village-officer")
    township = make_token(VILLAGE[:9], subject="township-officer")
    county = make_token(VILLAGE[:6], subject="county-officer")
    async with (
        api_client(app, village) as v,
        api_client(app, township) as t,
        api_client(app, county) as c,
    ):
        await step(v, case["id"], "appraisal", {"votes_for": 9, "votes_against": 0, "on": day(0)})
        await step(v, case["id"], "notice-completion", {"on": day(8)})
        assert_problem(
            await v.post(
                f"/v1/cases/{case['id']}/review", json={"decision": "approve", "on": day(8)}
            ),
            403,
        )
        await step(t, case["id"], "review", {"decision": "approve", "on": day(8)})
        await step(t, case["id"], "notice-completion", {"on": day(16)})
        assert_problem(
            await t.post(
                f"/v1/cases/{case['id']}/approval", json={"decision": "approve", "on": day(16)}
            ),
            403,
        )
        approved = await step(c, case["id"], "approval", {"decision": "approve", "on": day(16)})
        assert [s["actor"] for s in approved["steps"][-5:]] == [
            "user:village-officer",
            "user:village-officer",
            "user:township-officer",
            "user:township-officer",
            "user:county-officer",
        ]


async def test_objections_need_a_writer_role(client, app, make_token, people):
    household = await new_household(client, people)
    case = await open_case(client, household["id"])
    await step(client, case["id"], "appraisal", {"votes_for": 9, "votes_against": 0, "on": day(0)})
    objection = {"content": "they own a shop", "on": day(1)}
    async with (
        api_client(app, make_token("22", roles=[], client_id="some-bank")) as client_system,
        api_client(app, make_token("22", roles=["bank"], client_id="bank-1")) as bank,
        api_client(app, make_token(VILLAGE, roles=["auditor"])) as reader,
        api_client(app, make_token(VILLAGE, subject="village-officer")) as village,
    ):
        for outsider in (client_system, bank, reader):
            refused = await outsider.post(f"/v1/cases/{case['id']}/objections", json=objection)
            assert_problem(refused, 403)
        assert (await client.get(f"/v1/cases/{case['id']}")).json()["suspended"] is False
        raised = await step(village, case["id"], "objections", objection, expect=201)
    assert raised["suspended"] is True and raised["steps"][-1]["actor"] == "user:village-officer"


async def test_other_county_cannot_see_or_act_on_cases(client, app, make_token, people):
    household = await new_household(client, people)
    case = await open_case(client, household["id"])
    async with api_client(app, make_token("220581")) as neighbour:
        assert_problem(await neighbour.get(f"/v1/cases/{case['id']}"), 404)
        assert_problem(
            await neighbour.post(
                f"/v1/cases/{case['id']}/appraisal", json={"votes_for": 1, "votes_against": 0}
            ),
            404,
        )
        assert (await neighbour.get("/v1/cases")).json()["items"] == []
        opened = await neighbour.post(
            "/v1/cases", json={"kind": "identification", "household_id": household["id"]}
        )
        assert_problem(opened, 422, pointer="#/body/household_id")


async def test_steps_are_idempotent(client, people):
    household = await new_household(client, people)
    case = await open_case(client, household["id"])
    body = {"votes_for": 9, "votes_against": 0, "on": day(0)}
    headers = {"Idempotency-Key": f"appraise-{case['id']}"}
    first = await client.post(f"/v1/cases/{case['id']}/appraisal", json=body, headers=headers)
    second = await client.post(f"/v1/cases/{case['id']}/appraisal", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true" and first.json() == second.json()
    read = (await client.get(f"/v1/cases/{case['id']}")).json()
    assert [s["step"] for s in read["steps"]] == ["applied", "appraised"]
    stale = await client.post(
        f"/v1/cases/{case['id']}/notice-completion",
        json={"on": day(7)},
        headers={"If-Match": '"1"'},
    )
    assert_problem(stale, 412, "precondition-failed", "#/header/If-Match")


async def test_an_opened_case_carries_its_etag_for_the_first_step(client, people):
    household = await new_household(client, people)
    body = {"kind": "identification", "household_id": household["id"], "on": D0.isoformat()}
    headers = {"Idempotency-Key": f"open-{household['id']}"}
    opened = await client.post("/v1/cases", json=body, headers=headers)
    assert opened.status_code == 201, opened.text
    assert opened.headers["etag"] == f'"{opened.json()["version"]}"'
    replayed = await client.post("/v1/cases", json=body, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.headers["etag"] == opened.headers["etag"]
    appraised = await client.post(
        f"/v1/cases/{opened.json()['id']}/appraisal",
        json={"votes_for": 9, "votes_against": 0, "on": day(0)},
        headers={"If-Match": opened.headers["etag"]},
    )
    assert appraised.status_code == 200, appraised.text


async def test_exclusion_rules_block_or_warn_at_county_approval(client, app, people):
    blocked = await new_household(client, people)
    warned = await new_household(client, people)
    async with app.state.sessionmaker() as session:
        for household, kind in ((blocked, "vehicle"), (warned, "company")):
            await session.execute(
                text(
                    "INSERT INTO flags (id, household_id, village_code, kind, source)"
                    " VALUES (:i, :h, :v, :k, 'test')"
                ),
                {"i": uuid.uuid4(), "h": household["id"], "v": VILLAGE, "k": kind},
            )
        await session.commit()
    rules = {r["kind"]: r["effect"] for r in (await client.get("/v1/exclusion-rules")).json()}
    assert rules["vehicle"] == "block" and rules["company"] == "flag"

    blocked_case = await open_case(client, blocked["id"])
    await drive_to_approval(client, blocked_case["id"])
    refused = await client.post(
        f"/v1/cases/{blocked_case['id']}/approval", json={"decision": "approve", "on": day(16)}
    )
    assert assert_problem(refused, 409, "excluded")["flags"] == ["vehicle"]

    warned_case = await open_case(client, warned["id"])
    await drive_to_approval(client, warned_case["id"])
    approved = await step(
        client, warned_case["id"], "approval", {"decision": "approve", "on": day(16)}
    )
    assert approved["state"] == "approved" and approved["warnings"] == ["flag: company"]

    # rules are data: an administrator turns vehicles into a warning
    changed = await client.put(
        "/v1/exclusion-rules/vehicle",
        json={"effect": "flag", "description": "farm trucks are common"},
    )
    assert changed.status_code == 200 and changed.json()["updated_by"] == "user:officer-1"
    approved = await step(
        client, blocked_case["id"], "approval", {"decision": "approve", "on": day(16)}
    )
    assert approved["warnings"] == ["flag: vehicle"]


async def test_exclusion_rules_need_a_province_admin_and_are_audited(client, app, make_token):
    change = {"effect": "flag", "description": "farm trucks are common"}
    async with (
        api_client(app, make_token("220622", roles=["admin"])) as county_admin,
        api_client(app, make_token("22", roles=["officer"])) as province_officer,
        api_client(app, make_token("22", roles=["admin"], subject="province-admin")) as admin,
    ):
        for refused in (county_admin, province_officer):
            assert_problem(await refused.put("/v1/exclusion-rules/vehicle", json=change), 403)
        assert {r["kind"]: r["effect"] for r in (await client.get("/v1/exclusion-rules")).json()}[
            "vehicle"
        ] == "block"
        changed = await admin.put("/v1/exclusion-rules/vehicle", json=change)
    assert changed.status_code == 200, changed.text
    async with app.state.sessionmaker() as session:
        audit = (
            await session.execute(
                text(
                    "SELECT actor, details FROM audit_log"
                    " WHERE action = 'exclusion_rule.set' AND object_id = 'vehicle'"
                )
            )
        ).one()
    assert audit.actor == "user:province-admin"
    assert audit.details["old"]["effect"] == "block"
    assert audit.details["new"] == change


async def quota_with_room(p, county: str, room: int) -> int:
    """Set the county's 2016 quota to the people already counted plus ``room``; returns that
    count (other suites may have committed registrations in this county)."""
    zero = await p.put(f"/v1/quotas/{county}/2016", json={"quota": 0})
    if zero.status_code == 409:  # approvals already counted people: it names how many
        used = assert_problem(zero, 409, "quota-below-used")["used"]
    else:
        assert zero.status_code == 200, zero.text
        used = (await p.get(f"/v1/quotas/{county}/2016")).json()["used"]
    assert (
        await p.put(f"/v1/quotas/{county}/2016", json={"quota": used + room})
    ).status_code == 200
    return used


async def test_quota_refuses_approval_unless_overridden(client, app, make_token, people):
    village = "220622101200"
    county = village[:6]
    province = make_token("22", roles=["officer"], subject="province-officer")
    async with api_client(app, province) as p:
        used_before = await quota_with_room(p, county, 3)
    first = await new_household(client, people, size=2, village=village)
    case = await open_case(client, first["id"])
    await drive_to_approval(client, case["id"])
    await step(client, case["id"], "approval", {"decision": "approve", "on": day(16)})
    assert (await client.get(f"/v1/quotas/{county}/2016")).json()["used"] == used_before + 2

    second = await new_household(client, people, size=2, village=village)
    case = await open_case(client, second["id"])
    await drive_to_approval(client, case["id"])
    refused = await client.post(
        f"/v1/cases/{case['id']}/approval", json={"decision": "approve", "on": day(16)}
    )
    assert assert_problem(refused, 409, "quota-exceeded")["regions"] == [county]
    async with api_client(app, make_token(county, roles=["officer"])) as officer:
        forbidden = await officer.post(
            f"/v1/cases/{case['id']}/approval",
            json={"decision": "approve", "on": day(16), "quota_override_reason": "flood"},
        )
        assert_problem(forbidden, 403)
    async with api_client(
        app, make_token(county, roles=["officer", "quota_override"], subject="county-head")
    ) as head:
        approved = await step(
            head,
            case["id"],
            "approval",
            {
                "decision": "approve",
                "on": day(16),
                "quota_override_reason": "flood in the township",
            },
        )
    assert (
        approved["state"] == "approved"
        and approved["quota_override_reason"] == "flood in the township"
    )
    async with app.state.sessionmaker() as session:
        audit = (
            await session.execute(
                text(
                    "SELECT actor, details FROM audit_log"
                    " WHERE action = 'quota.override' AND object_id = :c"
                ),
                {"c": case["id"]},
            )
        ).one()
    assert audit.actor == "user:county-head" and audit.details["over"][0]["used"] == used_before + 2
    assert (
        audit.details["over"][0]["adding"] == 2
        and audit.details["reason"] == "flood in the township"
    )

    # The override left the county over its quota: keeping or raising the quota is allowed,
    # lowering it further is not.
    url = f"/v1/quotas/{county}/2016"
    async with api_client(app, province) as p:
        assert (await p.put(url, json={"quota": used_before + 3})).status_code == 200
        lowered = await p.put(url, json={"quota": used_before + 2})
        body = assert_problem(lowered, 409, "quota-below-used", "#/body/quota")
        assert body["used"] == used_before + 4
        assert (await p.get(url)).json()["quota"] == used_before + 3
        assert (await p.put(url, json={"quota": used_before + 4})).status_code == 200


async def test_quota_use_is_counted_at_approval(client, app, make_token, people):
    village = "220622102200"
    county = village[:6]
    async with api_client(app, make_token("22", roles=["officer"])) as p:
        used_before = await quota_with_room(p, county, 100)
    household = await new_household(client, people, size=3, village=village)
    case = await open_case(client, household["id"])
    await drive_to_approval(client, case["id"])
    await step(client, case["id"], "approval", {"decision": "approve", "on": day(16)})
    assert (await client.get(f"/v1/quotas/{county}/2016")).json()["used"] == used_before + 3

    # a member leaving afterwards frees no place, and one joining uses none
    url = f"/v1/households/{household['id']}"
    current = await client.get(url)
    child = current.json()["members"][-1]
    left = await client.delete(
        f"{url}/members/{child['id']}",
        params={"reason": "migration", "on": day(20)},
        headers={"If-Match": current.headers["etag"]},
    )
    assert left.status_code == 200, left.text
    assert (await client.get(f"/v1/quotas/{county}/2016")).json()["used"] == used_before + 3
    # a rejected identification uses nothing
    other = await new_household(client, people, size=4, village=village)
    rejected = await open_case(client, other["id"])
    await drive_to_approval(client, rejected["id"])
    await step(
        client,
        rejected["id"],
        "approval",
        {"decision": "reject", "reason": "income above the line", "on": day(16)},
    )
    assert (await client.get(f"/v1/quotas/{county}/2016")).json()["used"] == used_before + 3


async def exited_household(client, people, income="20000"):
    household = await new_household(client, people, size=2)
    case = await open_case(client, household["id"])
    await drive_to_approval(client, case["id"])
    await step(client, case["id"], "approval", {"decision": "approve", "on": day(16)})
    fresh = (await client.get(f"/v1/households/{household['id']}")).json()
    put = await client.put(
        f"/v1/households/{household['id']}/incomes/2016",
        json={"wages": income},
        headers={"If-Match": f'"{fresh["version"]}"'},
    )
    assert put.status_code == 200, put.text
    return household


ALL_NEEDS = {
    "food": True,
    "clothing": True,
    "compulsory_education": True,
    "basic_medical_care": True,
    "housing_safety": True,
}


async def test_exit_checks_income_and_basic_needs(client, app, people):
    household = await exited_household(client, people, income="5000")  # 2500 per head < 3026 (2016)
    case = await open_case(client, household["id"], kind="exit", on=D0 + timedelta(days=30))
    refused = await client.post(
        f"/v1/cases/{case['id']}/appraisal",
        json={"votes_for": 9, "votes_against": 0, "basic_needs": ALL_NEEDS, "on": day(30)},
    )
    assert any(
        "not above the poverty line 3026" in u
        for u in assert_problem(refused, 409, "exit-criteria-not-met")["unmet"]
    )

    fresh = (await client.get(f"/v1/households/{household['id']}")).json()
    await client.put(
        f"/v1/households/{household['id']}/incomes/2016",
        json={"wages": "9000"},
        headers={"If-Match": f'"{fresh["version"]}"'},
    )
    no_housing = await client.post(
        f"/v1/cases/{case['id']}/appraisal",
        json={
            "votes_for": 9,
            "votes_against": 0,
            "basic_needs": {**ALL_NEEDS, "housing_safety": False},
            "on": day(30),
        },
    )
    assert assert_problem(no_housing, 409, "exit-criteria-not-met")["unmet"] == [
        "basic need not secured: housing_safety"
    ]

    await drive_exit(client, case["id"])
    exited = (await client.get(f"/v1/households/{household['id']}")).json()
    assert exited["status"] == "exited" and exited["exited_on"] == day(50)
    events = [
        e["data"]
        for e in await outbox_types(app, household["id"])
        if e["type"].endswith("status_changed.v1")
    ]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        ("applied", "identified"),
        ("identified", "exited"),
    ]

    # A case cannot open before the history it follows: here, before the exit was approved.
    early = await client.post(
        "/v1/cases",
        json={"kind": "return", "household_id": household["id"], "on": day(49)},
    )
    refused = assert_problem(early, 422)
    assert [e["pointer"] for e in refused["errors"]] == ["#/body/on"]
    assert day(50) in refused["detail"]
    back = await open_case(client, household["id"], kind="return", on=D0 + timedelta(days=60))
    await drive_to_approval(client, back["id"], start=60)
    await step(client, back["id"], "approval", {"decision": "approve", "on": day(80)})
    assert (await client.get(f"/v1/households/{household['id']}")).json()["status"] == "returned"


async def test_exit_is_assessed_on_the_exit_year_again_at_approval(client, people):
    household = await exited_household(client, people, income="20000")  # 2016 only, far above
    url = f"/v1/households/{household['id']}"

    async def set_income(year, wages):
        version = (await client.get(url)).json()["version"]
        put = await client.put(
            f"{url}/incomes/{year}", json={"wages": wages}, headers={"If-Match": f'"{version}"'}
        )
        assert put.status_code == 200, put.text

    case = await open_case(client, household["id"], kind="exit", on=date(2017, 3, 1))
    appraisal = {"votes_for": 9, "votes_against": 0, "basic_needs": ALL_NEEDS, "on": "2017-03-01"}
    stale = await client.post(f"/v1/cases/{case['id']}/appraisal", json=appraisal)
    assert assert_problem(stale, 409, "exit-criteria-not-met")["unmet"] == [
        "no per-capita net income is recorded for 2017"
    ]

    await set_income(2017, "9000")  # 4500 per head > 3335 (2017)
    await step(client, case["id"], "appraisal", appraisal)
    await step(client, case["id"], "notice-completion", {"on": "2017-03-09"})
    await step(client, case["id"], "review", {"decision": "approve", "on": "2017-03-09"})
    await step(client, case["id"], "notice-completion", {"on": "2017-03-17"})
    await set_income(2017, "6000")  # corrected: 3000 per head, below the 2017 line
    approval = {"decision": "approve", "on": "2017-03-20"}
    refused = await client.post(f"/v1/cases/{case['id']}/approval", json=approval)
    unmet = assert_problem(refused, 409, "exit-criteria-not-met")["unmet"]
    assert unmet == ["per-capita net income 3000.00 in 2017 is not above the poverty line 3335"]
    assert (await client.get(url)).json()["status"] == "identified"
    await step(
        client,
        case["id"],
        "approval",
        {"decision": "reject", "reason": "income", "on": "2017-03-20"},
    )

    later = await client.post(
        "/v1/cases", json={"kind": "exit", "household_id": household["id"], "on": "2021-03-01"}
    )
    problem = assert_problem(later, 409, "poverty-line-not-configured", "#/body/on")
    assert "2021" in problem["detail"] and "REGISTRY_POVERTY_LINES" in problem["detail"]


async def test_a_years_income_is_shared_by_the_members_of_that_year(client, people):
    """A member who died the next year still shared this year's income: 5000 over two is below
    the 2016 line, though one member is left today."""
    household = await exited_household(client, people, income="5000")
    current = await client.get(f"/v1/households/{household['id']}")
    other = next(m for m in current.json()["members"] if m["relation"] != "head")
    left = await client.delete(
        f"/v1/households/{household['id']}/members/{other['id']}",
        params={"reason": "death", "on": "2017-02-01"},
        headers={"If-Match": current.headers["etag"]},
    )
    assert left.status_code in (200, 204), left.text
    case = await open_case(client, household["id"], kind="exit", on=D0 + timedelta(days=30))
    refused = await client.post(
        f"/v1/cases/{case['id']}/appraisal",
        json={"votes_for": 9, "votes_against": 0, "basic_needs": ALL_NEEDS, "on": day(30)},
    )
    unmet = assert_problem(refused, 409, "exit-criteria-not-met")["unmet"]
    assert any("per-capita net income 2500.00 in 2016" in u for u in unmet), unmet


async def drive_exit(client, case_id):
    await step(
        client,
        case_id,
        "appraisal",
        {"votes_for": 9, "votes_against": 0, "basic_needs": ALL_NEEDS, "on": day(30)},
    )
    await step(client, case_id, "notice-completion", {"on": day(38)})
    await step(client, case_id, "review", {"decision": "approve", "on": day(38)})
    await step(client, case_id, "notice-completion", {"on": day(46)})
    return await step(client, case_id, "approval", {"decision": "approve", "on": day(50)})


async def test_natural_decrease_frees_members_and_removal_needs_reason(client, app, people):
    household = await exited_household(client, people)
    assert_problem(
        await client.post(
            "/v1/cases",
            json={"kind": "natural_decrease", "household_id": household["id"], "reason": "moved"},
        ),
        422,
        pointer="#/body/decrease_cause",
    )
    assert_problem(
        await client.post("/v1/cases", json={"kind": "removal", "household_id": household["id"]}),
        422,
        pointer="#/body/reason",
    )
    assert_problem(
        await client.post(
            "/v1/cases",
            json={
                "kind": "removal",
                "household_id": household["id"],
                "reason": "x",
                "decrease_cause": "death",
            },
        ),
        422,
        pointer="#/body/decrease_cause",
    )
    async with app.state.sessionmaker() as session:
        # an open flag left to review when the household leaves the register
        await session.execute(
            text(
                "INSERT INTO flags (id, household_id, village_code, kind, source, status)"
                " VALUES (gen_random_uuid(), :h, :v, 'company', 'test-list', 'open')"
            ),
            {"h": household["id"], "v": household["village_code"]},
        )
        await session.commit()
    case = await open_case(
        client,
        household["id"],
        kind="natural_decrease",
        on=D0 + timedelta(days=30),
        reason="the family moved to Changchun",
        decrease_cause="migration",
    )
    assert case["state"] == "township_review" and case["reason"].startswith("migration")
    await step(client, case["id"], "review", {"decision": "approve", "on": day(31)})
    await step(client, case["id"], "approval", {"decision": "approve", "on": day(32)})
    closed = (await client.get(f"/v1/households/{household['id']}")).json()
    assert closed["status"] == "natural_decrease"
    flags = (await client.get("/v1/flags", params={"household_id": household["id"]})).json()
    assert [(f["status"], f["resolution_reason"]) for f in flags["items"]] == [
        ("dismissed", "closed with the household (natural_decrease)")
    ]
    assert_problem(
        await client.patch(
            f"/v1/households/{household['id']}",
            json={"attribute": "dibao"},
            headers={"If-Match": f'"{closed["version"]}"'},
        ),
        409,
    )
    head = closed["members"][0]
    rejoined = await client.post(
        "/v1/households",
        json=household_payload(
            VILLAGE, "moved-back", [member_payload(head["id_number"], "刘大山", "head")]
        ),
    )
    assert rejoined.status_code == 201, rejoined.text


async def test_cases_listed_by_state_with_keyset_pagination(client, people):
    region = "220622102200"
    ids = []
    for _ in range(3):
        household = await new_household(client, people, village=region)
        ids.append((await open_case(client, household["id"]))["id"])
    seen, cursor = [], None
    while True:
        params = {
            "region": region,
            "state": "village_appraisal",
            "limit": 2,
            **({"cursor": cursor} if cursor else {}),
        }
        page = (await client.get("/v1/cases", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # (one test transaction gives every case the same created_at; the id breaks the tie)
    assert sorted(seen) == sorted(ids) and len(seen) == 3
    assert (await client.get("/v1/cases", params={"region": region, "state": "approved"})).json()[
        "items"
    ] == []


async def test_a_clear_read_of_a_case_shows_in_its_households_access_log(
    client, app, make_token, people
):
    household = await new_household(client, people)
    other = await new_household(client, people)
    case = await open_case(client, household["id"])
    other_case = await open_case(client, other["id"])
    for opened in (case, other_case):
        await step(
            client, opened["id"], "appraisal", {"votes_for": 20, "votes_against": 3, "on": day(0)}
        )
        # The objector's phone comes back in clear to a caller with pii:read: an audited read.
        await step(
            client,
            opened["id"],
            "objections",
            {"content": "they own a shop", "contact": "13800001111", "on": day(1)},
            expect=201,
        )
    async with api_client(app, make_token("22", roles=["auditor"])) as auditor:
        response = await auditor.get(f"/v1/households/{household['id']}/access-log")
    assert response.status_code == 200, response.text
    case_reads = [e for e in response.json()["items"] if e["object_type"] == "case"]
    assert case_reads, response.json()
    assert {e["object_id"] for e in case_reads} == {case["id"]}  # not the other household's
    assert all(e["action"] == "pii.read_unmasked" for e in case_reads)
    assert case_reads[0]["details"]["fields"] == ["phone"]


async def test_a_number_typed_into_an_objection_is_masked_and_its_clear_reads_audited(
    client, people, app, make_token
):
    household = await new_household(client, people)
    case = await open_case(client, household["id"])
    await step(
        client,
        case["id"],
        "appraisal",
        {
            "votes_for": 20,
            "votes_against": 3,
            "on": day(0),
            "evidence": {"note": "联系人电话 139-1234-5678", "documents": ["会议纪要2026-03-01"]},
        },
    )
    await step(
        client,
        case["id"],
        "objections",
        {"content": "他家有车，车主电话13912345678", "on": day(1)},
        expect=201,
    )
    async with api_client(app, make_token("22", roles=["officer"])) as without_pii:
        masked = (await without_pii.get(f"/v1/cases/{case['id']}")).json()
    assert masked["objections"][0]["content"] == "他家有车，车主电话13*******78"
    # an officer's step note is masked alike; a date in a document's name is not a number
    evidence = next(s["evidence"] for s in masked["steps"] if s["evidence"].get("note"))
    assert (evidence["note"], evidence["documents"]) == (
        "联系人电话 13*-****-**78",
        ["会议纪要2026-03-01"],
    )
    assert evidence["votes_for"] == 20
    clear = (await client.get(f"/v1/cases/{case['id']}")).json()  # the caller holds pii:read
    assert clear["objections"][0]["content"].endswith("13912345678")
    async with api_client(app, make_token("22", roles=["auditor"])) as auditor:
        log = (await auditor.get(f"/v1/households/{household['id']}/access-log")).json()
    fields = [e["details"]["fields"] for e in log["items"] if e["object_type"] == "case"]
    assert ["case_text", "objection_content"] in fields, log


async def test_an_exit_is_not_opened_for_a_year_without_a_poverty_line(client, people):
    """An exit is assessed on the line of the year it opens in: without one it could never
    move on, and it would block every other case of the household."""
    household = await exited_household(client, people)
    for on, year in (("2021-03-01", 2021), (None, business_today().year)):
        refused = await client.post(
            "/v1/cases", json={"kind": "exit", "household_id": household["id"], "on": on}
        )
        problem = assert_problem(refused, 409, "poverty-line-not-configured", "#/body/on")
        assert problem["years"] == [year] and problem["setting"] == "poverty_lines"
        assert str(year) in problem["detail"] and "REGISTRY_POVERTY_LINES" in problem["detail"]
    # nothing was left open: the household's other cases still open
    decrease = await open_case(
        client,
        household["id"],
        kind="natural_decrease",
        on=date(2021, 3, 1),
        reason="the family moved to Changchun",
        decrease_cause="migration",
    )
    assert decrease["state"] == "township_review"


async def test_an_exit_whose_line_is_missing_can_still_be_refused_and_closed(client, app, people):
    """A case whose year has no line any more (the configuration changed after it opened):
    a step that would not pass needs no line, so the case can still be closed."""
    household = await exited_household(client, people, income="20000")
    case = await open_case(client, household["id"], kind="exit", on=date(2017, 3, 1))
    settings = app.state.settings
    lines = {year: line for year, line in settings.poverty_lines.items() if year != 2017}
    app.state.settings = settings.model_copy(update={"poverty_lines": lines})
    url = f"/v1/cases/{case['id']}"
    try:
        wrong_state = await client.post(
            f"{url}/approval", json={"decision": "approve", "on": "2017-03-02"}
        )
        assert_problem(wrong_state, 409, "invalid-transition")
        no_votes = await client.post(
            f"{url}/appraisal",
            json={"votes_for": 0, "votes_against": 0, "basic_needs": ALL_NEEDS, "on": "2017-03-02"},
        )
        assert_problem(no_votes, 422, pointer="#/body/votes_for")
        for count in ("9", 9.0, True, "1e3"):  # a count of hands is a JSON integer
            loose = await client.post(
                f"{url}/appraisal",
                json={"votes_for": count, "votes_against": 0, "on": "2017-03-02"},
            )
            assert_problem(loose, 422, pointer="#/body/votes_for")
        passing = await client.post(
            f"{url}/appraisal",
            json={"votes_for": 9, "votes_against": 0, "basic_needs": ALL_NEEDS, "on": "2017-03-02"},
        )
        assert assert_problem(passing, 409, "poverty-line-not-configured")["years"] == [2017]
        failed = await step(
            client,
            case["id"],
            "appraisal",
            {"votes_for": 0, "votes_against": 9, "basic_needs": ALL_NEEDS, "on": "2017-03-02"},
        )
    finally:
        app.state.settings = settings
    assert failed["state"] == "rejected" and failed["steps"][-1]["step"] == "appraisal_failed"
    assert "0 for, 9 against" in failed["rejection_reason"]
    decrease = await open_case(
        client,
        household["id"],
        kind="natural_decrease",
        on=date(2017, 3, 3),
        reason="the family moved to Changchun",
        decrease_cause="migration",
    )
    assert decrease["state"] == "township_review"


async def test_an_exit_approval_without_a_line_is_refused_only_when_it_would_pass(
    client, app, people
):
    household = await exited_household(client, people, income="20000")
    case = await open_case(client, household["id"], kind="exit", on=D0 + timedelta(days=30))
    await drive_exit_to_approval(client, case["id"])
    settings = app.state.settings
    lines = {year: line for year, line in settings.poverty_lines.items() if year != 2016}
    app.state.settings = settings.model_copy(update={"poverty_lines": lines})
    url = f"/v1/cases/{case['id']}/approval"
    try:
        no_reason = await client.post(url, json={"decision": "reject", "on": day(50)})
        assert_problem(no_reason, 422, pointer="#/body/reason")
        passing = await client.post(url, json={"decision": "approve", "on": day(50)})
        assert_problem(passing, 409, "poverty-line-not-configured")
        refused = await step(
            client, case["id"], "approval", {"decision": "reject", "reason": "x", "on": day(50)}
        )
    finally:
        app.state.settings = settings
    assert refused["state"] == "rejected"


async def drive_exit_to_approval(client, case_id):
    await step(
        client,
        case_id,
        "appraisal",
        {"votes_for": 9, "votes_against": 0, "basic_needs": ALL_NEEDS, "on": day(30)},
    )
    await step(client, case_id, "notice-completion", {"on": day(38)})
    await step(client, case_id, "review", {"decision": "approve", "on": day(38)})
    await step(client, case_id, "notice-completion", {"on": day(46)})


async def test_steps_cannot_be_dated_before_the_register_began(client, app, people):
    earliest = app.state.settings.earliest_register_year
    household = await new_household(client, people)
    for too_early in ("0001-01-01", f"{earliest - 1}-12-31"):
        refused = await client.post(
            "/v1/cases",
            json={"kind": "identification", "household_id": household["id"], "on": too_early},
        )
        assert str(earliest) in assert_problem(refused, 422, pointer="#/body/on")["detail"]
    case = await open_case(client, household["id"], on=date(earliest, 1, 1))
    assert case["opened_on"] == f"{earliest}-01-01"
    refused = await client.post(
        f"/v1/cases/{case['id']}/appraisal",
        json={"votes_for": 9, "votes_against": 0, "on": "0001-01-01"},
    )
    assert_problem(refused, 422, pointer="#/body/on")


async def test_a_replayed_step_carries_the_etag_of_the_case_it_shows(client, people):
    """A replay shows the case as the first run left it: its ETag is that version, so a client
    sending it back cannot act on a case that moved on since."""
    household = await new_household(client, people)
    case = await open_case(client, household["id"])
    url = f"/v1/cases/{case['id']}"
    body = {"votes_for": 9, "votes_against": 0, "on": day(0)}
    headers = {"Idempotency-Key": f"appraise-etag-{case['id']}"}
    first = await client.post(f"{url}/appraisal", json=body, headers=headers)
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    await step(client, case["id"], "notice-completion", {"on": day(8)})
    replayed = await client.post(f"{url}/appraisal", json=body, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json()["version"] == 2 and replayed.headers["etag"] == '"2"'
    stale = await client.post(
        f"{url}/review",
        json={"decision": "approve", "on": day(8)},
        headers={"If-Match": replayed.headers["etag"]},
    )
    assert_problem(stale, 412)


async def test_a_household_is_not_registered_before_its_head_was_born(client, people):
    """The county approval is the registration date (登记日期): not before the head's birth,
    as the import refuses it."""
    head = member_payload(people.id_number(date(2016, 6, 1), "male"), "刘小山", "head")
    body = household_payload(VILLAGE, uuid.uuid4().hex[:10], [head], year=2016)
    household = (await client.post("/v1/households", json=body)).json()
    case = await open_case(client, household["id"])
    await drive_to_approval(client, case["id"])
    refused = await client.post(
        f"/v1/cases/{case['id']}/approval", json={"decision": "approve", "on": day(16)}
    )
    body = assert_problem(refused, 422, pointer="#/body/on")
    assert "before its head's birth" in body["errors"][0]["detail"]
    assert "2016-06-01" not in refused.text  # the birth date stays hidden
    approved = await client.post(
        f"/v1/cases/{case['id']}/approval", json={"decision": "approve", "on": "2016-06-01"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
