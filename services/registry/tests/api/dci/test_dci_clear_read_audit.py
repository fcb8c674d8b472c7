"""Every record shown in clear is audited on each path: the asynchronous search (before its
callback is sent) and the txn/status replay (naming the records replayed); and a search needs a
consent that says when and for what."""

import uuid
from datetime import date

import pytest
from sqlalchemy import text


async def audit_rows(engine, action: str, object_id: str) -> list:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT actor, object_type, details FROM audit_log"
                    " WHERE action = :a AND object_id = :o ORDER BY seq"
                ),
                {"a": action, "o": object_id},
            )
        ).all()


async def test_async_clear_reads_and_their_replay_are_audited(
    registry, new_partner, seed, dci, receiver, engine
):
    partner = await new_partner()
    person = dci.resident_id(date(1979, 9, 9))
    await seed(dci.fresh_township() + "601", members=[(person, "孙某", date(1979, 9, 9))])
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "UIN", "value": person}, response_entity="Member")
    )
    response = await registry.post(
        "/registry/search",
        json=partner.envelope("search", message),
        headers=partner.headers(pii=True),
    )
    assert response.status_code == 202, response.text
    callback = await receiver.one("on-search")
    [record] = callback["message"]["search_response"][0]["data"]["reg_records"]
    assert record["member_identifier"][0]["identifier_value"] == person
    member_id = record["@id"].rsplit(":", 1)[-1]
    [row] = await audit_rows(engine, "pii.read_unmasked", member_id)
    assert row.actor == f"client:{partner.client_id}"
    assert row.details["transaction_id"] == message["transaction_id"]
    assert row.details["fields"] == ["birth_date", "id_number", "name"]
    [search] = await audit_rows(engine, "dci.search", message["transaction_id"])
    assert search.details["unmasked"] is True and search.details["returned"] == 1

    status = {
        "transaction_id": uuid.uuid4().hex,
        "txnstatus_request": {
            "reference_id": "st",
            "txn_type": "search",
            "attribute_type": "transaction_id",
            "attribute_value": message["transaction_id"],
        },
    }
    replay = await registry.post(
        "/registry/sync/txn/status",
        json=partner.envelope("txn-status", status),
        headers=partner.headers(pii=True),
    )
    assert person in replay.text
    [replayed] = await audit_rows(engine, "pii.read_unmasked", message["transaction_id"])
    assert replayed.details["via"] == "dci.txn_status"
    assert replayed.details["records"] == [record["@id"]]


@pytest.mark.parametrize(
    "consent",
    [
        {"@type": "Consent"},
        {"ts": "2020-05-01T08:00:00+08:00"},
        {"ts": "2020-05-01T08:00:00+08:00", "purpose": {}},
        {"ts": "2020-05-01T08:00:00+08:00", "purpose": {"code": " "}},
        {"purpose": {"code": "dibao-review"}},
        {"ts": "yesterday", "purpose": {"code": "dibao-review"}},
    ],
)
async def test_consent_says_when_and_for_what(registry, new_partner, dci, consent):
    partner = await new_partner()
    criteria = {
        **dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    }
    criteria["consent"] = consent
    response = await registry.post(
        "/registry/sync/search",
        json=partner.envelope("search", dci.search_message(criteria)),
        headers=partner.headers(),
    )
    dci.validate_response("/registry/sync/search", 200, response.json())
    [item] = response.json()["message"]["search_response"]
    assert (item["status"], item["status_reason_code"]) == ("rjct", "rjct.search_criteria.invalid")
    assert "consent" in item["status_reason_message"]
