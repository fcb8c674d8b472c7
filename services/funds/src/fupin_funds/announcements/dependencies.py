from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from fupin_funds.announcements.models import Announcement, Objection
from fupin_funds.announcements.repository import AnnouncementRepository
from fupin_funds.common.auth import CallerDep
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound

IdPath = Annotated[str, Path(min_length=1, max_length=64)]


async def load_public_announcement(announcement_id: IdPath, session: SessionDep) -> Announcement:
    announcement = await AnnouncementRepository(session).get(announcement_id)
    if announcement is None:
        raise NotFound("announcement not found")
    return announcement


async def load_announcement(
    announcement_id: IdPath, session: SessionDep, caller: CallerDep
) -> Announcement:
    announcement = await load_public_announcement(announcement_id, session)
    caller.require_region(announcement.region_code, "announcement")
    return announcement


async def load_objection(objection_id: IdPath, session: SessionDep, caller: CallerDep) -> Objection:
    repository = AnnouncementRepository(session)
    found = await repository.objection(objection_id)
    if found is None:
        raise NotFound("objection not found")
    # The notice first, then the objection: the order every filing and resolution keeps.
    announcement = await repository.get(found.announcement_id, lock=True)
    assert announcement is not None
    caller.require_region(announcement.region_code, "objection")
    objection = await repository.objection(objection_id, lock=True)
    assert objection is not None
    return objection


PublicAnnouncementDep = Annotated[Announcement, Depends(load_public_announcement)]
AnnouncementDep = Annotated[Announcement, Depends(load_announcement)]
ObjectionDep = Annotated[Objection, Depends(load_objection)]
