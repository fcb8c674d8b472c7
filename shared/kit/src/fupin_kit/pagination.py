"""Keyset (cursor) pagination: the cursor is the opaque, url-safe encoding of the last key."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
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


BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1

# What a cursor position holds: ``int`` (a signed 64-bit integer, e.g. a bigint key), ``str``
# (text), ``uuid.UUID``, ``date`` or ``datetime`` (ISO text, decoded into that type), or any
# callable that takes the decoded JSON value and returns the key value or raises ValueError.
CursorKind = type | Callable[[Any], Any]


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    if not BIGINT_MIN <= value <= BIGINT_MAX:
        raise ValueError("out of the 64-bit range")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("not text")
    value.encode()  # lone surrogates cannot be stored
    return value


def _iso(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def parser(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("not ISO text")
        return parse(value)

    return parser


def _moment(text: str) -> datetime:
    """An ISO timestamp that exists in UTC too, as the database compares it (9999-12-31
    23:00-05:00 is in the year 10000 there)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range") from None
    return value


PARSERS: dict[Any, Callable[[Any], Any]] = {
    int: _integer,
    str: _text,
    uuid.UUID: _iso(uuid.UUID),
    date: _iso(date.fromisoformat),
    datetime: _iso(_moment),
}


def decode_cursor(
    cursor: str | None, arity: int, kinds: Sequence[CursorKind] | None = None
) -> list[Any] | None:
    """The key values of a cursor, or None without one. With ``kinds`` (one per position), each
    value is checked and decoded as that kind, so a crafted cursor is a 422 on
    ``#/query/cursor`` rather than a value the query cannot take."""
    if cursor is None:
        return None
    if kinds is not None and len(kinds) != arity:
        raise ValueError("give one kind per cursor value")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable("#/query/cursor", "the cursor is not valid") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise Unprocessable("#/query/cursor", "the cursor is not valid")
    if any(not isinstance(v, str | int) or isinstance(v, bool) for v in values):
        raise Unprocessable("#/query/cursor", "the cursor is not valid")
    if kinds is None:
        return values
    try:
        return [PARSERS.get(kind, kind)(value) for kind, value in zip(kinds, values, strict=True)]
    except (ValueError, TypeError, OverflowError, UnicodeError) as exc:
        raise Unprocessable("#/query/cursor", "the cursor is not valid") from exc
