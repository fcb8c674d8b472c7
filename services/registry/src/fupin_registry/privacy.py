"""Personal data in the registry: encryption at rest, blind indexes, masking and audited reads.

Every personal field (ID number, name, phone, bank account) is stored encrypted; lookups go
through the HMAC blind index; responses are masked unless the caller holds ``pii:read``, and each
unmasked read is appended to the audit chain in the same transaction. The answers of
idempotent commands, kept for replays, are stored sealed with the same keys.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.audit import AuditRecord, AuditTrail
from fupin_kit.auth import Caller
from fupin_kit.crypto import (
    BlindIndex,
    FieldCipher,
    mask_account,
    mask_id_number,
    mask_name,
    mask_phone,
    parse_keyring,
)
from fupin_kit.idempotency import seal_stored_responses
from fupin_registry.config import Settings

PII_READ_SCOPE = "pii:read"
MASKS = {
    "id_number": mask_id_number,
    "name": mask_name,
    "phone": mask_phone,
    "bank_account": mask_account,
}


@dataclass
class Privacy:
    settings: Settings

    @cached_property
    def cipher(self) -> FieldCipher:
        return FieldCipher(parse_keyring(self.settings.pii_keys))

    @cached_property
    def index(self) -> BlindIndex:
        return BlindIndex(base64.b64decode(self.settings.blind_index_key))

    def seal(self, value: str | None, field: str) -> bytes | None:
        return None if value is None else self.cipher.encrypt(value, field)

    def open(self, blob: bytes | None, field: str) -> str | None:
        return None if blob is None else self.cipher.decrypt(blob, field)

    def reveal(self, blob: bytes | None, field: str, caller: Caller) -> str | None:
        """Decrypt and mask unless the caller may read personal data in clear."""
        value = self.open(blob, field)
        if value is None or caller.has_scope(PII_READ_SCOPE):
            return value
        return MASKS[field](value)


def get_privacy_of(app: FastAPI) -> Privacy:
    privacy = getattr(app.state, "privacy", None)
    if privacy is None:
        privacy = app.state.privacy = Privacy(app.state.settings)
    return privacy


def get_privacy(request: Request) -> Privacy:
    return get_privacy_of(request.app)


PrivacyDep = Annotated[Privacy, Depends(get_privacy)]


async def audit_unmasked_read(
    session: AsyncSession, caller: Caller, object_type: str, object_id: str, fields: list[str]
) -> None:
    """Record that ``caller`` read personal fields in clear (only when it actually did)."""
    if caller.has_scope(PII_READ_SCOPE) and fields:
        await AuditTrail(session).append(
            AuditRecord(
                caller.actor,
                "pii.read_unmasked",
                object_type,
                object_id,
                {"fields": sorted(fields)},
            )
        )


async def seal_idempotent_responses(app: FastAPI) -> None:
    """Every session of the app seals the answers it keeps for ``Idempotency-Key`` replays."""
    seal_stored_responses(app.state.sessionmaker, get_privacy_of(app).cipher)
