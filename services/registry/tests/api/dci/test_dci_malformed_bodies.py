"""Bodies the register cannot take (too deep, NaN/Infinity, NUL characters, lone surrogates,
too large) are refused in the DCI envelopes of each endpoint — a callback-shaped ``rjct`` reply
on the synchronous endpoints, an ERR acknowledgement on the others — never problem+json or a
server error; every answer is validated against the specification."""

import json
import uuid

import pytest

SYNC = "/registry/sync/search"
ASYNC = "/registry/search"


def as_json(document: dict) -> str:
    return json.dumps(document, allow_nan=True)


def deep(partner, dci) -> str:
    return '{"header": ' + "[" * 50_000 + "]" * 50_000 + "}"


def nan_in_consent(partner, dci) -> str:
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    message["search_request"][0]["search_criteria"]["consent"] = {
        **dci.consent,
        "purpose": {"code": float("nan")},
    }
    return as_json(partner.envelope("search", message, signed=False))


def infinity_in_consent(partner, dci) -> str:
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    message["search_request"][0]["search_criteria"]["consent"] = {
        **dci.consent,
        "weight": float("inf"),
    }
    return as_json(partner.envelope("search", message, signed=False))


def nul_in_consent(partner, dci) -> str:
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    message["search_request"][0]["search_criteria"]["consent"] = {
        **dci.consent,
        "purpose": {"code": "x\u0000"},
    }
    return as_json(partner.envelope("search", message, signed=False))


def nul_in_message_id(partner, dci) -> str:
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    return as_json(partner.envelope("search", message, signed=False, message_id="a\u0000b"))


def lone_surrogate(partner, dci) -> str:
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    message["search_request"][0]["reference_id"] = "r-\ud800"
    return as_json(partner.envelope("search", message, signed=False))


def too_deep_message(partner, dci) -> str:
    nested: list = []
    for _ in range(40):
        nested = [nested]
    message = dci.search_message(
        dci.criteria("idtype-value", {"type": "HOUSEHOLD_ID", "value": str(uuid.uuid4())})
    )
    message["search_request"][0]["search_criteria"]["consent"] = {
        **dci.consent,
        "purpose": nested,
    }
    return as_json(partner.envelope("search", message, signed=False))


BODIES = [
    deep,
    nan_in_consent,
    infinity_in_consent,
    nul_in_consent,
    nul_in_message_id,
    lone_surrogate,
    too_deep_message,
]
# Text PostgreSQL cannot hold is 422 (dci.md); every other refused body is 400.
UNSTORABLE = {nul_in_consent, nul_in_message_id, lone_surrogate}


def expected_status(make_body) -> int:
    return 422 if make_body in UNSTORABLE else 400


async def post(registry, path: str, body: str | bytes, headers: dict) -> object:
    return await registry.post(
        path, content=body, headers={**headers, "content-type": "application/json"}
    )


@pytest.mark.parametrize("make_body", BODIES, ids=lambda f: f.__name__)
async def test_sync_refusals_are_dci_replies(registry, new_partner, dci, make_body):
    partner = await new_partner(require_signature=False)
    response = await post(registry, SYNC, make_body(partner, dci), partner.headers())
    assert response.status_code == expected_status(make_body), response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    dci.validate_response(SYNC, response.status_code, body)
    assert body["header"]["status"] == "rjct"
    assert body["header"]["status_reason_message"].startswith("err.request.bad")


@pytest.mark.parametrize("make_body", BODIES, ids=lambda f: f.__name__)
async def test_async_refusals_are_err_acknowledgements(registry, new_partner, dci, make_body):
    partner = await new_partner(require_signature=False)
    response = await post(registry, ASYNC, make_body(partner, dci), partner.headers())
    assert response.status_code == expected_status(make_body), response.text
    body = response.json()
    dci.validate_response(ASYNC, response.status_code, body)
    dci.validate_ack(body)
    assert (body["message"]["ack_status"], body["message"]["error"]["code"]) == (
        "ERR",
        "err.request.bad",
    )


async def test_raw_nul_bytes_and_oversized_bodies_are_dci_replies(registry, new_partner, dci):
    partner = await new_partner(require_signature=False)
    raw_nul = b'{"header": {"message_id": "a\x00"}, "message": {}}'
    huge = b'{"pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    for body, status in ((raw_nul, 422), (huge, 413)):
        response = await post(registry, SYNC, body, partner.headers())
        assert response.status_code == status, response.text
        dci.validate_response(SYNC, status, response.json())
        assert response.json()["header"]["status"] == "rjct"
        status_response = await post(registry, "/registry/sync/txn/status", body, partner.headers())
        dci.validate_response("/registry/sync/txn/status", status, status_response.json())
        assert status_response.json()["header"]["action"] == "txn-on-status"
        for path in (ASYNC, "/registry/subscribe", "/registry/txn/status"):
            response = await post(registry, path, body, partner.headers())
            assert response.status_code == status
            dci.validate_response(path, status, response.json())
            assert response.json()["message"]["error"]["code"] == "err.request.bad"


async def test_other_paths_keep_problem_documents(registry, admin_headers):
    response = await post(registry, "/v1/dci/partners", b'{"name": "a\x00"}', admin_headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
