"""Request fingerprints of Idempotency-Keys: they name the method and path, and a key stored
before they did still replays its answer."""

import hashlib
import json

from fupin_kit.auth import Caller
from fupin_kit.idempotency import fingerprint, same_request
from fupin_kit.middleware import REQUEST_LINE

CALLER = Caller(subject="u1", roles=frozenset({"officer"}), jurisdiction="220622")


def digest_of_before(payload, caller):
    """The digest as it was computed before the method and path were part of it."""
    access = [caller.jurisdiction, sorted(caller.roles), sorted(caller.scopes)]
    encoded = json.dumps([payload, access], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def fingerprint_at(method, path, payload, caller=CALLER):
    token = REQUEST_LINE.set((method, path))
    try:
        return fingerprint(payload, caller)
    finally:
        REQUEST_LINE.reset(token)


def test_a_fingerprint_names_the_method_and_path():
    approve = fingerprint_at("POST", "/v1/cases/c1/approval", {"decision": "approve"})
    again = fingerprint_at("POST", "/v1/cases/c1/approval", {"decision": "approve"})
    other_case = fingerprint_at("POST", "/v1/cases/c2/approval", {"decision": "approve"})
    assert same_request(approve, again)
    assert not same_request(approve, other_case)


def test_a_key_stored_before_fingerprints_named_the_request_still_matches_it():
    payload = {"amount": "10.00"}
    stored_then = digest_of_before(payload, CALLER)
    now = fingerprint_at("POST", "/v1/widgets", payload)
    assert stored_then != now and same_request(stored_then, now)
    assert not same_request(digest_of_before({"amount": "11.00"}, CALLER), now)
    other_access = CALLER.model_copy(update={"jurisdiction": "220621"})
    assert not same_request(digest_of_before(payload, other_access), now)
