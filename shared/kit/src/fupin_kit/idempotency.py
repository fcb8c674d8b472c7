"""``Idempotency-Key`` for commands that create or move money or status.

The key is reserved in the same transaction as the command's effect: a concurrent retry blocks
on the key (``fupin_kit.db.hold_key``, taken by the request's session before anything is
loaded) until the first attempt commits, then replays its stored response. A key reused
with a different request body answers 422. If the command fails, the reservation rolls back
with it, so a retry runs the command again. A key reused on another method or path answers 422
as well (it names one request). A key reused by the same client with another
jurisdiction, role or scope answers 422 too: the stored answer was shaped for the first access.

A service whose answers may carry personal data in clear gives its sessions a
``ResponseSealer`` (``session.info[RESPONSE_SEALER]``): the stored answer is then kept sealed
and opened only to replay it, so every route that runs a command idempotently gets it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic_core import to_jsonable_python
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.audit import audit_keys
from fupin_kit.auth import Caller
from fupin_kit.crypto import FieldCipher
from fupin_kit.db import KEY_PATTERN
from fupin_kit.middleware import REQUEST_LINE
from fupin_kit.models import IdempotencyRecord
from fupin_kit.problems import Unprocessable

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Retrying a command with the same key has exactly one effect.",
    ),
]


REUSED_KEY = (
    "this Idempotency-Key was already used with a different request, or by this client"
    " with another jurisdiction, role or scope"
)


def checked_key(value: str | None) -> str | None:
    """An ``Idempotency-Key`` header read outside FastAPI's parameter validation."""
    if value is None:
        return None
    if not KEY_PATTERN.match(value):
        raise Unprocessable(
            "#/header/Idempotency-Key", "1 to 200 printable ASCII characters, no spaces"
        )
    return value


# The key of a session's ``info`` under which a service puts its ``ResponseSealer``.
RESPONSE_SEALER = "fupin.idempotency.response_sealer"


class ResponseSealer(Protocol):
    def seal(self, body: Any) -> Any:
        """What to store for a JSON-ready answer (itself JSON-ready)."""

    def open(self, stored: Any) -> Any:
        """The answer again, from what ``seal`` stored (or from an answer stored unsealed)."""


# What a stored answer looks like once sealed, and the additional data of its seal (so a sealed
# answer cannot pass for a sealed personal field).
SEALED_KEY = "sealed"
SEALED_RESPONSE_FIELD = "idempotent_response"


@dataclass(frozen=True)
class SealedResponses:
    """A ``ResponseSealer`` encrypting the stored answer with the service's personal-data cipher
    (AES-GCM, key id inside: rotation works as for the personal fields)."""

    cipher: FieldCipher

    def seal(self, body: Any) -> dict[str, str]:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        blob = self.cipher.encrypt(text, SEALED_RESPONSE_FIELD)
        return {SEALED_KEY: base64.b64encode(blob).decode("ascii")}

    def open(self, stored: Any) -> Any:
        if isinstance(stored, dict) and stored.keys() == {SEALED_KEY}:
            blob = base64.b64decode(stored[SEALED_KEY])
            return json.loads(self.cipher.decrypt(blob, SEALED_RESPONSE_FIELD))
        return stored  # stored before answers were sealed


def seal_stored_responses(sessionmaker: Any, cipher: FieldCipher) -> None:
    """Give every session of ``sessionmaker`` the sealer: no idempotent route can forget it."""
    sessionmaker.configure(info={RESPONSE_SEALER: SealedResponses(cipher)})


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int | None
    response: Any


async def stored_response(session: AsyncSession, *, caller: str, key: str) -> StoredResponse | None:
    """What the first request with (caller, key) answered, once it has committed."""
    row = (
        await session.execute(
            select(
                IdempotencyRecord.request_hash,
                IdempotencyRecord.status_code,
                IdempotencyRecord.response,
            ).where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
        )
    ).first()
    return None if row is None else StoredResponse(*row)


async def stored_response_on(connection: Any, *, caller: str, key: str) -> StoredResponse | None:
    """``stored_response`` on a plain asyncpg connection (``fupin_kit.db.DriverConnections``)."""
    row = await connection.fetchrow(
        "SELECT request_hash, status_code, response::text FROM idempotency_keys"
        " WHERE caller = $1 AND key = $2",
        caller,
        key,
    )
    if row is None:
        return None
    return StoredResponse(row[0], row[1], None if row[2] is None else json.loads(row[2]))


class Fingerprint(str):
    """A request's digest, which can also give the digests the same request had before (under
    the audit keys that no longer sign, as plain SHA-256, and before that without the method and
    path: ``legacy``), so a key stored then still replays its answer. Those are computed only
    when a stored key is compared and differs: never on a first request."""

    _parts: list[Any]
    _legacy_parts: list[Any]

    def __new__(cls, parts: list[Any], legacy_parts: list[Any]) -> Fingerprint:
        made = super().__new__(cls, _digest(parts))
        made._parts = parts
        made._legacy_parts = legacy_parts
        return made

    @property
    def legacy(self) -> list[str]:
        keys = audit_keys()
        earlier = [_digest(self._parts, key_id=k) for k in keys.keys if k != keys.signing]
        return [
            *earlier,
            _digest(self._parts, keyed=False),
            _digest(self._legacy_parts, keyed=False),
        ]


def same_request(stored_hash: str, request_fingerprint: str) -> bool:
    """Whether a stored key's request digest is this request's (or, for a key stored before
    digests were keyed or named the method and path, its digest of then)."""
    if stored_hash == request_fingerprint:
        return True
    return (
        isinstance(request_fingerprint, Fingerprint) and stored_hash in request_fingerprint.legacy
    )


def _digest(parts: list[Any], *, keyed: bool = True, key_id: str | None = None) -> str:
    """HMAC-SHA256 of the parts under a key kept outside the database: a request body may carry
    personal data (a borrower's ID number), and a plain hash of it, stored with the key, could be
    reversed by trying the few billion ID numbers there are."""
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    if not keyed:
        return hashlib.sha256(encoded).hexdigest()
    key = audit_keys().derived(FINGERPRINT_PURPOSE, key_id)
    return hmac.new(key, encoded, hashlib.sha256).hexdigest()


FINGERPRINT_PURPOSE = "idempotency-fingerprint"


def fingerprint(payload: Any, caller: Caller) -> str:
    """A digest of a request (models, lists, dicts and plain values), of the method and path it
    was sent to and of the access it is sent with (jurisdiction, roles, scopes), for comparing
    retries: a key first used to approve is not replayed for a rejection, and the same client's
    token of another jurisdiction or without ``pii:read`` never gets an answer stored for
    another."""
    access = [caller.jurisdiction, sorted(caller.roles), sorted(caller.scopes)]
    body = to_jsonable_python(payload)
    return Fingerprint([body, access, REQUEST_LINE.get()], legacy_parts=[body, access])


async def run_idempotent(
    session: AsyncSession,
    *,
    caller: str,
    key: str | None,
    request_fingerprint: str,
    command: Callable[[], Awaitable[Any]],
    status_code: int = 201,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Run ``command`` once per (caller, key); later calls replay the first response."""
    if key is None:
        body = jsonable_encoder(await command())
        return JSONResponse(body, status_code=status_code, headers=headers)
    reserved = await session.execute(
        insert(IdempotencyRecord)
        .values(caller=caller, key=key, request_hash=request_fingerprint)
        .on_conflict_do_nothing(index_elements=["caller", "key"])
        .returning(text("1"))
    )
    if reserved.first() is None:
        stored = await stored_response(session, caller=caller, key=key)
        if stored is None or not same_request(stored.request_hash, request_fingerprint):
            raise Unprocessable(
                "#/header/Idempotency-Key",
                REUSED_KEY,
            )
        sealer: ResponseSealer | None = session.info.get(RESPONSE_SEALER)
        replayed = stored.response
        if sealer is not None and replayed is not None:
            replayed = sealer.open(replayed)
        return JSONResponse(
            replayed,
            status_code=stored.status_code or status_code,
            headers={**(headers or {}), "Idempotent-Replayed": "true"},
        )
    body = jsonable_encoder(await command())
    sealer = session.info.get(RESPONSE_SEALER)
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
        .values(status_code=status_code, response=body if sealer is None else sealer.seal(body))
    )
    return JSONResponse(body, status_code=status_code, headers=headers)
