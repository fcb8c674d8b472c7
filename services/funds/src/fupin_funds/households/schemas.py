from __future__ import annotations

from pydantic import BaseModel

from fupin_events.values import Day


class StatusPointRead(BaseModel):
    status: str
    effective_on: Day


class HouseholdRead(BaseModel):
    household_id: str
    village_code: str
    status: str
    member_count: int
    registered_on: Day | None
    exited_on: Day | None
    removed_on: Day | None
    history: list[StatusPointRead]
