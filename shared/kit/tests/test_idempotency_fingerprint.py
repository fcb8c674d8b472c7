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


def test_a_stored_digest_is_keyed_so_a_body_with_an_id_number_cannot_be_recovered_from_it():
    # Without the key, the digest of a body holding an ID number cannot be recomputed, so it
    # cannot be matched against the few billion ID numbers there are.
    payload = {"borrower_id_number": "220622198505202319", "amount": "50000.00"}
    stored = fingerprint_at("POST", "/v1/loans", payload)
    access = [CALLER.jurisdiction, sorted(CALLER.roles), sorted(CALLER.scopes)]
    parts = [payload, access, ("POST", "/v1/loans")]
    plain = hashlib.sha256(
        json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert str(stored) != plain
    assert same_request(plain, stored)  # a key stored before digests were keyed still replays


def test_a_key_stored_under_the_previous_audit_key_still_replays_after_rotation():
    import base64
    import os

    from fupin_kit.audit import AuditKeys, audit_keys, use_audit_keys

    before = audit_keys()
    old = f"old:{base64.b64encode(os.urandom(32)).decode()}"
    new = f"new:{base64.b64encode(os.urandom(32)).decode()}"
    payload = {"amount": "10.00"}
    try:
        use_audit_keys(AuditKeys.parse(old))
        stored = str(fingerprint_at("POST", "/v1/widgets", payload))
        use_audit_keys(AuditKeys.parse(f"{new},{old}"))
        now = fingerprint_at("POST", "/v1/widgets", payload)
        assert str(now) != stored and same_request(stored, now)
        assert not same_request(stored, fingerprint_at("POST", "/v1/widgets", {"amount": "11"}))
        use_audit_keys(AuditKeys.parse(new))  # the old key dropped: its digests no longer match
        assert not same_request(stored, fingerprint_at("POST", "/v1/widgets", payload))
    finally:
        use_audit_keys(before)
