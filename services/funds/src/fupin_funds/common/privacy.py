"""Personal data in the funds service: borrower ID numbers are kept only as an HMAC blind index
(the registry's key, so indexes match registry events) and an AES-GCM ciphertext; objection
contacts are encrypted too. Responses are masked unless the caller holds ``pii:read``."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from fupin_funds.config import Settings
from fupin_kit.auth import Caller
from fupin_kit.crypto import BlindIndex, FieldCipher, mask_id_number, parse_keyring
from fupin_kit.idempotency import seal_stored_responses

PII_READ_SCOPE = "pii:read"


@dataclass
class Privacy:
    settings: Settings

    @cached_property
    def cipher(self) -> FieldCipher:
        return FieldCipher(parse_keyring(self.settings.pii_keys))

    @cached_property
    def index(self) -> BlindIndex:
        return BlindIndex(base64.b64decode(self.settings.blind_index_key))

    def seal(self, value: str, field: str) -> bytes:
        return self.cipher.encrypt(value, field)

    def id_number(self, blob: bytes | None, caller: Caller) -> str | None:
        if blob is None:
            return None
        value = self.cipher.decrypt(blob, "borrower_id_number")
        return value if caller.has_scope(PII_READ_SCOPE) else mask_id_number(value)

    def contact(self, blob: bytes | None, caller: Caller) -> str | None:
        if blob is None:
            return None
        value = self.cipher.decrypt(blob, "objection_contact")
        if caller.has_scope(PII_READ_SCOPE):
            return value
        # A contact is free text (often a name and a phone): its first character and last two,
        # like a masked name beside a masked phone; a short one shows nothing.
        return value[:1] + "*" * (len(value) - 3) + value[-2:] if len(value) >= 8 else "****"


def privacy_of(settings: Settings, state: object) -> Privacy:
    privacy = getattr(state, "privacy", None)
    if privacy is None:
        privacy = Privacy(settings)
        state.privacy = privacy  # type: ignore[attr-defined]
    return privacy


async def get_privacy(request: Request) -> Privacy:
    return privacy_of(request.app.state.settings, request.app.state)


PrivacyDep = Annotated[Privacy, Depends(get_privacy)]


async def seal_idempotent_responses(app: FastAPI) -> None:
    """A loan's answer to a caller with ``pii:read`` holds the borrower's ID number in clear: every
    session of the app keeps the answers of idempotent commands sealed (``fupin_kit.idempotency``).
    """
    seal_stored_responses(app.state.sessionmaker, privacy_of(app.state.settings, app.state).cipher)
