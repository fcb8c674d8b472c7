"""Loaders that check the caller's jurisdiction (404 outside it), and the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from fupin_kit.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound
from fupin_registry.config import Settings
from fupin_registry.crosscheck.models import Flag
from fupin_registry.crosscheck.repository import CrosscheckRepository
from fupin_registry.crosscheck.service import CrosscheckService
from fupin_registry.households.service import HouseholdService
from fupin_registry.privacy import PrivacyDep
from fupin_registry.regions.directory import RegionsDep


async def load_flag(flag_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Flag:
    flag = await CrosscheckRepository(session).get_flag(flag_id)
    if flag is None:
        raise NotFound("flag not found")
    caller.require_region(flag.village_code, "flag")
    return flag


async def load_flag_for_update(flag_id: uuid.UUID, session: SessionDep, caller: CallerDep) -> Flag:
    """The flag, row-locked until the request's transaction ends (one review wins), its
    household locked first; nothing is locked for a caller outside its jurisdiction."""
    flag = await load_flag(flag_id, session, caller)
    locked = await CrosscheckRepository(session).lock_flag(flag.id)
    if locked is None:  # withdrawn meanwhile with its reference list's entry
        raise NotFound("flag not found")
    return locked


def get_service(
    request: Request, session: SessionDep, privacy: PrivacyDep, regions: RegionsDep
) -> CrosscheckService:
    settings: Settings = request.app.state.settings
    households = HouseholdService(session, privacy=privacy, regions=regions, settings=settings)
    return CrosscheckService(session, privacy, households)


FlagDep = Annotated[Flag, Depends(load_flag)]
FlagForUpdateDep = Annotated[Flag, Depends(load_flag_for_update)]
CrosscheckServiceDep = Annotated[CrosscheckService, Depends(get_service)]
