"""Personal data over HTTP: what a masked read leaves out, and what a replayable command keeps."""

import uuid
from datetime import date

import pytest
from sqlalchemy import text

from fupin_kit.testing.plugin import api_client
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

VILLAGE = "220622100201"  # 靖安村, 靖宇县


@pytest.fixture
def people():
    return PeopleFactory("220622", seed=uuid.uuid4().int)


def family(people):
    return [
        member_payload(people.id_number(date(1970, 5, 1), "male"), "王建国", "head"),
        member_payload(people.id_number(date(1972, 3, 9), "female"), "李秀英", "spouse"),
    ]


async def test_a_masked_read_cannot_be_completed_into_an_id_number(client, app, make_token, people):
    members = family(people)
    body = household_payload(VILLAGE, uuid.uuid4().hex[:8], members)
    household_id = (await client.post("/v1/households", json=body)).json()["id"]
    async with api_client(app, make_token("220622")) as plain:
        response = await plain.get(f"/v1/households/{household_id}")
    masked = response.json()
    assert masked["masked"] is True
    head = masked["members"][0]
    # The masked ID number keeps the area code and the last four characters; the eight hidden
    # digits are the birth date, which the masked read must not give either.
    assert head["id_number"] == members[0]["id_number"][:6] + "*" * 8 + members[0]["id_number"][-4:]
    assert head["birth_date"] is None and head["birth_year"] is None
    for member in members:
        assert member["id_number"][6:14] not in response.text
    assert "1970-05-01" not in response.text and "1972-03-09" not in response.text

    clear = (await client.get(f"/v1/households/{household_id}")).json()
    assert clear["members"][0]["birth_date"] == "1970-05-01"
    assert clear["members"][0]["birth_year"] == 1970


async def test_a_replayable_answer_is_kept_sealed_and_replayed_in_clear(client, app, people):
    members = family(people)
    body = household_payload(
        VILLAGE,
        uuid.uuid4().hex[:8],
        members,
        phone="13912345678",
        bank_account="6228480012345678901",
    )
    headers = {"Idempotency-Key": f"sealed-{uuid.uuid4().hex}"}
    first = await client.post("/v1/households", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["members"][0]["name"] == "王建国"  # the caller holds pii:read

    async with app.state.sessionmaker() as session:
        stored = (
            await session.execute(
                text("SELECT response::text FROM idempotency_keys WHERE key = :k"),
                {"k": headers["Idempotency-Key"]},
            )
        ).scalar_one()
    for secret in (
        members[0]["id_number"],
        members[1]["id_number"],
        "王建国",
        "\\u738b\\u5efa\\u56fd",  # the name as JSON escapes
        "13912345678",
        "6228480012345678901",
        first.json()["id"],
    ):
        assert secret not in stored

    second = await client.post("/v1/households", json=body, headers=headers)
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()


async def test_a_key_reused_with_other_access_gets_no_stored_answer(app, make_token, people):
    """The same user's token of another county, or without pii:read, reusing a key is refused
    (422): the stored answer holds the first token's clear data of the first county."""
    body = household_payload(VILLAGE, uuid.uuid4().hex[:8], family(people), phone="13912345678")
    headers = {"Idempotency-Key": f"access-{uuid.uuid4().hex}"}
    county = make_token("220622", scopes=["pii:read"], subject="alice")
    async with api_client(app, county) as first:
        created = await first.post("/v1/households", json=body, headers=headers)
        assert created.status_code == 201, created.text
    for other in (
        make_token("220621", scopes=["pii:read"], subject="alice"),  # another county
        make_token("220622", subject="alice"),  # no pii:read
        make_token("22", scopes=["pii:read"], subject="alice"),  # the province
    ):
        async with api_client(app, other) as again:
            replay = await again.post("/v1/households", json=body, headers=headers)
        assert replay.status_code == 422, replay.text
        assert replay.headers["content-type"] == "application/problem+json"
        assert replay.json()["errors"][0]["pointer"] == "#/header/Idempotency-Key"
        assert "王建国" not in replay.text and "13912345678" not in replay.text
    async with api_client(app, make_token("220622", scopes=["pii:read"], subject="alice")) as same:
        replay = await same.post("/v1/households", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created.json()
