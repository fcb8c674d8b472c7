"""``Idempotency-Key`` for commands that create or move money or status.

The key is reserved in the same transaction as the command's effect: a concurrent retry blocks
on the key's row until the first attempt commits, then replays its stored response. A key reused
with a different request body answers 422. If the command fails, the reservation rolls back
with it, so a retry runs the command again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic_core import to_jsonable_python
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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


KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")


def checked_key(value: str | None) -> str | None:
    """An ``Idempotency-Key`` header read outside FastAPI's parameter validation."""
    if value is None:
        return None
    if not KEY_PATTERN.match(value):
        raise Unprocessable(
            "#/header/Idempotency-Key", "1 to 200 printable ASCII characters, no spaces"
        )
    return value


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


def fingerprint(payload: Any) -> str:
    """A digest of a request (models, lists, dicts and plain values) for comparing retries."""
    encoded = json.dumps(to_jsonable_python(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


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
        if stored is None or stored.request_hash != request_fingerprint:
            raise Unprocessable(
                "#/header/Idempotency-Key",
                "this Idempotency-Key was already used with a different request",
            )
        return JSONResponse(
            stored.response,
            status_code=stored.status_code or status_code,
            headers={**(headers or {}), "Idempotent-Replayed": "true"},
        )
    body = jsonable_encoder(await command())
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
        .values(status_code=status_code, response=body)
    )
    return JSONResponse(body, status_code=status_code, headers=headers)
