"""Races that only real commits expose: one person registered twice at once, two registrations
sharing people listed in opposite orders, two county approvals competing for the last places of
a quota, a member joining while an approval counts.

Some races are made certain rather than left to timing: a transaction of the test holds its
rows (a registration, a member added) uncommitted until the racing requests wait on it."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.auth import Caller
from fupin_kit.testing.plugin import api_client, bearer
from fupin_registry.crosscheck.models import Flag
from fupin_registry.households.models import Household
from fupin_registry.households.schemas import HouseholdCreate, MemberCreate
from fupin_registry.households.service import HouseholdService
from fupin_registry.main import create_app
from fupin_registry.privacy import get_privacy_of
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

OFFICER = Caller(subject="racing-officer", roles=frozenset({"officer"}), jurisdiction="22")


async def to_county_approval(call, household_id: str, year: int) -> str:
    """Open the household's identification case and take it through appraisal, both notices
    and the township review, up to the county's approval; the case's id."""
    case = await call(
        "POST",
        "/v1/cases",
        {"kind": "identification", "household_id": household_id, "on": f"{year}-03-01"},
    )
    await call(
        "POST",
        f"/v1/cases/{case['id']}/appraisal",
        {"votes_for": 9, "votes_against": 0, "on": f"{year}-03-01"},
    )
    await call("POST", f"/v1/cases/{case['id']}/notice-completion", {"on": f"{year}-03-09"})
    await call(
        "POST", f"/v1/cases/{case['id']}/review", {"decision": "approve", "on": f"{year}-03-09"}
    )
    await call("POST", f"/v1/cases/{case['id']}/notice-completion", {"on": f"{year}-03-17"})
    return str(case["id"])


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
        cases.append(await to_county_approval(call, household["id"], year))
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
            ("notice-completion", {"on": f"{year}-03-09"}),
            ("review", {"decision": "approve", "on": f"{year}-03-09"}),
            ("notice-completion", {"on": f"{year}-03-17"}),
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


@asynccontextmanager
async def committing_app(settings, token):
    """An app whose requests commit, with its client."""
    app = create_app(settings)
    async with api_client(app, token) as client:
        yield app, client


@asynccontextmanager
async def held_transaction(
    app, *, commit: bool = True
) -> AsyncIterator[tuple[AsyncSession, HouseholdService, int]]:
    """A transaction of the app kept open (its row locks and uncommitted rows held) until the
    block ends, then committed (or rolled back); with its household service and its server
    process id."""
    async with app.state.sessionmaker() as session:
        service = HouseholdService(
            session,
            privacy=get_privacy_of(app),
            regions=app.state.regions,
            settings=app.state.settings,
        )
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        yield session, service, pid
        if commit:
            await session.commit()
        else:
            await session.rollback()


async def wait_until_waiting_on(app, pid: int, count: int, requests) -> None:
    """Until ``count`` database sessions wait on the transaction of ``pid``."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    for _ in range(400):
        async with app.state.sessionmaker() as session:
            if await session.scalar(query, {"pid": pid}) >= count:
                return
        finished = [task.result() for task in requests if task.done()]
        assert not finished, [r.text for r in finished]
        await asyncio.sleep(0.025)
    raise AssertionError(f"fewer than {count} requests waited on the held transaction")


async def wait_until_blocked(app, count: int, requests) -> None:
    """Until ``count`` database sessions wait on a lock, whoever holds it."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
    )
    for _ in range(400):
        async with app.state.sessionmaker() as session:
            if await session.scalar(query) >= count:
                return
        finished = [task.result() for task in requests if task.done()]
        assert not finished, [r.text for r in finished]
        await asyncio.sleep(0.025)
    raise AssertionError(f"fewer than {count} requests waited on a lock")


def assert_conflict_on(response, pointer: str, detail: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [e["pointer"] for e in problem.get("errors", [])] == [pointer], problem
    assert problem["detail"] == detail, problem


async def test_registrations_racing_for_one_person_are_refused_on_the_member(settings, make_token):
    """Four registrations naming a person that another registration, not yet committed, has
    just registered: each passes the check, then loses on the unique index. The answer is the
    one the check gives, naming the member."""
    people = PeopleFactory("220623", seed=uuid.uuid4().int)
    shared = people.id_number()
    token = make_token("220623", subject=f"race-{uuid.uuid4().hex[:6]}")
    async with committing_app(settings, token) as (app, client):
        async with held_transaction(app) as (_, service, pid):
            first = household_payload(
                "220623200200", uuid.uuid4().hex[:8], [member_payload(shared, "金一", "head")]
            )
            await service.create(HouseholdCreate.model_validate(first), OFFICER)
            racing = [
                asyncio.create_task(
                    client.post(
                        "/v1/households",
                        json=household_payload(
                            "220623200201",
                            uuid.uuid4().hex[:8],
                            [
                                member_payload(people.id_number(), "金二", "head"),
                                member_payload(shared, "金一", "parent"),
                            ],
                        ),
                    )
                )
                for _ in range(4)
            ]
            await wait_until_waiting_on(app, pid, 4, racing)
        for response in await asyncio.gather(*racing):
            assert_conflict_on(
                response,
                "#/body/members/1/id_number",
                "this person already belongs to an active household",
            )


async def test_a_person_added_to_two_households_at_once_is_refused_on_the_member(
    settings, make_token
):
    people = PeopleFactory("220623", seed=uuid.uuid4().int)
    person = people.id_number()
    token = make_token("220623", subject=f"race-{uuid.uuid4().hex[:6]}")
    async with committing_app(settings, token) as (app, client):
        households = []
        for name in ("朴一", "朴二"):
            body = household_payload(
                "220623200202", uuid.uuid4().hex[:8], [member_payload(people.id_number(), name)]
            )
            created = await client.post("/v1/households", json=body)
            assert created.status_code == 201, created.text
            households.append(created.json())
        joining = member_payload(person, "朴三", "child")
        async with held_transaction(app) as (_, service, pid):
            held = await service.households.get(uuid.UUID(households[0]["id"]), for_update=True)
            assert held is not None
            await service.add_member(held, MemberCreate.model_validate(joining), OFFICER)
            racing = [
                asyncio.create_task(
                    client.post(
                        f"/v1/households/{households[1]['id']}/members",
                        json=joining,
                        headers={"If-Match": '"1"'},
                    )
                )
            ]
            await wait_until_waiting_on(app, pid, 1, racing)
        [response] = await asyncio.gather(*racing)
        assert_conflict_on(
            response, "#/body/id_number", "this person already belongs to an active household"
        )


async def test_a_household_number_taken_at_the_same_time_is_refused_on_the_number(
    settings, make_token
):
    people = PeopleFactory("220623", seed=uuid.uuid4().int)
    number = uuid.uuid4().hex[:8]
    token = make_token("220623", subject=f"race-{uuid.uuid4().hex[:6]}")
    async with committing_app(settings, token) as (app, client):
        async with held_transaction(app) as (_, service, pid):
            first = household_payload(
                "220623200200", number, [member_payload(people.id_number(), "韩一", "head")]
            )
            await service.create(HouseholdCreate.model_validate(first), OFFICER)
            second = household_payload(
                "220623200200", number, [member_payload(people.id_number(), "韩二", "head")]
            )
            racing = [asyncio.create_task(client.post("/v1/households", json=second))]
            await wait_until_waiting_on(app, pid, 1, racing)
        [response] = await asyncio.gather(*racing)
        assert_conflict_on(
            response,
            "#/body/household_number",
            "this household number is already used in the village",
        )


async def test_a_member_added_while_an_approval_counts_is_counted(settings, make_token):
    """The approval counts the members under the household's lock: a member whose addition
    holds that lock is counted once it commits, so a third person on a quota of two places is
    refused, never registered uncounted."""
    # a county and year no other test sets quotas for: these commits outlive the test
    county, year = "220821", 2019
    people = PeopleFactory(county, seed=uuid.uuid4().int)
    token = make_token("22", subject=f"count-race-{uuid.uuid4().hex[:6]}")
    async with committing_app(settings, token) as (app, client):

        async def call(method, url, body=None):
            response = await client.request(method, url, json=body)
            assert response.status_code in (200, 201), response.text
            return response.json()

        zero = await client.put(f"/v1/quotas/{county}/{year}", json={"quota": 0})
        if zero.status_code == 409:  # an earlier run's approvals counted people
            used = zero.json()["used"]
        else:
            used = (await call("GET", f"/v1/quotas/{county}/{year}"))["used"]
        await call("PUT", f"/v1/quotas/{county}/{year}", {"quota": used + 2})
        members = [
            member_payload(people.id_number(), "吕一", "head"),
            member_payload(people.id_number(), "吕二", "child"),
        ]
        household = await call(
            "POST",
            "/v1/households",
            household_payload("220821001002", uuid.uuid4().hex[:8], members, year=year),
        )
        case = await call(
            "POST",
            "/v1/cases",
            {"kind": "identification", "household_id": household["id"], "on": f"{year}-03-01"},
        )
        steps = [
            ("appraisal", {"votes_for": 9, "votes_against": 0, "on": f"{year}-03-01"}),
            ("notice-completion", {"on": f"{year}-03-09"}),
            ("review", {"decision": "approve", "on": f"{year}-03-09"}),
            ("notice-completion", {"on": f"{year}-03-17"}),
        ]
        for name, body in steps:
            await call("POST", f"/v1/cases/{case['id']}/{name}", body)

        async with held_transaction(app) as (_, service, pid):
            held = await service.households.get(uuid.UUID(household["id"]), for_update=True)
            assert held is not None
            third = member_payload(people.id_number(), "吕三", "child")
            await service.add_member(held, MemberCreate.model_validate(third), OFFICER)
            approving = [
                asyncio.create_task(
                    client.post(
                        f"/v1/cases/{case['id']}/approval",
                        json={"decision": "approve", "on": f"{year}-03-20"},
                    )
                )
            ]
            await wait_until_waiting_on(app, pid, 1, approving)
        [approval] = await asyncio.gather(*approving)
        assert approval.status_code == 409, approval.text
        assert approval.json()["type"].endswith("/quota-exceeded")
        assert approval.json()["regions"] == [county]
        registered = await call("GET", f"/v1/households/{household['id']}")
        assert registered["status"] == "applied" and len(registered["members"]) == 3
        assert (await call("GET", f"/v1/quotas/{county}/{year}"))["used"] == used


async def test_registrations_sharing_people_in_opposite_orders_never_deadlock(settings, make_token):
    """Two registrations name the same three people: one A, P, B and the other B, P, A. A
    transaction holding P uncommitted lets both pass the checks and stops both at P; it rolls
    back and lets them run into each other. Were members written in the order sent, each would
    hold its first person and wait for the other's (a deadlock, answered 503); written in
    blind-index order, the later one waits without holding anything the earlier needs. Each
    round one registers the household and the other is refused on its first member with 409.
    The rounds put P first, second and last in blind-index order."""
    token = make_token("220623", subject=f"race-{uuid.uuid4().hex[:6]}")
    people = PeopleFactory("220623", seed=uuid.uuid4().int)
    async with committing_app(settings, token) as (app, client):
        index = get_privacy_of(app).index
        for rank in range(3):
            ordered = sorted((people.id_number() for _ in range(3)), key=index.of)
            middle = ordered[rank]
            a, b = (person for person in ordered if person != middle)
            bodies = [
                household_payload(
                    "220623200202",
                    uuid.uuid4().hex[:8],
                    [
                        member_payload(first, "柳一", "head"),
                        member_payload(middle, "柳三", "child"),
                        member_payload(last, "柳二", "spouse"),
                    ],
                )
                for first, last in ((a, b), (b, a))
            ]
            async with held_transaction(app, commit=False) as (_, service, _):
                holding = household_payload(
                    "220623200203", uuid.uuid4().hex[:8], [member_payload(middle, "柳三")]
                )
                await service.create(HouseholdCreate.model_validate(holding), OFFICER)
                racing = [
                    asyncio.create_task(client.post("/v1/households", json=body)) for body in bodies
                ]
                await wait_until_blocked(app, 2, racing)
            responses = await asyncio.gather(*racing)
            assert sorted(r.status_code for r in responses) == [201, 409], [
                r.text for r in responses
            ]
            refused = next(r for r in responses if r.status_code == 409)
            assert_conflict_on(
                refused,
                "#/body/members/0/id_number",
                "this person already belongs to an active household",
            )


async def test_a_flag_review_waiting_for_its_household_holds_no_lock_on_the_flag(
    settings, make_token
):
    """A case that closes a household locks the household, then dismisses its open flags; a
    review locks the household, then the flag. Were a review to hold its flag while it waits
    for the household (the other order), the two would deadlock. With the household held by a
    transaction of the test, the waiting review leaves the flag free to lock."""
    token = make_token("220623", subject=f"race-{uuid.uuid4().hex[:6]}")
    people = PeopleFactory("220623", seed=uuid.uuid4().int)
    async with committing_app(settings, token) as (app, client):
        created = await client.post(
            "/v1/households",
            json=household_payload(
                "220623200204", uuid.uuid4().hex[:8], [member_payload(people.id_number(), "柳四")]
            ),
        )
        assert created.status_code == 201, created.text
        household_id = uuid.UUID(created.json()["id"])
        async with app.state.sessionmaker() as session, session.begin():
            flag = Flag(
                household_id=household_id,
                village_code="220623200204",
                kind="vehicle",
                source="test",
            )
            session.add(flag)
        async with held_transaction(app, commit=False) as (session, _, _):
            await session.execute(
                select(Household.id).where(Household.id == household_id).with_for_update()
            )
            review = asyncio.create_task(
                client.post(f"/v1/flags/{flag.id}/confirm", json={"reason": "名下有车"})
            )
            await wait_until_blocked(app, 1, [review])
            async with app.state.sessionmaker() as other, other.begin():
                locked = await other.scalar(
                    select(Flag.id).where(Flag.id == flag.id).with_for_update(nowait=True)
                )
                assert locked == flag.id
        confirmed = await review
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "confirmed"


async def test_one_key_reused_on_a_case_step_and_its_household_at_once_never_deadlocks(
    committed_client, make_token
):
    """A county approval locks its case, then the household; a head change locks the household
    only. Sent at once with one Idempotency-Key, each used to reserve the key between its locks
    and could wait on the other's (a deadlock, answered 503). The key is now held before
    anything is loaded: one command runs, the other meets the used key."""
    headers = bearer(make_token("22", subject=f"key-race-{uuid.uuid4().hex[:6]}"))
    people = PeopleFactory("220621", seed=uuid.uuid4().int)
    year = 2017

    async def call(method, url, body=None, **extra):
        response = await committed_client.request(
            method, url, json=body, headers={**headers, **extra}
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    for _ in range(6):
        members = [
            member_payload(people.id_number(), "邢一", "head"),
            member_payload(people.id_number(), "邢二", "spouse"),
        ]
        household = await call(
            "POST",
            "/v1/households",
            household_payload("220621101001", uuid.uuid4().hex[:8], members, year=year),
        )
        case = await to_county_approval(call, household["id"], year)
        key = {"Idempotency-Key": uuid.uuid4().hex}
        spouse = household["members"][1]["id"]
        responses = await asyncio.gather(
            committed_client.post(
                f"/v1/cases/{case}/approval",
                json={"decision": "approve", "on": f"{year}-03-20"},
                headers={**headers, **key},
            ),
            committed_client.post(
                f"/v1/households/{household['id']}/head",
                json={"member_id": spouse, "former_head_relation": "spouse"},
                headers={**headers, **key, "If-Match": '"1"'},
            ),
        )
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 1 and not {412, 422}.isdisjoint(statuses), [
            r.text for r in responses
        ]


async def test_a_new_exclusion_rule_set_at_once_is_audited_as_one_creation_then_changes(
    settings, make_token
):
    """Ten first settings of one kind: the audit chain records one creation (old none) and nine
    changes, each naming the rule the one before it left."""
    token = make_token("22", roles=["admin"], subject="rule-race")
    kind = "race_" + "".join(chr(97 + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])
    bodies = [
        {"effect": "block" if i % 2 else "flag", "description": f"rule {i}"} for i in range(10)
    ]
    async with committing_app(settings, token) as (app, client):
        responses = await asyncio.gather(
            *[client.put(f"/v1/exclusion-rules/{kind}", json=body) for body in bodies]
        )
        assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
        async with app.state.sessionmaker() as session:
            details = (
                (
                    await session.execute(
                        text(
                            "SELECT details FROM audit_log WHERE action = 'exclusion_rule.set'"
                            " AND object_id = :kind ORDER BY seq"
                        ),
                        {"kind": kind},
                    )
                )
                .scalars()
                .all()
            )
    assert len(details) == 10
    assert details[0]["old"] is None
    for before, after in zip(details, details[1:], strict=False):
        assert after["old"] == before["new"], details
