"""DCI synchronous search and status, partners, signatures, masking, minimisation, jurisdiction,
refusals; every body validated against the DCI specification."""

import json
import time
import uuid
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from fupin_kit.audit import verify_chain
from fupin_registry.privacy import Privacy

SYNC = "/registry/sync/search"


async def sync_search(registry, partner, message, *, pii=False, signed=True, **header):
    body = partner.envelope(
        "search", message, total=len(message["search_request"]), signed=signed, **header
    )
    return await registry.post(SYNC, json=body, headers=partner.headers(pii))


def records_of(response) -> list[dict]:
    [item] = response.json()["message"]["search_response"]
    assert item["status"] == "succ", item
    return item["data"]["reg_records"]


async def test_jwks_and_signed_answers(registry, new_partner, seed, dci, jwks):
    [key] = jwks["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
        "OKP",
        "Ed25519",
        "EdDSA",
        "sig",
    ) and key["kid"]
    partner = await new_partner()
    household = await seed(dci.fresh_township() + "201")
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id})
    )
    response = await sync_search(registry, partner, message)
    assert response.status_code == 200, response.text
    body = response.json()
    dci.validate_response(SYNC, 200, body)
    assert body["header"]["action"] == "on-search" and body["header"]["status"] == "succ"
    assert body["header"]["receiver_id"] == partner.sender_id
    assert body["message"]["transaction_id"] == message["transaction_id"]
    assert dci.signature_ok(jwks, body)
    body["message"]["search_response"][0]["status"] = "rjct"
    assert not dci.signature_ok(jwks, body)  # the signature covers the message


async def test_uin_search_masks_without_pii_read_and_audits_clear_reads(
    registry, new_partner, seed, dci, engine
):
    partner = await new_partner()
    person = dci.resident_id(date(1980, 7, 9))
    household = await seed(
        dci.fresh_township() + "202", members=[(person, "李秀英", date(1980, 7, 9))]
    )
    query = dci.criteria("idtype-value", {"type": "UIN", "value": person}, response_entity="Member")

    masked = await sync_search(registry, partner, dci.search_message(query))
    dci.validate_response(SYNC, 200, masked.json())
    [record] = records_of(masked)
    assert record["@type"] == "Member"
    assert (
        record["member_identifier"][0]["identifier_value"] == person[:6] + "********" + person[-4:]
    )
    assert record["demographic_info"]["name"]["full_name"] == "李**"
    assert (
        "birth_date" not in record["demographic_info"]
    )  # with the masked ID it would reveal the ID
    assert record["group_identifier"][0]["identifier_value"] == household.household_id
    assert person not in masked.text and "李秀英" not in masked.text

    clear = await sync_search(registry, partner, dci.search_message(query), pii=True)
    dci.validate_response(SYNC, 200, clear.json())
    [record] = records_of(clear)
    assert record["member_identifier"][0]["identifier_value"] == person
    assert record["demographic_info"]["name"]["full_name"] == "李秀英"
    assert record["demographic_info"]["birth_date"] == "1980-07-09"
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT actor, object_id, details FROM audit_log"
                    " WHERE action = 'pii.read_unmasked' AND object_id = :id"
                ),
                {"id": record["@id"].rsplit(":", 1)[-1]},
            )
        ).all()
        assert len(rows) == 1  # the masked read was not an unmasked read
        assert rows[0].actor == f"client:{partner.client_id}"
        assert rows[0].details["fields"] == ["birth_date", "id_number", "name"]
        assert rows[0].details["consent"]["purpose"]["code"] == "dibao-review"
        assert (await verify_chain(conn)).ok


async def test_response_fields_minimise_and_only_shown_fields_are_audited(
    registry, new_partner, seed, dci, engine
):
    partner = await new_partner()
    people = [
        (dci.resident_id(date(1970, 1, 5)), "赵大", date(1970, 1, 5)),
        (dci.resident_id(date(2001, 3, 6)), "赵小", date(2001, 3, 6)),
    ]
    household = await seed(dci.fresh_township() + "203", members=people)
    query = dci.criteria(
        "idtype-value",
        {"type": "HOUSEHOLD_ID", "value": household.household_id},
        response_fields=["group_identifier", "group_size", "member_list.member_identifier"],
    )
    response = await sync_search(registry, partner, dci.search_message(query), pii=True)
    dci.validate_response(SYNC, 200, response.json())
    [record] = records_of(response)
    assert set(record) == {"@type", "@id", "group_identifier", "group_size", "member_list"}
    assert record["group_size"] == 2
    assert [set(m) for m in record["member_list"]] == [{"@type", "@id", "member_identifier"}] * 2
    assert [m["member_identifier"][0]["identifier_value"] for m in record["member_list"]] == [
        p[0] for p in people
    ]
    # Names and the phone (clear or masked) are never built; "139" alone can occur by chance in
    # a signature or an identifier.
    assert not any(part in response.text for part in ("赵", "13912345678", "139****"))
    async with engine.connect() as conn:
        fields = (
            (
                await conn.execute(
                    text(
                        "SELECT details->'fields' FROM audit_log WHERE action = 'pii.read_unmasked'"
                        " AND details->>'reference_id' = :r"
                    ),
                    {"r": response.json()["message"]["search_response"][0]["reference_id"]},
                )
            )
            .scalars()
            .all()
        )
    assert fields == [["id_number"], ["id_number"]]

    unknown = dci.criteria(
        "idtype-value",
        {"type": "HOUSEHOLD_ID", "value": household.household_id},
        response_fields=["bank_account"],
    )
    refused = await sync_search(registry, partner, dci.search_message(unknown))
    [item] = refused.json()["message"]["search_response"]
    assert (item["status"], item["status_reason_code"]) == ("rjct", "rjct.search_criteria.invalid")


async def test_expression_and_predicate_with_sort_and_pages(registry, new_partner, seed, dci):
    partner = await new_partner()
    township = dci.fresh_township()
    for number, (status, cause, born) in enumerate(
        [
            ("identified", "illness", date(1960, 1, 1)),
            ("identified", "disability", date(1985, 1, 1)),
            ("returned", "illness", date(1990, 1, 1)),
            ("exited", "illness", date(1991, 1, 1)),
            ("identified", "lack_of_skills", date(1999, 1, 1)),
        ]
    ):
        await seed(
            f"{township}{201 + number}",
            status=status,
            cause=cause,
            members=[(dci.resident_id(born), "某人", born)],
            secondary=["schooling"] if number == 4 else None,
        )

    expression = {
        "type": "ns:org:QueryType:expression",
        "value": {
            "expression": {
                "collection": "Group",
                "query": {
                    "$and": [
                        {"region": {"$eq": township}},
                        {"status": {"$in": ["identified", "returned"]}},
                    ]
                },
            }
        },
    }
    first = await sync_search(
        registry,
        partner,
        dci.search_message(
            dci.criteria(
                "expression",
                expression,
                sort=[{"attribute_name": "village_code", "sort_order": "desc"}],
                pagination={"page_size": 2, "page_number": 1},
                response_fields=["village_code", "poverty_status"],
            )
        ),
    )
    dci.validate_response(SYNC, 200, first.json())
    [item] = first.json()["message"]["search_response"]
    assert item["pagination"] == {"page_size": 2, "page_number": 1, "total_count": 4}
    assert [r["village_code"] for r in item["data"]["reg_records"]] == [
        f"{township}205",
        f"{township}203",
    ]
    second = await sync_search(
        registry,
        partner,
        dci.search_message(
            dci.criteria(
                "expression",
                expression,
                sort=[{"attribute_name": "village_code", "sort_order": "desc"}],
                pagination={"page_size": 2, "page_number": 2},
                response_fields=["village_code"],
            )
        ),
    )
    assert [r["village_code"] for r in records_of(second)] == [f"{township}202", f"{township}201"]

    predicate = [
        {
            "seq_num": 1,
            "expression1": {
                "attribute_name": "region",
                "operator": "eq",
                "attribute_value": township,
            },
        },
        {
            "seq_num": 2,
            "expression1": {
                "attribute_name": "birth_date",
                "operator": "ge",
                "attribute_value": "1985-01-01",
            },
            "condition": "and",
            "expression2": {
                "attribute_name": "birth_date",
                "operator": "lt",
                "attribute_value": "1995-01-01",
            },
        },
        {
            "seq_num": 3,
            "expression1": {
                "attribute_name": "poverty_cause",
                "operator": "in",
                "attribute_value": ["illness", "schooling"],
            },
            "condition": "not",
            "expression2": {
                "attribute_name": "status",
                "operator": "eq",
                "attribute_value": "exited",
            },
        },
    ]
    members = await sync_search(
        registry,
        partner,
        dci.search_message(
            dci.criteria(
                "predicate",
                predicate,
                response_entity="Member",
                sort=[{"attribute_name": "birth_date"}],
                response_fields=["village_code", "poverty_status"],
            )
        ),
        pii=True,  # birth dates filter and sort only with pii:read
    )
    dci.validate_response(SYNC, 200, members.json())
    assert [(r["village_code"], r["poverty_status"]) for r in records_of(members)] == [
        (f"{township}203", "returned")
    ]


async def test_jurisdiction_limits_results(registry, new_partner, seed, dci):
    county_partner = await new_partner(jurisdiction="220622")
    household = await seed(dci.fresh_township("220524") + "201")
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id})
    )
    response = await sync_search(registry, county_partner, message)
    dci.validate_response(SYNC, 200, response.json())
    [item] = response.json()["message"]["search_response"]
    assert item["status"] == "succ" and item["data"]["reg_records"] == []
    assert item["pagination"]["total_count"] == 0


@pytest.mark.parametrize(
    ("criteria", "reason"),
    [
        (
            {"query_type": "idtype-value", "query": {"type": "UIN", "value": "220524198001011238"}},
            "rjct.search_criteria.invalid",
        ),
        (
            {
                "query_type": "expression",
                "query": {
                    "type": "expression",
                    "value": {
                        "expression": {"collection": "Person", "query": {"status": "identified"}}
                    },
                },
            },
            "rjct.search_criteria.invalid",
        ),
        (
            {
                "query_type": "predicate",
                "query": [
                    {
                        "expression1": {
                            "attribute_name": "name",
                            "operator": "eq",
                            "attribute_value": "x",
                        }
                    }
                ],
            },
            "rjct.search_criteria.invalid",
        ),
        (
            {
                "query_type": "predicate",
                "query": [
                    {
                        "expression1": {
                            "attribute_name": "region",
                            "operator": "eq",
                            "attribute_value": "22' OR '1'='1",
                        }
                    }
                ],
            },
            "rjct.search_criteria.invalid",
        ),
        (
            {
                "query_type": "predicate",
                "query": [
                    {
                        "expression1": {
                            "attribute_name": "status",
                            "operator": "gt",
                            "attribute_value": "identified",
                        }
                    }
                ],
            },
            "rjct.search_criteria.invalid",
        ),
        (
            {
                "query_type": "expression",
                "query": {"value": {"expression": {"query": {"status": {"$regex": ".*"}}}}},
            },
            "rjct.search_criteria.invalid",
        ),
        (
            {
                "query_type": "idtype-value",
                "query": {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())},
                "sort": [{"attribute_name": "name"}],
            },
            "rjct.sort.invalid",
        ),
        (
            {
                "query_type": "idtype-value",
                "query": {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())},
                "pagination": {"page_size": 100000},
            },
            "rjct.pagination.invalid",
        ),
        # Any page size or number that is not a whole number in range rejects its item only
        # (not the message), as a page size over the maximum does.
        *[
            (
                {
                    "query_type": "idtype-value",
                    "query": {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())},
                    "pagination": pagination,
                },
                "rjct.pagination.invalid",
            )
            for pagination in (
                {"page_size": 0},
                {"page_size": 5, "page_number": 0},
                {"page_size": 5.5},
                {"page_size": "5"},
                {"page_size": True},
                {"page_size": 5, "page_number": 10**30},
                {"page_size": None, "page_number": -1},
            )
        ],
        (
            {
                "query_type": "idtype-value",
                "query": {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())},
                "sort": [{"attribute_name": "village_code", "sort_order": "sideways"}],
            },
            "rjct.sort.invalid",
        ),
    ],
)
async def test_bad_criteria_reject_the_item(registry, new_partner, dci, criteria, reason):
    partner = await new_partner()
    message = dci.search_message({**criteria, "consent": dci.consent})
    response = await sync_search(registry, partner, message)
    assert response.status_code == 200
    dci.validate_response(SYNC, 200, response.json())
    [item] = response.json()["message"]["search_response"]
    assert (item["status"], item["status_reason_code"]) == ("rjct", reason)
    assert response.json()["header"]["status"] == "rjct"


async def test_consent_is_required(registry, new_partner, dci):
    partner = await new_partner()
    message = dci.search_message(
        {
            "query_type": "idtype-value",
            "query": {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())},
        }
    )
    [item] = (await sync_search(registry, partner, message)).json()["message"]["search_response"]
    assert item["status"] == "rjct" and "consent" in item["status_reason_message"]


async def test_mixed_items_answer_each(registry, new_partner, seed, dci):
    partner = await new_partner()
    household = await seed(dci.fresh_township() + "204")
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id}),
        dci.criteria("idtype-value", {"type": "PASSPORT", "value": "E1234"}),
    )
    response = await sync_search(registry, partner, message)
    dci.validate_response(SYNC, 200, response.json())
    statuses = [i["status"] for i in response.json()["message"]["search_response"]]
    assert statuses == ["succ", "rjct"]
    header = response.json()["header"]
    assert (header["status"], header["total_count"], header["completed_count"]) == ("succ", 2, 2)


# --- signatures ----------------------------------------------------------------------------------


async def test_signature_policy(registry, new_partner, seed, dci, jwks):
    partner = await new_partner(require_signature=True)
    household = await seed(dci.fresh_township() + "205")
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id})
    )

    async def post(body):
        response = await registry.post(SYNC, json=body, headers=partner.headers())
        return response.status_code, response.json()

    missing = partner.envelope("search", message, signed=False)
    status, body = await post(missing)
    assert status == 401 and body["message"]["error"]["code"] == "err.signature.missing"
    dci.validate_ack(body)
    dci.validate_response(SYNC, 401, body)
    assert dci.signature_ok(jwks, body)

    tampered = partner.envelope("search", message)
    tampered["message"]["search_request"][0]["search_criteria"]["query"]["value"] = str(
        uuid.uuid4()
    )
    status, body = await post(tampered)
    assert status == 401 and body["message"]["ack_status"] == "ERR"
    assert body["message"]["error"]["code"] == "err.signature.invalid"
    dci.validate_ack(body)

    stranger = partner.envelope("search", message, signed=False)
    stranger["signature"] = dci.sign(
        Ed25519PrivateKey.generate(), partner.sender_id, "k1", stranger["header"], message
    )
    assert (await post(stranger))[1]["message"]["error"]["code"] == "err.signature.invalid"

    expired = partner.envelope("search", message, signed=False)
    expired["signature"] = dci.sign(
        partner.key,
        partner.sender_id,
        "k1",
        expired["header"],
        message,
        created=int(time.time()) - 4000,
    )
    assert (await post(expired))[1]["message"]["error"]["code"] == "err.signature.invalid"

    other_key_id = partner.envelope("search", message, signed=False)
    other_key_id["signature"] = dci.sign(
        partner.key, partner.sender_id, "k2", other_key_id["header"], message
    )
    assert (await post(other_key_id))[1]["message"]["error"]["code"] == "err.signature.invalid"

    status, body = await post(partner.envelope("search", message))
    assert status == 200 and body["header"]["status"] == "succ"


async def test_unsigned_partner_is_accepted_but_a_bad_signature_never(registry, new_partner, dci):
    partner = await new_partner(require_signature=False)
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    unsigned = await sync_search(registry, partner, message, signed=False)
    assert unsigned.status_code == 200
    bad = partner.envelope("search", message)
    bad["header"]["total_count"] = 1
    bad["signature"] = bad["signature"].replace('signature="', 'signature="AAAA')
    response = await registry.post(SYNC, json=bad, headers=partner.headers())
    assert (
        response.status_code == 401
        and response.json()["message"]["error"]["code"] == "err.signature.invalid"
    )


# --- refusals ------------------------------------------------------------------------------------


async def test_bearer_scope_and_sender_binding(registry, new_partner, dci, make_token):
    partner = await new_partner()
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    body = partner.envelope("search", message)

    anonymous = await registry.post(SYNC, json=body)
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/json"
    dci.validate_response(SYNC, 401, anonymous.json())
    assert anonymous.json()["errors"][0]["code"] == "err.request.unauthorized"

    no_scope = make_token("22", scopes=["pii:read"], client_id=partner.client_id)
    forbidden = await registry.post(
        SYNC, json=body, headers={"Authorization": f"Bearer {no_scope}"}
    )
    assert (
        forbidden.status_code == 403
        and forbidden.json()["errors"][0]["code"] == "err.request.forbidden"
    )
    dci.validate_response(SYNC, 403, forbidden.json())

    impostor = make_token("22", scopes=["dci:search"], client_id="someone-else")
    refused = await registry.post(SYNC, json=body, headers={"Authorization": f"Bearer {impostor}"})
    assert refused.status_code == 400
    dci.validate_response(SYNC, 400, refused.json())
    assert refused.json()["header"]["status"] == "rjct"
    assert refused.json()["header"]["status_reason_message"].startswith("err.sender_id.invalid")


@pytest.mark.parametrize(
    ("change", "reason", "code"),
    [
        ({"version": "2.0.0"}, "rjct.version.invalid", "err.version.not_supported"),
        ({"action": "subscribe"}, "rjct.action.invalid", "err.request.bad"),
        ({"total_count": 7}, "rjct.total_count.invalid", "err.request.bad"),
        ({"receiver_id": "someone.else"}, None, "err.receiver_id.invalid"),
        ({"is_msg_encrypted": True}, None, "err.encryption.invalid"),
        ({"sender_id": "unknown.example"}, None, "err.sender_id.invalid"),
        ({"message_ts": "yesterday"}, "rjct.message_ts.invalid", "err.request.bad"),
        ({"message_ts": "2999-01-01T00:00:00Z"}, "rjct.message_ts.invalid", "err.request.bad"),
        ({"version": 1}, "rjct.version.invalid", "err.request.bad"),
    ],
)
async def test_sync_header_refusals(registry, new_partner, dci, change, reason, code):
    partner = await new_partner(require_signature=False)
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    body = partner.envelope("search", message, signed=False)
    body["header"].update(change)
    response = await registry.post(SYNC, json=body, headers=partner.headers())
    assert response.status_code == 400
    dci.validate_response(SYNC, 400, response.json())
    header = response.json()["header"]
    assert header["status"] == "rjct" and header.get("status_reason_code") == reason
    assert header["status_reason_message"].startswith(code)


async def test_malformed_bodies_and_replayed_message_ids(registry, new_partner, dci):
    partner = await new_partner(require_signature=False)
    for raw in (b"{not json", b"[]", b'{"header": {}, "message": {}}'):
        response = await registry.post(
            SYNC, content=raw, headers={**partner.headers(), "content-type": "application/json"}
        )
        assert response.status_code == 400
        dci.validate_response(SYNC, 400, response.json())
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    body = partner.envelope("search", message, signed=False)
    assert (await registry.post(SYNC, json=body, headers=partner.headers())).status_code == 200
    replay = await registry.post(SYNC, json=body, headers=partner.headers())
    assert replay.status_code == 400
    assert replay.json()["header"]["status_reason_code"] == "rjct.message_id.duplicate"
    missing_items = partner.envelope("search", {"transaction_id": "t"}, signed=False)
    refused = await registry.post(SYNC, json=missing_items, headers=partner.headers())
    assert (
        refused.status_code == 400
        and "search_request" in refused.json()["header"]["status_reason_message"]
    )


async def test_sync_txn_status_returns_the_search(registry, new_partner, seed, dci):
    partner = await new_partner()
    household = await seed(dci.fresh_township() + "206")
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id})
    )
    searched = (await sync_search(registry, partner, message)).json()["message"]

    def status_request(attribute_type, value):
        return {
            "transaction_id": uuid.uuid4().hex,
            "txnstatus_request": {
                "reference_id": "status-1",
                "txn_type": "search",
                "attribute_type": attribute_type,
                "attribute_value": value,
            },
        }

    for attribute_type, value in [
        ("transaction_id", message["transaction_id"]),
        ("correlation_id", searched["correlation_id"]),
        ("reference_id_list", [message["search_request"][0]["reference_id"]]),
    ]:
        body = partner.envelope("txn-status", status_request(attribute_type, value))
        response = await registry.post(
            "/registry/sync/txn/status", json=body, headers=partner.headers()
        )
        assert response.status_code == 200, response.text
        dci.validate_response("/registry/sync/txn/status", 200, response.json())
        status = response.json()["message"]["txnstatus_response"]
        assert status["txn_type"] == "search"
        assert status["txn_status"]["search_response"] == searched["search_response"]

    other = await new_partner()
    body = other.envelope("txn-status", status_request("transaction_id", message["transaction_id"]))
    response = await registry.post("/registry/sync/txn/status", json=body, headers=other.headers())
    dci.validate_response("/registry/sync/txn/status", 200, response.json())
    [item] = response.json()["message"]["txnstatus_response"]["txn_status"]["search_response"]
    assert (item["status"], item["status_reason_code"]) == ("rjct", "rjct.reference_id.invalid")


async def test_txn_status_does_not_replay_clear_data_without_pii_read(
    registry, new_partner, seed, dci
):
    partner = await new_partner()
    person = dci.resident_id(date(1983, 2, 2))
    await seed(dci.fresh_township() + "207", members=[(person, "钱某", date(1983, 2, 2))])
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "UIN", "value": person}, response_entity="Member")
    )
    assert person in (await sync_search(registry, partner, message, pii=True)).text
    body = partner.envelope(
        "txn-status",
        {
            "transaction_id": uuid.uuid4().hex,
            "txnstatus_request": {
                "reference_id": "s",
                "txn_type": "search",
                "attribute_type": "transaction_id",
                "attribute_value": message["transaction_id"],
            },
        },
    )
    masked = await registry.post("/registry/sync/txn/status", json=body, headers=partner.headers())
    dci.validate_response("/registry/sync/txn/status", 200, masked.json())
    assert person not in masked.text and "pii:read" in masked.text


# --- partner administration ----------------------------------------------------------------------


async def test_partner_administration(registry, admin_headers, make_token, dci):
    key = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    sender = f"health-{uuid.uuid4().hex[:6]}.example"
    payload = {
        "sender_id": sender,
        "name": "卫健委",
        "client_id": sender,
        "public_key": pem,
        "require_signature": True,
    }
    officer = {"Authorization": f"Bearer {make_token('22', roles=['officer'])}"}
    assert (
        await registry.post("/v1/dci/partners", json=payload, headers=officer)
    ).status_code == 403
    created = await registry.post("/v1/dci/partners", json=payload, headers=admin_headers)
    assert created.status_code == 201 and created.headers["ETag"] == '"1"'
    assert (
        await registry.post("/v1/dci/partners", json=payload, headers=admin_headers)
    ).status_code == 409

    for bad, pointer in [
        (
            {
                **payload,
                "sender_id": "x" + sender,
                "public_key": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----",
            },
            "#/body/public_key",
        ),
        (
            {**payload, "sender_id": "y" + sender, "client_id": "y", "public_key": None},
            "#/body/public_key",
        ),
        ({**payload, "sender_id": "bad sender id"}, "#/body/sender_id"),
        (
            {**payload, "sender_id": "z" + sender, "callback_url_prefix": "ftp://x"},
            "#/body/callback_url_prefix",
        ),
    ]:
        response = await registry.post("/v1/dci/partners", json=bad, headers=admin_headers)
        assert response.status_code == 422, bad
        assert pointer in [e["pointer"] for e in response.json()["errors"]]

    update = {"name": "卫健委", "client_id": sender, "public_key": pem, "require_signature": False}
    assert (
        await registry.put(f"/v1/dci/partners/{sender}", json=update, headers=admin_headers)
    ).status_code == 428
    stale = await registry.put(
        f"/v1/dci/partners/{sender}", json=update, headers={**admin_headers, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    weak = await registry.put(
        f"/v1/dci/partners/{sender}", json=update, headers={**admin_headers, "If-Match": 'W/"1"'}
    )
    assert weak.status_code == 412 and "weak" in weak.json()["detail"]
    updated = await registry.put(
        f"/v1/dci/partners/{sender}", json=update, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert updated.status_code == 200 and updated.json()["require_signature"] is False
    assert updated.headers["ETag"] == '"2"'
    read = await registry.get(f"/v1/dci/partners/{sender}", headers=admin_headers)
    assert read.json()["version"] == 2
    listed = await registry.get("/v1/dci/partners", headers=admin_headers)
    assert sender in [p["sender_id"] for p in listed.json()]
    assert (await registry.get("/v1/dci/partners/nobody", headers=admin_headers)).status_code == 404


async def test_privacy_of_stored_replies(registry, new_partner, seed, dci, engine, settings):
    """Replies kept for txn/status are sealed: no clear personal data at rest."""
    partner = await new_partner()
    person = dci.resident_id(date(1979, 9, 9))
    await seed(dci.fresh_township() + "208", members=[(person, "孙某某", date(1979, 9, 9))])
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "UIN", "value": person}, response_entity="Member")
    )
    await sync_search(registry, partner, message, pii=True)
    async with engine.connect() as conn:
        blob = (
            await conn.execute(
                text("SELECT reply_enc FROM dci_transactions WHERE transaction_id = :t"),
                {"t": message["transaction_id"]},
            )
        ).scalar_one()
    assert person.encode() not in blob and "孙某某".encode() not in blob
    assert person in Privacy(settings).cipher.decrypt(blob, "dci_reply")


async def test_in_as_the_spec_writes_it(registry, new_partner, seed, dci):
    partner = await new_partner()
    township = dci.fresh_township()
    await seed(township + "501", status="identified")
    await seed(township + "502", status="returned")
    await seed(township + "503", status="exited")
    query = [
        {
            "seq_num": 1,
            "expression1": {
                "attribute_name": "region",
                "operator": "eq",
                "attribute_value": township,
            },
        },
        {
            "seq_num": 2,
            "expression1": {
                "attribute_name": "status",
                "operator": "in",
                "attribute_value": "identified,returned",
            },
        },
    ]
    body = partner.envelope("search", dci.search_message(dci.criteria("predicate", query)))
    dci.validate_request(SYNC, body)  # a scalar attribute_value, as the spec defines it
    response = await registry.post(SYNC, json=body, headers=partner.headers())
    dci.validate_response(SYNC, 200, response.json())
    assert sorted(r["poverty_status"] for r in records_of(response)) == ["identified", "returned"]


def test_the_documented_example_is_valid_under_the_spec(dci):
    docs = Path(__file__).resolve().parents[3] / "docs" / "dci.md"
    example = docs.read_text("utf-8").split("## Example", 1)[1]
    document = json.loads(example.split("```json", 1)[1].split("```", 1)[0])
    dci.validate_request(SYNC, document)
