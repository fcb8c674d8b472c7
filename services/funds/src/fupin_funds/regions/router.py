from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from fupin_funds.common.auth import CallerDep
from fupin_funds.regions.repository import RegionRepository
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound, problem_responses

router = APIRouter(prefix="/v1/regions", tags=["regions"])


class RegionRead(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    children: list[str] = []


@router.get("/{code}", responses=problem_responses(401, 404), summary="A division and its children")
async def read_region(code: str, session: SessionDep, caller: CallerDep) -> RegionRead:
    caller.require_region(code, "region")
    region = await RegionRepository(session).get(code)
    if region is None:
        raise NotFound("region not found")
    children = await RegionRepository(session).children(code)
    return RegionRead(
        code=region.code,
        name=region.name,
        level=region.level,
        parent_code=region.parent_code,
        children=[c.code for c in children],
    )
