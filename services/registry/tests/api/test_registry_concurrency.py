"""Races that only real commits expose: one person registered twice at once, two county
approvals competing for the last places of a quota."""

import asyncio
import uuid

from fupin_kit.testing.plugin import bearer
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload


async def test_the_same_person_registered_twice_at_once(committed_client, make_token):
    headers = bearer(make_token("220623", subject=f"race-{uuid.uuid4().hex[:6]}"))
    people = PeopleFactory("220623", seed=uuid.uuid4().int)
    shared = people.id_number()
    bodies = [
        household_payload(
            "220623200200", uuid.uuid4().hex[:8], [member_payload(shared, "金一", "head")]
        ),
        household_payload(
            "220623200201",
            uuid.uuid4().hex[:8],
            [
                member_payload(people.id_number(), "金二", "head"),
                member_payload(shared, "金一", "parent"),
            ],
        ),
    ]
    responses = await asyncio.gather(
        *[committed_client.post("/v1/households", json=b, headers=headers) for b in bodies]
    )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.headers["content-type"] == "application/problem+json"


async def test_concurrent_approvals_respect_the_quota(committed_client, make_token):
    headers = bearer(make_token("22", subject=f"quota-race-{uuid.uuid4().hex[:6]}"))
    county, year = "220623", 2018
    people = PeopleFactory(county, seed=uuid.uuid4().int)

    async def call(method, url, body=None):
        response = await committed_client.request(method, url, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()

    zero = await committed_client.put(
        f"/v1/quotas/{county}/{year}", json={"quota": 0}, headers=headers
    )
    if zero.status_code == 409:  # an earlier run's approvals counted people: it names how many
        used = zero.json()["used"]
    else:
        used = (await call("GET", f"/v1/quotas/{county}/{year}"))["used"]
    await call("PUT", f"/v1/quotas/{county}/{year}", {"quota": used + 3})
    cases = []
    for _ in range(2):
        members = [
            member_payload(people.id_number(), "崔一", "head"),
            member_payload(people.id_number(), "崔二", "child"),
        ]
        household = await call(
            "POST",
            "/v1/households",
            household_payload("220623200202", uuid.uuid4().hex[:8], members, year=year),
        )
        case = await call(
            "POST",
            "/v1/cases",
            {"kind": "identification", "household_id": household["id"], "on": f"{year}-03-01"},
        )
        await call(
            "POST",
            f"/v1/cases/{case['id']}/appraisal",
            {"votes_for": 9, "votes_against": 0, "on": f"{year}-03-01"},
        )
        await call("POST", f"/v1/cases/{case['id']}/notice-completion", {"on": f"{year}-03-08"})
        await call(
            "POST", f"/v1/cases/{case['id']}/review", {"decision": "approve", "on": f"{year}-03-09"}
        )
        await call("POST", f"/v1/cases/{case['id']}/notice-completion", {"on": f"{year}-03-16"})
        cases.append(case["id"])
    approvals = await asyncio.gather(
        *[
            committed_client.post(
                f"/v1/cases/{c}/approval",
                json={"decision": "approve", "on": f"{year}-03-20"},
                headers=headers,
            )
            for c in cases
        ]
    )
    assert sorted(r.status_code for r in approvals) == [200, 409], [r.text for r in approvals]
    assert (await call("GET", f"/v1/quotas/{county}/{year}"))["used"] == used + 2


async def test_siblings_set_at_once_cannot_both_exceed_a_new_parent(committed_client, make_token):
    headers = bearer(make_token("22", subject=f"tree-race-{uuid.uuid4().hex[:6]}"))
    year = 2016

    async def put(code, quota):
        return await committed_client.put(
            f"/v1/quotas/{code}/{year}", json={"quota": quota}, headers=headers
        )

    # the parent's row does not exist yet while its children are being set
    responses = await asyncio.gather(put("2207", 10), put("220722", 8), put("220723", 8))
    statuses = [r.status_code for r in responses]
    assert all(s in (200, 409) for s in statuses), [r.text for r in responses]
    city = await committed_client.get(f"/v1/quotas/2207/{year}", headers=headers)
    if city.status_code == 200:
        assert city.json()["children_total"] <= city.json()["quota"]


async def test_a_quota_lowered_during_an_approval_never_ends_below_what_is_used(
    committed_client, make_token
):
    """The quota change waits for the approval in flight and counts it: either the approval
    lands first and lowering below it is 409, or the lower quota lands first and the approval is
    refused; never both (a quota below the people its approvals counted)."""
    headers = bearer(make_token("22", subject=f"quota-lower-{uuid.uuid4().hex[:6]}"))
    county, year = "220821", 2020
    people = PeopleFactory(county, seed=uuid.uuid4().int)

    async def call(method, url, body=None):
        response = await committed_client.request(method, url, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()

    for _ in range(3):
        current = await committed_client.get(f"/v1/quotas/{county}/{year}", headers=headers)
        used = current.json()["used"] if current.status_code == 200 else 0
        await call("PUT", f"/v1/quotas/{county}/{year}", {"quota": used + 2})
        members = [
            member_payload(people.id_number(), "裴一", "head"),
            member_payload(people.id_number(), "裴二", "child"),
        ]
        household = await call(
            "POST",
            "/v1/households",
            household_payload("220821001001", uuid.uuid4().hex[:8], members, year=year),
        )
        case = (
            await call(
                "POST",
                "/v1/cases",
                {"kind": "identification", "household_id": household["id"], "on": f"{year}-03-01"},
            )
        )["id"]
        steps = [
            ("appraisal", {"votes_for": 9, "votes_against": 0, "on": f"{year}-03-01"}),
            ("notice-completion", {"on": f"{year}-03-08"}),
            ("review", {"decision": "approve", "on": f"{year}-03-09"}),
            ("notice-completion", {"on": f"{year}-03-16"}),
        ]
        for step, body in steps:
            await call("POST", f"/v1/cases/{case}/{step}", body)
        approval, lowering = await asyncio.gather(
            committed_client.post(
                f"/v1/cases/{case}/approval",
                json={"decision": "approve", "on": f"{year}-03-20"},
                headers=headers,
            ),
            committed_client.put(
                f"/v1/quotas/{county}/{year}", json={"quota": used}, headers=headers
            ),
        )
        outcome = sorted([approval.status_code, lowering.status_code])
        assert outcome == [200, 409], [approval.text, lowering.text]
        quota = await call("GET", f"/v1/quotas/{county}/{year}")
        assert quota["used"] <= quota["quota"], quota
