"""One partner client may hold tokens of different jurisdictions: a transaction or subscription
made with a wider token is, to a narrower token of the same client, as if it did not exist."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from fupin_kit.testing.plugin import bearer

SYNC_STATUS = "/registry/sync/txn/status"


def status_request(transaction_id: str) -> dict:
    return {
        "transaction_id": uuid.uuid4().hex,
        "txnstatus_request": {
            "reference_id": "st-1",
            "txn_type": "search",
            "attribute_type": "transaction_id",
            "attribute_value": transaction_id,
        },
    }


async def test_txn_status_replays_only_within_the_token_jurisdiction(
    registry, new_partner, seed, dci, make_token, engine
):
    partner = await new_partner(jurisdiction="22")
    household = await seed(dci.fresh_township("220524") + "301")
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id})
    )
    response = await registry.post(
        "/registry/sync/search",
        json=partner.envelope("search", message),
        headers=partner.headers(pii=True),
    )
    assert response.json()["message"]["search_response"][0]["pagination"]["total_count"] == 1
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT jurisdiction FROM dci_transactions WHERE transaction_id = :t"),
                {"t": message["transaction_id"]},
            )
        ).scalar_one()
    assert stored == "22"

    def token(jurisdiction: str) -> dict[str, str]:
        return bearer(
            make_token(
                jurisdiction,
                scopes=["dci:search", "dci:subscribe", "pii:read"],
                roles=["partner"],
                client_id=partner.client_id,
            )
        )

    narrow = await registry.post(
        SYNC_STATUS,
        json=partner.envelope("txn-status", status_request(message["transaction_id"])),
        headers=token("220581"),
    )
    assert narrow.status_code == 200, narrow.text
    dci.validate_response(SYNC_STATUS, 200, narrow.json())
    status = narrow.json()["message"]["txnstatus_response"]["txn_status"]
    assert status["transaction_id"] == "unknown"
    [item] = status["search_response"]
    assert (item["status"], item["status_reason_code"]) == ("rjct", "rjct.reference_id.invalid")
    assert household.household_id not in narrow.text

    wide = await registry.post(
        SYNC_STATUS,
        json=partner.envelope("txn-status", status_request(message["transaction_id"])),
        headers=token("22"),
    )
    dci.validate_response(SYNC_STATUS, 200, wide.json())
    [item] = wide.json()["message"]["txnstatus_response"]["txn_status"]["search_response"]
    assert item["status"] == "succ" and item["data"]["reg_records"]

    # a narrow token's own transaction is within the province's jurisdiction
    own = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id})
    )
    await registry.post(
        "/registry/sync/search", json=partner.envelope("search", own), headers=token("220581")
    )
    for jurisdiction in ("220581", "22"):
        answer = await registry.post(
            SYNC_STATUS,
            json=partner.envelope("txn-status", status_request(own["transaction_id"])),
            headers=token(jurisdiction),
        )
        [item] = answer.json()["message"]["txnstatus_response"]["txn_status"]["search_response"]
        assert item["status"] == "succ" and item["pagination"]["total_count"] == 0


async def test_unsubscribe_touches_only_subscriptions_within_the_token_jurisdiction(
    registry, new_partner, dci, receiver, make_token, engine
):
    partner = await new_partner(jurisdiction="22")
    subscribe = dci.subscribe_message(dci.fresh_township())
    response = await registry.post(
        "/registry/subscribe",
        json=partner.envelope("subscribe", subscribe),
        headers=partner.headers(),
    )
    assert response.status_code == 202, response.text
    answer = await receiver.one("on-subscribe")
    code = answer["message"]["subscribe_response"][0]["subscriptions"][0]["code"]

    async def unsubscribe(jurisdiction: str) -> dict:
        token = make_token(
            jurisdiction,
            scopes=["dci:search", "dci:subscribe"],
            roles=["partner"],
            client_id=partner.client_id,
        )
        body = partner.envelope(
            "unsubscribe",
            {
                "transaction_id": uuid.uuid4().hex,
                "timestamp": datetime.now(UTC).isoformat(),
                "subscription_codes": [code],
            },
        )
        response = await registry.post("/registry/unsubscribe", json=body, headers=bearer(token))
        assert response.status_code == 202, response.text
        callback = await receiver.one("on-unsubscribe")
        dci.validate_request("/registry/on-unsubscribe", callback)
        return callback["message"]

    narrow = await unsubscribe("220581")
    assert (narrow["status"], narrow["status_reason_code"]) == (
        "rjct",
        "rjct.subscription_code.invalid",
    )
    async with engine.connect() as conn:
        status = (
            await conn.execute(
                text("SELECT status FROM dci_subscriptions WHERE code = :c"), {"c": code}
            )
        ).scalar_one()
    assert status == "subscribe"
    assert (await unsubscribe("22"))["status"] == "succ"
