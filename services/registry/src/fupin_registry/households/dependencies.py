"""Loaders that check jurisdiction (404 outside it), the service, and ETag preconditions."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from fupin_kit.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.etags import if_match_satisfied
from fupin_kit.problems import NotFound, PreconditionFailed, PreconditionRequired
from fupin_registry.config import Settings
from fupin_registry.households.models import Household
from fupin_registry.households.repository import HouseholdRepository
from fupin_registry.households.service import HouseholdService
from fupin_registry.privacy import PrivacyDep
from fupin_registry.regions.directory import RegionsDep

# Named by the loaders' 404s: on a member's, income's or plan's route the path's last
# parameter is another one.
HOUSEHOLD_IN_PATH = "#/path/household_id"


async def load_household(
    household_id: uuid.UUID, session: SessionDep, caller: CallerDep
) -> Household:
    household = await HouseholdRepository(session).get(household_id)
    if household is None:
        raise NotFound("household not found", pointer=HOUSEHOLD_IN_PATH)
    caller.require_region(household.village_code, "household", HOUSEHOLD_IN_PATH)
    return household


async def load_household_for_update(
    household_id: uuid.UUID, session: SessionDep, caller: CallerDep
) -> Household:
    """The household, row-locked until the request's transaction ends."""
    household = await HouseholdRepository(session).get(household_id, for_update=True)
    if household is None:
        raise NotFound("household not found", pointer=HOUSEHOLD_IN_PATH)
    caller.require_region(household.village_code, "household", HOUSEHOLD_IN_PATH)
    return household


HouseholdDep = Annotated[Household, Depends(load_household)]
HouseholdForUpdateDep = Annotated[Household, Depends(load_household_for_update)]


def get_household_service(
    request: Request, session: SessionDep, privacy: PrivacyDep, regions: RegionsDep
) -> HouseholdService:
    settings: Settings = request.app.state.settings
    return HouseholdService(session, privacy=privacy, regions=regions, settings=settings)


HouseholdServiceDep = Annotated[HouseholdService, Depends(get_household_service)]

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=64, description="the ETag of the household as last read"),
]


def etag(version: int) -> str:
    return f'"{version}"'


def set_answered_etag(response: JSONResponse, current_version: int | None = None) -> None:
    """The ETag of the version the answer shows. A replayed answer shows the object as the
    first run left it: sent back in If-Match, the current version's ETag would let a client
    overwrite changes it never saw, so a replay (or an answer whose object the caller does not
    hold, ``current_version`` None) carries the version of its body."""
    if current_version is not None and response.headers.get("Idempotent-Replayed") != "true":
        response.headers["ETag"] = etag(current_version)
        return
    answered = json.loads(bytes(response.body))
    version = answered.get("version") if isinstance(answered, dict) else None
    if isinstance(version, int):
        response.headers["ETag"] = etag(version)


def require_if_match(if_match: str | None, household: Household) -> None:
    """Optimistic concurrency: 428 without If-Match, 412 when the household has moved on."""
    if if_match is None:
        raise PreconditionRequired("send If-Match with the ETag from your last read")
    if not if_match_satisfied(if_match, etag(household.version)):
        raise PreconditionFailed(
            f"the household is at version {household.version}; read it again and retry"
        )
