"""Verified tokens are cached by their exact text until they expire; failures never are."""

import time

import pytest

from fupin_kit.auth import TokenVerifier, issue_token
from fupin_kit.problems import Unauthorized
from fupin_kit.settings import ServiceSettings


@pytest.fixture
def keys(signing_keys):
    return signing_keys


def verifier(public: str, cache_size: int = 8) -> TokenVerifier:
    return TokenVerifier(
        ServiceSettings(environment="test", jwt_public_key=public, jwt_cache_size=cache_size)
    )


def test_a_verified_token_is_served_from_the_cache_until_it_expires(keys, monkeypatch):
    private, public = keys
    tokens = verifier(public)
    token = issue_token(private, subject="officer-1", jurisdiction="220622", lifetime_seconds=60)
    checks = []
    verify_signature = tokens._verify
    monkeypatch.setattr(tokens, "_verify", lambda t: checks.append(t) or verify_signature(t))
    first = tokens.verify(token)
    assert tokens.verify(token) is first and len(checks) == 1  # one signature check
    assert first.jurisdiction == "220622"

    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 61)  # past exp
    tokens.verify(token)  # still within the leeway, but checked again rather than cached
    assert len(checks) == 2


def test_bad_tokens_are_refused_every_time_and_the_cache_is_bounded(keys):
    private, public = keys
    tokens = verifier(public, cache_size=2)
    forged = issue_token(private, subject="x", jurisdiction="22")[:-4] + "AAAA"
    for _ in range(2):
        with pytest.raises(Unauthorized):
            tokens.verify(forged)
    for n in range(5):
        tokens.verify(issue_token(private, subject=f"user-{n}", jurisdiction="22"))
    assert len(tokens._verified) == 2


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"subject": "user\x1fadmin"}, "subject"),
        ({"subject": "a\x00b"}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"subject": "bank-1", "client_id": "bank\n1"}, "client_id"),
    ],
)
def test_a_subject_or_client_with_control_characters_is_refused(keys, claims, reason):
    # Who acted is written to the audit chain, whose hash joins fields with U+001F.
    private, public = keys
    token = issue_token(private, jurisdiction="22", **claims)
    with pytest.raises(Unauthorized, match=reason):
        verifier(public).verify(token)


def test_a_subject_in_any_script_is_accepted(keys):
    private, public = keys
    caller = verifier(public).verify(
        issue_token(private, subject="张三 (县扶贫办)", jurisdiction="22")
    )
    assert caller.actor == "user:张三 (县扶贫办)"


def test_a_token_of_another_listed_algorithm_is_refused_not_a_server_error(keys):
    """The one verification key is for the first algorithm: an RS256 token, though RS256 is
    listed too, is 401 (it used to reach PyJWT with an Ed25519 key and raise TypeError)."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    _, public = keys
    tokens = TokenVerifier(
        ServiceSettings(
            environment="test", jwt_public_key=public, jwt_algorithms=["EdDSA", "RS256"]
        )
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": "fupin-auth",
            "aud": "fupin",
            "sub": "x",
            "iat": now,
            "exp": now + 60,
            "jurisdiction": "22",
        },
        pem,
        algorithm="RS256",
    )
    with pytest.raises(Unauthorized, match="algorithm"):
        tokens.verify(token)
