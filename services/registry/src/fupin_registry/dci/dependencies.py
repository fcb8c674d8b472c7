"""Dependencies of the DCI routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from fupin_kit.auth import Caller, CallerDep
from fupin_kit.problems import PreconditionFailed, PreconditionRequired, ProblemError
from fupin_registry.dci.runtime import DciRuntime
from fupin_registry.dci.service import require_partner_admin

IfMatch = Annotated[
    str | None, Header(alias="If-Match", max_length=100, description="the partner's ETag")
]


async def get_dci(request: Request) -> DciRuntime:
    runtime: DciRuntime | None = getattr(request.app.state, "dci", None)
    if runtime is None:
        raise ProblemError(
            "the DCI runtime was not started with the app",
            status=503,
            slug="dci-unavailable",
            title="The DCI API is not running",
        )
    return runtime


DciDep = Annotated[DciRuntime, Depends(get_dci)]


async def get_admin(caller: CallerDep) -> Caller:
    """Partner administration: a province-level admin (see ``require_partner_admin``)."""
    require_partner_admin(caller)
    return caller


AdminDep = Annotated[Caller, Depends(get_admin)]


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int:
    if if_match is None:
        raise PreconditionRequired("send If-Match with the ETag of the partner you read")
    value = if_match.strip()
    if value.startswith("W/"):
        raise PreconditionFailed("a weak ETag never matches: If-Match compares strongly")
    value = value.strip('"')
    if not value.isdigit() or len(value) > 9:
        raise PreconditionFailed("If-Match does not name a version of this partner")
    return int(value)
