"""DCI asynchronous endpoints: ACK then a signed callback to sender_uri (on-search, on-subscribe,
on-unsubscribe, txn-on-status), retries, refusals as ERR; bodies validated against the spec."""

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from fupin_kit.testing.plugin import bearer


async def wait_for_callback_status(engine, transaction_id: str, within: float = 10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT status, callback_status, callback_attempts, callback_error"
                        " FROM dci_transactions WHERE transaction_id = :t"
                    ),
                    {"t": transaction_id},
                )
            ).first()
        if row is not None and row.callback_status in ("delivered", "failed"):
            return dict(row._mapping)
        assert asyncio.get_running_loop().time() < deadline, (
            f"no callback outcome for {transaction_id}: {row}"
        )
        await asyncio.sleep(0.05)


async def test_async_search_acks_then_calls_back(
    registry, new_partner, seed, dci, receiver, jwks, engine
):
    partner = await new_partner()
    household = await seed(dci.fresh_township() + "301")
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id})
    )
    response = await registry.post(
        "/registry/search", json=partner.envelope("search", message), headers=partner.headers()
    )
    assert response.status_code == 202, response.text
    ack = response.json()
    dci.validate_response("/registry/search", 202, ack)
    dci.validate_ack(ack)
    assert ack["message"]["ack_status"] == "ACK" and dci.signature_ok(jwks, ack)

    callback = await receiver.one("on-search")
    dci.validate_request("/registry/on-search", callback)
    assert dci.signature_ok(jwks, callback)
    assert (
        callback["header"]["receiver_id"] == partner.sender_id
        and callback["header"]["status"] == "succ"
    )
    assert callback["message"]["correlation_id"] == ack["message"]["correlation_id"]
    [item] = callback["message"]["search_response"]
    assert (
        item["data"]["reg_records"][0]["group_identifier"][0]["identifier_value"]
        == household.household_id
    )
    outcome = await wait_for_callback_status(engine, message["transaction_id"])
    assert (outcome["status"], outcome["callback_status"], outcome["callback_attempts"]) == (
        "succ",
        "delivered",
        1,
    )

    # the asynchronous status request: ACK, then txn-on-status with the same results
    status_message = {
        "transaction_id": uuid.uuid4().hex,
        "txnstatus_request": {
            "reference_id": "st-1",
            "txn_type": "search",
            "attribute_type": "transaction_id",
            "attribute_value": message["transaction_id"],
        },
    }
    response = await registry.post(
        "/registry/txn/status",
        json=partner.envelope("txn-status", status_message),
        headers=partner.headers(),
    )
    assert response.status_code == 202
    dci.validate_response("/registry/txn/status", 202, response.json())
    status = await receiver.one("txn-on-status")
    dci.validate_request("/registry/txn/on-status", status)
    assert (
        status["message"]["txnstatus_response"]["txn_status"]["search_response"]
        == callback["message"]["search_response"]
    )


async def test_callbacks_are_retried_until_delivered(
    registry, new_partner, seed, dci, receiver, engine
):
    partner = await new_partner()
    household = await seed(dci.fresh_township() + "302")
    receiver.failures_left = 2
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": household.household_id})
    )
    response = await registry.post(
        "/registry/search", json=partner.envelope("search", message), headers=partner.headers()
    )
    assert response.status_code == 202
    await receiver.one("on-search")
    outcome = await wait_for_callback_status(engine, message["transaction_id"])
    assert (outcome["callback_status"], outcome["callback_attempts"]) == ("delivered", 3)


async def test_async_refusals_are_err_acknowledgements(registry, new_partner, dci, receiver, jwks):
    partner = await new_partner()
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )

    elsewhere = partner.envelope("search", message, sender_uri="http://127.0.0.1:9/steal")
    response = await registry.post("/registry/search", json=elsewhere, headers=partner.headers())
    assert response.status_code == 400
    body = response.json()
    dci.validate_response("/registry/search", 400, body)
    assert (body["message"]["ack_status"], body["message"]["error"]["code"]) == (
        "ERR",
        "err.sender_uri.invalid",
    )
    assert dci.signature_ok(jwks, body)

    unsigned = partner.envelope("search", message, signed=False)
    response = await registry.post("/registry/search", json=unsigned, headers=partner.headers())
    assert (
        response.status_code == 401
        and response.json()["message"]["error"]["code"] == "err.signature.missing"
    )
    dci.validate_ack(response.json())

    bad = partner.envelope("search", {"transaction_id": "t", "search_request": "all"})
    response = await registry.post("/registry/search", json=bad, headers=partner.headers())
    assert (
        response.status_code == 400
        and response.json()["message"]["error"]["code"] == "err.request.bad"
    )
    dci.validate_response("/registry/search", 400, response.json())

    good = partner.envelope("search", message)
    assert (
        await registry.post("/registry/search", json=good, headers=partner.headers())
    ).status_code == 202
    replay = await registry.post("/registry/search", json=good, headers=partner.headers())
    assert (
        replay.status_code == 400
        and "already received" in replay.json()["message"]["error"]["message"]
    )
    await receiver.one("on-search")
    assert receiver.received == []  # the replay was not processed


async def test_subscribe_and_unsubscribe(
    registry, new_partner, dci, receiver, jwks, engine, make_token
):
    partner = await new_partner()
    township = dci.fresh_township()

    def subscription(reference: str, event_type: str = "STATUS_CHANGE", **criteria) -> dict:
        return dci.subscribe_request(reference, township, event_type, **criteria)

    message = {
        "transaction_id": uuid.uuid4().hex,
        "subscribe_request": [
            subscription("s-1"),
            subscription("s-2", "spdci-common:RegistryEventType:REGISTER"),
            subscription("s-3", "LiveBirth"),
            subscription(
                "s-4",
                filter=[
                    {
                        "expression1": {
                            "attribute_name": "birth_date",
                            "operator": "gt",
                            "attribute_value": "2000-01-01",
                        }
                    }
                ],
            ),
        ],
    }
    response = await registry.post(
        "/registry/subscribe",
        json=partner.envelope("subscribe", message, total=4),
        headers=partner.headers(),
    )
    assert response.status_code == 202, response.text
    dci.validate_response("/registry/subscribe", 202, response.json())
    callback = await receiver.one("on-subscribe")
    dci.validate_request("/registry/on-subscribe", callback)
    assert dci.signature_ok(jwks, callback)
    answers = {a["reference_id"]: a for a in callback["message"]["subscribe_response"]}
    assert answers["s-1"]["status"] == "succ" and answers["s-2"]["status"] == "succ"
    assert answers["s-3"]["status_reason_code"] == "rjct.notify_types.invalid"
    assert answers["s-4"]["status_reason_code"] == "rjct.notify_details.invalid"
    codes = [answers[r]["subscriptions"][0]["code"] for r in ("s-1", "s-2")]

    again = {"transaction_id": uuid.uuid4().hex, "subscribe_request": [subscription("s-5")]}
    await registry.post(
        "/registry/subscribe", json=partner.envelope("subscribe", again), headers=partner.headers()
    )
    duplicate = await receiver.one("on-subscribe")
    assert (
        duplicate["message"]["subscribe_response"][0]["status_reason_code"]
        == "rjct.event.already_subscribed"
    )
    # The same filter under the partner's county token is another subscription: it is kept
    # with that jurisdiction (and cancelled by it), so it is not a duplicate of the province's.
    county_token = make_token(
        township[:6], scopes=["dci:subscribe"], roles=["partner"], client_id=partner.client_id
    )
    narrower = {"transaction_id": uuid.uuid4().hex, "subscribe_request": [subscription("s-6")]}
    await registry.post(
        "/registry/subscribe",
        json=partner.envelope("subscribe", narrower),
        headers=bearer(county_token),
    )
    county_answer = (await receiver.one("on-subscribe"))["message"]["subscribe_response"][0]
    assert county_answer["status"] == "succ", county_answer

    async def unsubscribe(subscription_codes):
        body = partner.envelope(
            "unsubscribe",
            {
                "transaction_id": uuid.uuid4().hex,
                "timestamp": datetime.now(UTC).isoformat(),
                "subscription_codes": subscription_codes,
            },
            total=len(subscription_codes),
        )
        response = await registry.post(
            "/registry/unsubscribe", json=body, headers=partner.headers()
        )
        assert response.status_code == 202, response.text
        dci.validate_response("/registry/unsubscribe", 202, response.json())
        answer = await receiver.one("on-unsubscribe")
        dci.validate_request("/registry/on-unsubscribe", answer)
        return answer["message"]

    unknown = await unsubscribe([codes[0], "no-such-code"])
    assert (unknown["status"], unknown["status_reason_code"]) == (
        "rjct",
        "rjct.subscription_code.invalid",
    )
    done = await unsubscribe(codes)
    assert done["status"] == "succ"
    assert done["subscription_status"] == [{"code": c, "status": "unsubscribe"} for c in codes]
    twice = await unsubscribe(codes[:1])
    assert twice["status_reason_code"] == "rjct.event.already_unsubscribed"

    other = await new_partner()
    stolen = await registry.post(
        "/registry/unsubscribe",
        json=other.envelope(
            "unsubscribe",
            {
                "transaction_id": "x",
                "timestamp": datetime.now(UTC).isoformat(),
                "subscription_codes": codes,
            },
            total=2,
        ),
        headers=other.headers(),
    )
    assert stolen.status_code == 202
    assert (await receiver.one("on-unsubscribe"))["message"][
        "status_reason_code"
    ] == "rjct.subscription_code.invalid"

    async with engine.connect() as conn:
        stored = (
            (
                await conn.execute(
                    text("SELECT filter::text FROM dci_subscriptions WHERE code = ANY(:c)"),
                    {"c": codes},
                )
            )
            .scalars()
            .all()
        )
    assert all(township in f for f in stored)

    status_message = {
        "transaction_id": uuid.uuid4().hex,
        "txnstatus_request": {
            "reference_id": "st",
            "txn_type": "subscribe",
            "attribute_type": "transaction_id",
            "attribute_value": message["transaction_id"],
        },
    }
    status = await registry.post(
        "/registry/sync/txn/status",
        json=partner.envelope("txn-status", status_message),
        headers=partner.headers(),
    )
    dci.validate_response("/registry/sync/txn/status", 200, status.json())
    items = status.json()["message"]["txnstatus_response"]["txn_status"]["search_response"]
    assert [i["status"] for i in items] == ["succ", "succ", "rjct", "rjct"]


async def test_subscribing_needs_its_scope(registry, new_partner, make_token, dci):
    partner = await new_partner()
    token = make_token("22", scopes=["dci:search"], client_id=partner.client_id)
    body = partner.envelope("subscribe", {"transaction_id": "t", "subscribe_request": []})
    response = await registry.post(
        "/registry/subscribe", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    dci.validate_response("/registry/subscribe", 403, response.json())
