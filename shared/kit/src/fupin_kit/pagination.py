"""Keyset (cursor) pagination: the cursor is the opaque, url-safe encoding of the last key."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from fupin_kit.problems import Unprocessable

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page")


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable("#/query/cursor", "the cursor is not valid") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise Unprocessable("#/query/cursor", "the cursor is not valid")
    if any(not isinstance(v, str | int) or isinstance(v, bool) for v in values):
        raise Unprocessable("#/query/cursor", "the cursor is not valid")
    return values
