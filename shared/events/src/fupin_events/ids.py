"""Random identifiers: version-4 UUIDs in their canonical text form (RFC 4122).

Entry ids, event ids and decision ids are made on every hot command; formatting the hex of
``os.urandom`` directly costs a fraction of building ``uuid.UUID`` objects and printing them.
"""

from __future__ import annotations

import os

# The RFC 4122 variant nibble (10xx) for any random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def uuid4_texts(count: int) -> list[str]:
    """``count`` random version-4 UUIDs, from one system call."""
    h = os.urandom(16 * count).hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


def uuid4_text() -> str:
    """One random version-4 UUID."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
