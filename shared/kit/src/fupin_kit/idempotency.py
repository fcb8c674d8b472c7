"""``Idempotency-Key`` for commands that create or move money or status.

The key is reserved in the same transaction as the command's effect: a concurrent retry blocks
on the key's row until the first attempt commits, then replays its stored response. A key reused
with a different request body answers 422. If the command fails, the reservation rolls back
with it, so a retry runs the command again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
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


def fingerprint(payload: Any) -> str:
    encoded = json.dumps(jsonable_encoder(payload), sort_keys=True, separators=(",", ":"))
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
        stored = (
            await session.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.caller == caller, IdempotencyRecord.key == key
                )
            )
        ).scalar_one()
        if stored.request_hash != request_fingerprint:
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
