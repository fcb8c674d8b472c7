"""Personal data protection: AES-GCM field encryption with key ids, HMAC blind indexes, masking.

Ciphertext layout: ``key id length (1 byte) | key id | nonce (12 bytes) | ciphertext+tag``; the
field name is bound as associated data so a value cannot be moved to another column. The blind
index is HMAC-SHA256 under a key that is never stored in the database: a plain hash of an ID
number (about 10^11 possible values) could be brute-forced.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def parse_keyring(spec: str, what: str = "PII key") -> dict[str, bytes]:
    """``k1:BASE64,k2:BASE64`` → key id → 32-byte key. The first is the active key."""
    ring: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key_id, _, encoded = part.partition(":")
        key = base64.b64decode(encoded)
        # The id is stored before each ciphertext, its length in one byte: ASCII keeps both equal.
        if len(key) != 32 or not key_id or len(key_id) > 32 or not key_id.isascii():
            raise ValueError(f"each {what} is 'id:base64(32 bytes)', the id 1-32 ASCII characters")
        ring[key_id] = key
    if not ring:
        raise ValueError(f"at least one {what} is required")
    return ring


class FieldCipher:
    def __init__(self, keyring: dict[str, bytes], active_key_id: str | None = None) -> None:
        self.keys = {kid: AESGCM(key) for kid, key in keyring.items()}
        self.active = active_key_id or next(iter(keyring))
        self._prefix = bytes([len(self.active)]) + self.active.encode()

    def encrypt(self, plaintext: str, field: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self.keys[self.active].encrypt(nonce, plaintext.encode(), field.encode())
        return self._prefix + nonce + sealed

    def decrypt(self, blob: bytes, field: str) -> str:
        size = blob[0]
        key_id = blob[1 : 1 + size].decode()
        nonce = blob[1 + size : 13 + size]
        return self.keys[key_id].decrypt(nonce, blob[13 + size :], field.encode()).decode()

    def key_id_of(self, blob: bytes) -> str:
        return blob[1 : 1 + blob[0]].decode()


_BLOCK = 64  # SHA-256 block size
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))


BLIND_INDEX_BYTES = 32  # an HMAC-SHA256


class BlindIndex:
    """HMAC-SHA256 of the normalised value (RFC 2104). The padded keys are hashed once and each
    index copies those states: about a third of ``hmac.new`` per value, which matters for
    imports and batch checks that index every ID number."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the blind index key needs at least 32 bytes")
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_INNER_PAD))
        self._outer = hashlib.sha256(key.translate(_OUTER_PAD))

    def of(self, value: str) -> bytes:
        inner = self._inner.copy()
        inner.update(value.strip().upper().encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def hex(self, value: str) -> str:
        return self.of(value).hex()


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def mask_id_number(value: str) -> str:
    return value[:6] + "*" * 8 + value[-4:] if len(value) == 18 else "*" * len(value)


def mask_name(value: str) -> str:
    return value[:1] + "*" * max(1, len(value) - 1) if value else value


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:] if len(value) >= 11 else "*" * len(value)


def mask_account(value: str) -> str:
    return "*" * max(0, len(value) - 4) + value[-4:]
