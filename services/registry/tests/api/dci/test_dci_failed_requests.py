"""An asynchronous DCI request that fails inside the registry after its ACK still gets a
spec-valid callback: every request rejected with err.service.unavailable, and txn/status tells
the same."""

import uuid
from datetime import UTC, datetime

import pytest

from fupin_registry.dci import router as dci_router
from fupin_registry.dci.service import FAILED_REASON


async def _broken(*args, **kwargs):
    raise RuntimeError("the register cannot be read")


@pytest.fixture
def broken_services(monkeypatch):
    monkeypatch.setattr(dci_router.SearchService, "search", _broken)
    monkeypatch.setattr(dci_router.SubscriptionService, "subscribe", _broken)
    monkeypatch.setattr(dci_router.SubscriptionService, "unsubscribe", _broken)


async def status_items(registry, partner, dci, txn_type: str, transaction_id: str) -> list:
    """The per-request statuses txn/status (synchronous) tells of a transaction."""
    status = await registry.post(
        "/registry/sync/txn/status",
        json=partner.envelope("txn-status", dci.status_message(txn_type, transaction_id)),
        headers=partner.headers(),
    )
    dci.validate_response("/registry/sync/txn/status", 200, status.json())
    return status.json()["message"]["txnstatus_response"]["txn_status"]["search_response"]


async def test_a_failed_search_is_answered_with_every_request_rejected(
    registry, new_partner, dci, receiver, jwks, broken_services
):
    partner = await new_partner()
    criteria = dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": "x"})
    message = {
        "transaction_id": uuid.uuid4().hex,
        "search_request": [
            {
                "reference_id": "r-1",
                "timestamp": datetime.now(UTC).isoformat(),
                "search_criteria": criteria,
            },
            {
                "reference_id": "r-2",
                "timestamp": datetime.now(UTC).isoformat(),
                "search_criteria": criteria,
                "locale": "zho",
            },
        ],
    }
    response = await registry.post(
        "/registry/search",
        json=partner.envelope("search", message, total=2),
        headers=partner.headers(),
    )
    assert response.status_code == 202, response.text
    callback = await receiver.one("on-search")
    dci.validate_request("/registry/on-search", callback)
    assert dci.signature_ok(jwks, callback)
    assert callback["header"]["status"] == "rjct"
    assert callback["header"]["status_reason_message"] == FAILED_REASON
    items = callback["message"]["search_response"]
    assert [(i["reference_id"], i["status"]) for i in items] == [("r-1", "rjct"), ("r-2", "rjct")]
    assert {i["status_reason_message"] for i in items} == {FAILED_REASON}
    assert "data" not in items[0] and items[1]["locale"] == "zho"

    told = await status_items(registry, partner, dci, "search", message["transaction_id"])
    assert [(i["status"], i["status_reason_message"]) for i in told] == [
        ("rjct", FAILED_REASON),
        ("rjct", FAILED_REASON),
    ]


async def test_failed_subscriptions_are_answered_as_the_spec_requires(
    registry, new_partner, dci, receiver, broken_services
):
    partner = await new_partner()
    message = dci.subscribe_message(dci.fresh_township(), "REGISTER")
    response = await registry.post(
        "/registry/subscribe",
        json=partner.envelope("subscribe", message),
        headers=partner.headers(),
    )
    assert response.status_code == 202, response.text
    callback = await receiver.one("on-subscribe")
    # The spec requires a message in on-subscribe (and on-unsubscribe) callbacks.
    dci.validate_request("/registry/on-subscribe", callback)
    [item] = callback["message"]["subscribe_response"]
    assert (item["reference_id"], item["status"], item["status_reason_message"]) == (
        "s-1",
        "rjct",
        FAILED_REASON,
    )
    assert "subscriptions" not in item

    told = await status_items(registry, partner, dci, "subscribe", message["transaction_id"])
    assert [(i["status"], i["status_reason_message"]) for i in told] == [("rjct", FAILED_REASON)]

    body = partner.envelope(
        "unsubscribe",
        {
            "transaction_id": uuid.uuid4().hex,
            "timestamp": datetime.now(UTC).isoformat(),
            "subscription_codes": ["some-code"],
        },
    )
    response = await registry.post("/registry/unsubscribe", json=body, headers=partner.headers())
    assert response.status_code == 202, response.text
    answer = await receiver.one("on-unsubscribe")
    dci.validate_request("/registry/on-unsubscribe", answer)
    assert (answer["message"]["status"], answer["message"]["status_reason_message"]) == (
        "rjct",
        FAILED_REASON,
    )
