"""DCI message signatures (Ed25519) and the registry's published keys (JWKS).

The signature string follows the DCI/Beckn convention::

    Signature: namespace="spdci", kidId="{sender_id}|{key_id}|ed25519", algorithm="ed25519",
    created="1606970629", expires="1607030629", headers="(created) (expires) digest",
    signature="<base64 Ed25519 signature of the signing string>"

with the signing string ``(created): C\\n(expires): E\\ndigest: BLAKE-512=<base64 digest>`` and
the digest BLAKE2b-512 over the canonical JSON (keys sorted, no whitespace, UTF-8) of
``{"header": ..., "message": ...}`` (a part the envelope does not have is left out). Signing
the parsed document rather than the bytes on the wire keeps the signature independent of how
a JSON library lays the text out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_PARAM = re.compile(r'([A-Za-z]+)="([^"]*)"')
HEADERS = "(created) (expires) digest"


class SignatureProblem(Exception):
    """``code`` is the DCI error code: err.signature.missing or err.signature.invalid."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def canonical_json(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(header: Any, message: Any) -> str:
    document = {k: v for k, v in (("header", header), ("message", message)) if v is not None}
    return base64.b64encode(
        hashlib.blake2b(canonical_json(document), digest_size=64).digest()
    ).decode()


def signing_string(created: int, expires: int, body_digest: str) -> bytes:
    return f"(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={body_digest}".encode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: a stable key id."""
    jwk = public_jwk(key)
    members = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(members.encode()).digest())


def load_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key given as PEM (SubjectPublicKeyInfo) or as a JWK (OKP, Ed25519)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            jwk = json.loads(text)
        except ValueError as exc:
            raise ValueError("the public key is neither PEM nor a JSON Web Key") from exc
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError("only Ed25519 keys (kty OKP, crv Ed25519) are accepted")
        if "d" in jwk:
            raise ValueError("a private key was given; register the public key only")
        try:
            raw = _b64url_decode(str(jwk.get("x", "")))
            return Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise ValueError("the JWK 'x' is not a 32-byte Ed25519 public key") from exc
    try:
        key = serialization.load_pem_public_key(text.encode())
    except ValueError as exc:
        raise ValueError("the public key is neither PEM nor a JSON Web Key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("only Ed25519 public keys are accepted")
    return key


@dataclass(frozen=True)
class ParsedSignature:
    sender_id: str
    key_id: str
    created: int
    expires: int
    signature: bytes


def parse_signature(value: str) -> ParsedSignature:
    params = dict(_PARAM.findall(value))
    try:
        sender_id, key_id, algorithm = params["kidId" if "kidId" in params else "keyId"].split("|")
        if (
            algorithm.lower() != "ed25519"
            or params.get("algorithm", "ed25519").lower() != "ed25519"
        ):
            raise SignatureProblem("err.signature.invalid", "only ed25519 signatures are accepted")
        if params.get("headers", HEADERS) != HEADERS:
            raise SignatureProblem("err.signature.invalid", f"headers must be '{HEADERS}'")
        return ParsedSignature(
            sender_id=sender_id,
            key_id=key_id,
            created=int(params["created"]),
            expires=int(params["expires"]),
            signature=base64.b64decode(params["signature"], validate=True),
        )
    except SignatureProblem:
        raise
    except (KeyError, ValueError) as exc:
        raise SignatureProblem(
            "err.signature.invalid", "the signature string is malformed"
        ) from exc


def verify_signature(
    value: str | None,
    header: Any,
    message: Any,
    *,
    public_key: Ed25519PublicKey,
    sender_id: str,
    key_id: str | None,
    max_age_seconds: int,
    skew_seconds: int,
    now: float | None = None,
) -> None:
    """Raise ``SignatureProblem`` unless ``value`` is the sender's valid, current signature."""
    if not value:
        raise SignatureProblem("err.signature.missing", "this sender must sign its messages")
    parsed = parse_signature(value)
    if parsed.sender_id != sender_id:
        raise SignatureProblem(
            "err.signature.invalid", "the signature's kidId names another sender"
        )
    if key_id and parsed.key_id != key_id:
        raise SignatureProblem(
            "err.signature.invalid", "the signature's key id is not the registered key"
        )
    current = time.time() if now is None else now
    if parsed.created > current + skew_seconds:
        raise SignatureProblem("err.signature.invalid", "the signature was created in the future")
    if parsed.expires < current - skew_seconds:
        raise SignatureProblem("err.signature.invalid", "the signature has expired")
    if parsed.expires < parsed.created or parsed.expires - parsed.created > max_age_seconds:
        raise SignatureProblem(
            "err.signature.invalid", f"signatures may live at most {max_age_seconds} s"
        )
    material = signing_string(parsed.created, parsed.expires, digest(header, message))
    try:
        public_key.verify(parsed.signature, material)
    except InvalidSignature as exc:
        raise SignatureProblem(
            "err.signature.invalid", "the signature does not match the message"
        ) from exc


class RegistrySigner:
    """The registry's own Ed25519 key: signs responses and callbacks, published as JWKS."""

    def __init__(
        self, private_key: Ed25519PrivateKey, sender_id: str, lifetime_seconds: int
    ) -> None:
        self.private_key = private_key
        self.sender_id = sender_id
        self.lifetime = lifetime_seconds
        self.key_id = thumbprint(private_key.public_key())

    @classmethod
    def from_file(
        cls, path: Path | None, *, sender_id: str, lifetime_seconds: int, environment: str
    ) -> RegistrySigner:
        if path is None:
            if environment == "prod":
                raise ValueError("REGISTRY_DCI_SIGNING_KEY_FILE is required in prod")
            return cls(
                Ed25519PrivateKey.generate(), sender_id, lifetime_seconds
            )  # ephemeral, dev/test
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the DCI signing key must be an Ed25519 private key (PEM)")
        return cls(key, sender_id, lifetime_seconds)

    def sign(self, header: Any, message: Any, now: float | None = None) -> str:
        created = int(time.time() if now is None else now)
        expires = created + self.lifetime
        material = signing_string(created, expires, digest(header, message))
        signature = base64.b64encode(self.private_key.sign(material)).decode()
        return (
            f'Signature: namespace="spdci", kidId="{self.sender_id}|{self.key_id}|ed25519", '
            f'algorithm="ed25519", created="{created}", expires="{expires}", '
            f'headers="{HEADERS}", signature="{signature}"'
        )

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        jwk = public_jwk(self.private_key.public_key())
        return {"keys": [{**jwk, "kid": self.key_id, "use": "sig", "alg": "EdDSA"}]}
