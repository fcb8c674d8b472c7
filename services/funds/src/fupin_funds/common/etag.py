"""ETag / If-Match optimistic concurrency for updates."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from fupin_kit.etags import if_match_satisfied
from fupin_kit.problems import PreconditionFailed, PreconditionRequired

IfMatch = Annotated[
    str | None, Header(alias="If-Match", max_length=100, description="the ETag of the version read")
]


def etag_of(kind: str, object_id: str, version: int) -> str:
    return f'"{kind}-{object_id}-{version}"'


def check_if_match(if_match: str | None, kind: str, object_id: str, version: int) -> None:
    if if_match is None:
        raise PreconditionRequired("send If-Match with the ETag you read")
    if not if_match_satisfied(if_match, etag_of(kind, object_id, version)):
        raise PreconditionFailed("the object was changed since you read it; read it again")
