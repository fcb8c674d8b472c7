"""Bank eligibility API: scope, minimal answers, rules end to end, audit of every check (also in
batches and under concurrency, the chain verifying), rate limit, jurisdiction, bad input."""

import asyncio
import itertools
import json
import random
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.testing import capture_logs

from fupin_events.values import business_today, id_check_character
from fupin_kit.audit import verify_chain
from fupin_kit.testing.plugin import api_client, bearer
from fupin_registry.households.models import Household, Member
from fupin_registry.identification.models import Case
from fupin_registry.main import create_app
from fupin_registry.privacy import Privacy

ANSWER_KEYS = {"decision_id", "eligible", "reason_code", "valid_until"}
SCOPE = "eligibility:check"
_serial = itertools.count(random.randrange(1000))


def resident_id(born: date, region: str = "220622") -> str:
    body = f"{region}{born:%Y%m%d}{next(_serial) % 1000:03d}"
    return body + id_check_character(body)


def adult() -> date:
    return date(1970 + random.randrange(25), random.randrange(1, 13), random.randrange(1, 28))


def village(county: str = "220622") -> str:
    # These households are committed, so they go to township 999, which no county has: the
    # register's statistics tests count whole real townships.
    return f"{county}999{random.randrange(100, 999)}"


async def seed_household(
    engine,
    privacy: Privacy,
    *,
    status: str = "identified",
    exited_on: date | None = None,
    village_code: str | None = None,
    members: list[tuple[str, bool]] = (),
) -> uuid.UUID:
    """A committed household with members given as (ID number, active)."""
    household_id = uuid.uuid4()
    household = Household(
        id=household_id,
        village_code=village_code or village(),
        household_number=uuid.uuid4().hex[:10],
        attribute="ordinary_poor",
        support_type="development",
        primary_cause="illness",
        status=status,
        year=2016,
        registered_on=date(2016, 5, 1),
        exited_on=exited_on,
    )
    async with AsyncSession(engine) as session, session.begin():
        session.add(household)
        await session.flush()
        for id_number, active in members:
            session.add(
                Member(
                    household_id=household_id,
                    id_index=privacy.index.of(id_number),
                    id_number_enc=privacy.seal(id_number, "id_number"),
                    name_enc=privacy.seal("张三", "name"),
                    sex="male",
                    birth_date=date(
                        int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])
                    ),
                    relation="head",
                    active=active,
                )
            )
    return household_id


@pytest.fixture
async def running(settings):
    app = create_app(settings)
    async with api_client(app) as client:
        yield app, client


@pytest.fixture
def bank(make_token):
    return bearer(
        make_token("22", scopes=[SCOPE], roles=["bank"], client_id=f"bank-{uuid.uuid4().hex[:6]}")
    )


def check(id_number: str, purpose: str = "subsidised_loan", consent: str = "CONSENT-1") -> dict:
    return {"id_number": id_number, "purpose": purpose, "consent_reference": consent}


async def audit_rows(engine, decision_ids: list[str]) -> list[dict]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT actor, action, object_type, object_id, details FROM audit_log"
                " WHERE action = 'eligibility.check'"
                " AND details->>'decision_id' = ANY(:ids) ORDER BY seq"
            ),
            {"ids": decision_ids},
        )
        return [dict(r._mapping) for r in rows]


async def test_scope_is_required(running, make_token, engine, settings):
    _, client = running
    someone = resident_id(adult())
    missing = await client.post("/v1/eligibility/checks", json=check(someone))
    assert (
        missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    )
    officer = bearer(
        make_token("22", scopes=["pii:read"], roles=["officer", "admin"], subject="clerk-9")
    )
    with capture_logs() as logs:
        refused = await client.post("/v1/eligibility/checks", json=check(someone), headers=officer)
    assert refused.status_code == 403 and "eligibility:check" in refused.json()["detail"]
    # refused for its scope, and logged with who asked
    assert [(e["status"], e["actor"]) for e in logs if e["event"] == "request.refused"] == [
        (403, "user:clerk-9")
    ]
    batch = await client.post(
        "/v1/eligibility/checks/batch", json={"items": [check(someone)]}, headers=officer
    )
    assert batch.status_code == 403


async def test_answer_is_minimal_and_audited(running, bank, engine, settings):
    _, client = running
    privacy = Privacy(settings)
    person = resident_id(adult())
    await seed_household(engine, privacy, members=[(person, True)])
    response = await client.post(
        "/v1/eligibility/checks", json=check(person, consent="BANK-CONSENT-77"), headers=bank
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == ANSWER_KEYS
    assert answer["eligible"] is True and answer["reason_code"] == "eligible"
    assert date.fromisoformat(answer["valid_until"]) == business_today() + timedelta(
        days=settings.eligibility_answer_valid_days
    )
    assert person not in response.text and "张三" not in response.text

    [row] = await audit_rows(engine, [answer["decision_id"]])
    assert row["actor"].startswith("client:bank-")
    assert row["object_type"] == "member" and row["object_id"] == privacy.index.hex(person)
    assert row["details"]["purpose"] == "subsidised_loan"
    assert row["details"]["consent_reference"] == "BANK-CONSENT-77"
    # a space inside a reference is printable ASCII too, and kept as sent
    spaced = await client.post(
        "/v1/eligibility/checks", json=check(person, consent="CONSENT 2020 / 7"), headers=bank
    )
    assert spaced.status_code == 200, spaced.text
    [row] = await audit_rows(engine, [spaced.json()["decision_id"]])
    assert row["details"]["consent_reference"] == "CONSENT 2020 / 7"
    assert row["details"]["eligible"] is True and row["details"]["reason_code"] == "eligible"
    assert person not in str(row)  # never the clear ID number


@pytest.mark.parametrize(
    ("status", "exited_years_ago", "active", "reason"),
    [
        ("removed", None, False, "removed"),
        ("natural_decrease", None, False, "natural_decrease"),
        ("exited", 4, True, "exited_beyond_transition"),
        ("exited", 1, True, "eligible"),
        ("returned", None, True, "eligible"),
        ("applied", None, True, "not_registered"),
        ("identified", None, False, "member_inactive"),
    ],
)
async def test_rules_end_to_end(
    running, bank, engine, settings, status, exited_years_ago, active, reason
):
    _, client = running
    person = resident_id(adult())
    exited_on = (
        None
        if exited_years_ago is None
        else business_today() - timedelta(days=365 * exited_years_ago + 2)
    )
    await seed_household(
        engine, Privacy(settings), status=status, exited_on=exited_on, members=[(person, active)]
    )
    answer = (await client.post("/v1/eligibility/checks", json=check(person), headers=bank)).json()
    assert answer["reason_code"] == reason
    assert answer["eligible"] is (reason == "eligible")


async def test_a_household_reported_gone_is_not_eligible_while_its_case_runs(
    running, bank, engine, settings
):
    """E.g. its last member's death confirmed by a cross-department check: the member stays
    listed until the natural-decrease case closes the household, but no lender hears "yes"."""
    _, client = running
    person = resident_id(adult())
    household_id = await seed_household(engine, Privacy(settings), members=[(person, True)])
    case_id = uuid.uuid4()
    async with AsyncSession(engine) as session, session.begin():
        session.add(
            Case(
                id=case_id,
                kind="natural_decrease",
                household_id=household_id,
                village_code=village(),
                state="village_appraisal",
                year=business_today().year,
                reason="death on 2026-01-02: cross-department check: death",
                opened_on=business_today(),
                last_step_on=business_today(),
                suspended=False,
                version=1,
            )
        )

    async def answer() -> dict:
        response = await client.post("/v1/eligibility/checks", json=check(person), headers=bank)
        return response.json()

    assert (await answer())["reason_code"] == "natural_decrease"
    async with AsyncSession(engine) as session, session.begin():
        # the report was wrong: the case is rejected and the household stays registered
        await session.execute(
            text("UPDATE cases SET state = 'rejected' WHERE id = :id"), {"id": case_id}
        )
    assert (await answer())["reason_code"] == "eligible"


async def test_age_out_of_range(running, bank, engine, settings):
    _, client = running
    child, elder = resident_id(date(2012, 3, 4)), resident_id(date(1950, 3, 4))
    await seed_household(engine, Privacy(settings), members=[(child, True), (elder, True)])
    for person in (child, elder):
        answer = (
            await client.post("/v1/eligibility/checks", json=check(person), headers=bank)
        ).json()
        assert (answer["eligible"], answer["reason_code"]) == (False, "age_out_of_range")


async def test_jurisdiction_outside_is_indistinguishable_from_absent(
    running, make_token, engine, settings
):
    _, client = running
    inside = resident_id(adult())
    await seed_household(
        engine, Privacy(settings), village_code=village("220622"), members=[(inside, True)]
    )
    county_bank = bearer(make_token("220622", scopes=[SCOPE], client_id="bank-county-a"))
    other_bank = bearer(make_token("220281", scopes=[SCOPE], client_id="bank-county-b"))
    seen = (
        await client.post("/v1/eligibility/checks", json=check(inside), headers=county_bank)
    ).json()
    hidden = (
        await client.post("/v1/eligibility/checks", json=check(inside), headers=other_bank)
    ).json()
    absent = (
        await client.post(
            "/v1/eligibility/checks", json=check(resident_id(adult())), headers=other_bank
        )
    ).json()
    assert seen["reason_code"] == "eligible"
    assert (hidden["eligible"], hidden["reason_code"]) == (False, "not_found")
    assert {k: v for k, v in hidden.items() if k != "decision_id"} == {
        k: v for k, v in absent.items() if k != "decision_id"
    }


async def batch_records(engine, decision_ids: list[str]) -> list[dict]:
    """The batch audit records holding any of ``decision_ids``."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT actor, action, object_type, object_id, details FROM audit_log"
                " WHERE action = 'eligibility.check' AND object_type = 'eligibility_batch'"
                " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(details->'decision_ids') d"
                " WHERE d = ANY(:ids)) ORDER BY seq"
            ),
            {"ids": decision_ids},
        )
        return [dict(r._mapping) for r in rows]


async def test_batch_answers_in_order_in_one_audit_record(running, bank, engine, settings):
    _, client = running
    privacy = Privacy(settings)
    yes, no_removed = resident_id(adult()), resident_id(adult())
    await seed_household(engine, privacy, members=[(yes, True)])
    await seed_household(engine, privacy, status="removed", members=[(no_removed, False)])
    absent = resident_id(adult())
    items = [
        check(yes),
        check(absent, purpose="microcredit"),
        check(no_removed),
        # Quotes and backslashes are escaped in the record's canonical JSON, which the chain
        # hashes: the chain must still verify.
        check(yes, purpose="four_rights_mortgage", consent='CONSENT-"4"\\/'),
    ]
    response = await client.post(
        "/v1/eligibility/checks/batch", json={"items": items}, headers=bank
    )
    assert response.status_code == 200, response.text
    answers = response.json()["items"]
    assert [a["reason_code"] for a in answers] == ["eligible", "not_found", "removed", "eligible"]
    assert all(set(a) == ANSWER_KEYS for a in answers)
    assert len({a["decision_id"] for a in answers}) == 4
    assert all(uuid.UUID(a["decision_id"]).version == 4 for a in answers)
    assert yes not in response.text and absent not in response.text

    [record] = await batch_records(engine, [a["decision_id"] for a in answers])
    assert record["actor"].startswith("client:bank-")
    assert uuid.UUID(record["object_id"])
    details = record["details"]
    assert details == {
        "members": [privacy.index.hex(item["id_number"]) for item in items],
        "decision_ids": [a["decision_id"] for a in answers],
        "eligible": [a["eligible"] for a in answers],
        "reason_codes": [a["reason_code"] for a in answers],
        "valid_until": [a["valid_until"] for a in answers],
        "purposes": [item["purpose"] for item in items],
        "consent_references": [item["consent_reference"] for item in items],
    }
    assert yes not in str(record) and absent not in str(record)  # never the clear ID number
    async with engine.connect() as conn:
        assert (await verify_chain(conn)).ok


async def test_a_full_batchs_audit_record_is_stored_with_lz4(running, bank, engine, requires_lz4):
    _, client = running
    items = [check(resident_id(adult()), consent=f"CONSENT-{n}") for n in range(1000)]
    response = await client.post(
        "/v1/eligibility/checks/batch", json={"items": items}, headers=bank
    )
    assert response.status_code == 200, response.text
    first = response.json()["items"][0]["decision_id"]
    async with engine.connect() as conn:
        compression = (
            await conn.execute(
                text(
                    "SELECT pg_column_compression(details) FROM audit_log"
                    " WHERE object_type = 'eligibility_batch'"
                    " AND details->'decision_ids' ? :first"
                ),
                {"first": first},
            )
        ).scalar_one()
    assert compression == "lz4"


async def test_every_check_about_a_member_is_found_in_singles_and_batches(
    running, bank, engine, settings
):
    app, client = running
    privacy = Privacy(settings)
    person, other = resident_id(adult()), resident_id(adult())
    await seed_household(engine, privacy, members=[(person, True), (other, True)])
    single = (
        await client.post("/v1/eligibility/checks", json=check(person, consent="S-1"), headers=bank)
    ).json()
    batch = (
        await client.post(
            "/v1/eligibility/checks/batch",
            json={
                "items": [check(other), check(person, consent="B-2"), check(person, "microcredit")]
            },
            headers=bank,
        )
    ).json()["items"]

    found = await app.state.eligibility.history.checks_about(privacy.index.hex(person))
    assert [c["decision_id"] for c in found] == [
        single["decision_id"],
        batch[1]["decision_id"],
        batch[2]["decision_id"],
    ]
    assert [c["consent_reference"] for c in found] == ["S-1", "B-2", "CONSENT-1"]
    assert [c["purpose"] for c in found][2] == "microcredit"
    assert all(c["actor"].startswith("client:bank-") and c["eligible"] for c in found)
    [about_other] = await app.state.eligibility.history.checks_about(privacy.index.hex(other))
    assert about_other["decision_id"] == batch[0]["decision_id"]
    assert (
        await app.state.eligibility.history.checks_about(privacy.index.hex(resident_id(adult())))
        == []
    )


async def test_batch_limit_is_configuration(settings, bank):
    app = create_app(settings.model_copy(update={"eligibility_batch_max": 3}))
    async with api_client(app) as client:
        items = [check(resident_id(adult())) for _ in range(4)]
        response = await client.post(
            "/v1/eligibility/checks/batch", json={"items": items}, headers=bank
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "#/body/items"
        # the count is refused before any item is read: one error, not one per bad item
        bad = [check("220622198001011238") for _ in range(4)]
        refused = await client.post(
            "/v1/eligibility/checks/batch", json={"items": bad}, headers=bank
        )
        assert [(e["pointer"], e["detail"]) for e in refused.json()["errors"]] == [
            ("#/body/items", "a batch holds at most 3 items")
        ]
        assert (
            await client.post(
                "/v1/eligibility/checks/batch", json={"items": items[:3]}, headers=bank
            )
        ).status_code == 200


async def test_rate_limit_answers_429_with_retry_after(settings, make_token, engine):
    limited = settings.model_copy(
        update={
            "eligibility_rate_per_second": 0.5,
            "eligibility_rate_burst": 3,
            "eligibility_batch_max": 3,
        }
    )
    app = create_app(limited)
    first = bearer(make_token("22", scopes=[SCOPE], client_id="bank-limited"))
    second = bearer(make_token("22", scopes=[SCOPE], client_id="bank-other"))
    async with api_client(app) as client:
        person = resident_id(adult())
        for _ in range(3):
            assert (
                await client.post("/v1/eligibility/checks", json=check(person), headers=first)
            ).status_code == 200
        refused = await client.post("/v1/eligibility/checks", json=check(person), headers=first)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["Retry-After"]) >= 1
        # another client has its own bucket
        assert (
            await client.post("/v1/eligibility/checks", json=check(person), headers=second)
        ).status_code == 200


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (check("220622198001011238"), "#/body/id_number"),  # wrong check character
        (check("220622198002301234"), "#/body/id_number"),  # 30 February
        (check("220622198001011237", purpose="car_loan"), "#/body/purpose"),
        (check("220622198001011237", consent=""), "#/body/consent_reference"),
        (check("220622198001011237", consent="x" * 129), "#/body/consent_reference"),
        # never trimmed into another reference than the bank sent
        (check("220622198001011237", consent="AB\u3000"), "#/body/consent_reference"),
        (check("220622198001011237", consent="AB\n"), "#/body/consent_reference"),
        (check("220622198001011237", consent=" AB"), "#/body/consent_reference"),
        (check("220622198001011237", consent="  " + "C" * 128), "#/body/consent_reference"),
        ({**check("220622198001011237"), "name": "张三"}, "#/body/name"),
    ],
)
async def test_bad_input_names_the_field(running, bank, body, pointer):
    _, client = running
    response = await client.post("/v1/eligibility/checks", json=body, headers=bank)
    assert response.status_code == 422
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


async def test_concurrent_checks_are_group_committed_and_chain_verifies(
    running, bank, engine, settings
):
    app, client = running
    person = resident_id(adult())
    await seed_household(engine, Privacy(settings), members=[(person, True)])
    flushes_before = app.state.eligibility.audit.flushes
    lookups_before = app.state.eligibility.service.lookups.lookups
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/eligibility/checks", json=check(person, consent=f"C-{i}"), headers=bank
            )
            for i in range(40)
        )
    )
    assert all(r.status_code == 200 for r in responses)
    ids = [r.json()["decision_id"] for r in responses]
    rows = await audit_rows(engine, ids)
    assert sorted(r["details"]["decision_id"] for r in rows) == sorted(ids)
    assert app.state.eligibility.audit.flushes - flushes_before < 40  # batched, not one per check
    # checks arriving together share their lookups too, each still answered about its person
    assert app.state.eligibility.service.lookups.lookups - lookups_before < 40
    assert {r.json()["reason_code"] for r in responses} == {"eligible"}
    async with engine.connect() as conn:
        report = await verify_chain(conn)
    assert report.ok, report.problems


async def test_no_answer_without_its_audit_record(running, bank, engine, settings):
    app, client = running
    person = resident_id(adult())
    await seed_household(engine, Privacy(settings), members=[(person, True)])
    writer = app.state.eligibility.audit
    working = writer.dsn
    await writer.disconnect()
    writer.dsn = "postgresql://registry:registry@127.0.0.1:1/registry"  # nothing listens there
    try:
        response = await client.post("/v1/eligibility/checks", json=check(person), headers=bank)
    finally:
        writer.dsn = working
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "eligible" not in response.json()
    recovered = await client.post("/v1/eligibility/checks", json=check(person), headers=bank)
    assert recovered.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/x+json", "application/x-www-form-urlencoded", None]
)
async def test_a_check_not_sent_as_json_is_refused_at_the_body(running, bank, content_type):
    _, client = running
    body = json.dumps(check("220622198001011237")).encode()
    headers = dict(bank)
    if content_type is not None:
        headers["content-type"] = content_type
    for path in ("/v1/eligibility/checks", "/v1/eligibility/checks/batch"):
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["pointer"] == "#/body"
    accepted = await client.post(
        "/v1/eligibility/checks",
        content=body,
        headers={**bank, "content-type": "application/json; charset=utf-8"},
    )
    assert accepted.status_code == 200, accepted.text
