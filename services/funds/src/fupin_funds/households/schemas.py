from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class StatusPointRead(BaseModel):
    status: str
    effective_on: date


class HouseholdRead(BaseModel):
    household_id: str
    village_code: str
    status: str
    member_count: int
    registered_on: date | None
    exited_on: date | None
    removed_on: date | None
    history: list[StatusPointRead]
