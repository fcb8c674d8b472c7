"""An asynchronous request's sender_uri must lie under the partner's registered prefix as a
URL (scheme, host, port, whole path segments, no user information), whatever the prefix's
spelling; the refusal is an ERR acknowledgement and nothing is called back."""

import uuid

import pytest


@pytest.mark.parametrize(
    ("prefix_path", "uri_tail"),
    [
        ("", "@127.0.0.1:5432/x"),  # user information: the callback would go to 127.0.0.1:5432
        ("", "0/callback"),  # another port
        ("/dci", "-other/callback"),  # a longer path segment
        ("/dci/", "../admin"),
    ],
    ids=["userinfo", "port", "segment", "dot-segment"],
)
async def test_sender_uri_outside_the_prefix_is_refused(
    registry, new_partner, dci, receiver, prefix_path, uri_tail
):
    prefix = receiver.base.rstrip("/") + prefix_path  # registered without a trailing slash
    partner = await new_partner(callback_prefix=prefix)
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    body = partner.envelope("search", message, sender_uri=prefix + uri_tail)
    response = await registry.post("/registry/search", json=body, headers=partner.headers())
    assert response.status_code == 400, response.text
    dci.validate_response("/registry/search", 400, response.json())
    assert response.json()["message"]["error"]["code"] == "err.sender_uri.invalid"
    assert receiver.received == []


async def test_sender_uri_under_the_prefix_is_called_back(registry, new_partner, dci, receiver):
    partner = await new_partner(callback_prefix=receiver.base.rstrip("/"))  # no trailing slash
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    response = await registry.post(
        "/registry/search", json=partner.envelope("search", message), headers=partner.headers()
    )
    assert response.status_code == 202, response.text
    dci.validate_request("/registry/on-search", await receiver.one("on-search"))
