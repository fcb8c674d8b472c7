"""DCI message signatures: what verifies and what does not; keys as PEM or JWK; JWKS."""

import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fupin_registry.dci.signing import (
    RegistrySigner,
    SignatureProblem,
    load_public_key,
    public_jwk,
    verify_signature,
)

HEADER = {"message_id": "1", "action": "search", "sender_id": "registry.fupin.example"}
MESSAGE = {"transaction_id": "t-1", "search_request": [{"reference_id": "r", "note": "中文"}]}


@pytest.fixture
def signer():
    return RegistrySigner(
        Ed25519PrivateKey.generate(), "registry.fupin.example", lifetime_seconds=300
    )


def verify(signer, signature, header=HEADER, message=MESSAGE, **kw):
    options = {
        "sender_id": "registry.fupin.example",
        "key_id": signer.key_id,
        "max_age_seconds": 600,
        "skew_seconds": 60,
    }
    options.update(kw)
    verify_signature(
        signature, header, message, public_key=signer.private_key.public_key(), **options
    )


def test_round_trip_is_independent_of_key_order(signer):
    signature = signer.sign(HEADER, MESSAGE)
    reordered = json.loads(json.dumps(MESSAGE, sort_keys=False))
    verify(signer, signature, header=dict(reversed(list(HEADER.items()))), message=reordered)


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda s: None, "err.signature.missing"),
        (lambda s: s.replace('signature="', 'signature="AB'), "err.signature.invalid"),
        (lambda s: s.replace("registry.fupin.example|", "someone.else|"), "err.signature.invalid"),
        (
            lambda s: s.replace('algorithm="ed25519"', 'algorithm="rsa-sha256"'),
            "err.signature.invalid",
        ),
        (lambda s: "Signature: nonsense", "err.signature.invalid"),
    ],
)
def test_tampered_signatures(signer, tamper, code):
    with pytest.raises(SignatureProblem) as refused:
        verify(signer, tamper(signer.sign(HEADER, MESSAGE)))
    assert refused.value.code == code


def test_changed_message_and_time_window(signer):
    signature = signer.sign(HEADER, MESSAGE)
    with pytest.raises(SignatureProblem):
        verify(signer, signature, message={**MESSAGE, "transaction_id": "t-2"})
    with pytest.raises(SignatureProblem, match="expired"):
        verify(signer, signer.sign(HEADER, MESSAGE, now=time.time() - 1000))
    with pytest.raises(SignatureProblem, match="future"):
        verify(signer, signer.sign(HEADER, MESSAGE, now=time.time() + 1000))
    with pytest.raises(SignatureProblem, match="at most"):
        verify(signer, signature, max_age_seconds=100)
    with pytest.raises(SignatureProblem, match="key id"):
        verify(signer, signature, key_id="another-key")


def test_public_keys_as_pem_or_jwk(signer):
    public = signer.private_key.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    jwk = json.dumps(public_jwk(public))
    for text in (pem, jwk):
        assert load_public_key(text).public_bytes_raw() == public.public_bytes_raw()
    for bad in (
        "{}",
        '{"kty":"RSA","n":"x","e":"AQAB"}',
        json.dumps({**public_jwk(public), "d": "secret"}),
        "not a key",
    ):
        with pytest.raises(ValueError):
            load_public_key(bad)


def test_jwks_names_the_signing_key(signer):
    [key] = signer.jwks()["keys"]
    assert key["kid"] == signer.key_id and key["alg"] == "EdDSA"
    assert f"|{signer.key_id}|ed25519" in signer.sign(HEADER, MESSAGE)


def test_ephemeral_key_only_outside_prod():
    assert RegistrySigner.from_file(None, sender_id="r", lifetime_seconds=60, environment="dev")
    with pytest.raises(ValueError):
        RegistrySigner.from_file(None, sender_id="r", lifetime_seconds=60, environment="prod")
