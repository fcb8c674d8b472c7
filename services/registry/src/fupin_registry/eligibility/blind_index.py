"""The registry's blind index (HMAC-SHA256, see ``fupin_kit.crypto.BlindIndex``) of resident ID
numbers that validation has already normalised, for the check path.

HMAC is two SHA-256 passes over the key's padded forms and the message (RFC 2104); the padded
keys are hashed once here and each index copies those states, which costs about a third of a
one-shot ``hmac.digest`` (that sets the key up again on every call).
"""

from __future__ import annotations

import hashlib

_BLOCK = 64  # SHA-256 block size
_INNER = bytes(x ^ 0x36 for x in range(256))
_OUTER = bytes(x ^ 0x5C for x in range(256))


class MemberIndex:
    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_INNER))
        self._outer = hashlib.sha256(key.translate(_OUTER))

    def of(self, id_number: str) -> bytes:
        """The index of an ID number as validation returns it (stripped, upper case)."""
        inner = self._inner.copy()
        inner.update(id_number.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()
