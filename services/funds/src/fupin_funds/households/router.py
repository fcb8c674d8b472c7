from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from fupin_funds.common.auth import CallerDep
from fupin_funds.households.repository import HouseholdRepository
from fupin_funds.households.schemas import HouseholdRead, StatusPointRead
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound, problem_responses

router = APIRouter(prefix="/v1/households", tags=["registry read model"])


@router.get(
    "/{household_id}",
    responses=problem_responses(401, 404),
    summary="What the funds service knows of a household (from registry events)",
)
async def read_household(
    household_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    caller: CallerDep,
) -> HouseholdRead:
    repository = HouseholdRepository(session)
    household = await repository.get(household_id)
    if household is None:
        raise NotFound("household not found")
    caller.require_region(household.village_code, "household")
    history = await repository.history(household_id)
    return HouseholdRead(
        household_id=household.household_id,
        village_code=household.village_code,
        status=household.status,
        member_count=household.member_count,
        registered_on=household.registered_on,
        exited_on=household.exited_on,
        removed_on=household.removed_on,
        history=[StatusPointRead(status=h.status, effective_on=h.effective_on) for h in history],
    )
