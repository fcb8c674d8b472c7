from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fupin_events.values import Day


class AnnouncementRead(BaseModel):
    id: str
    subject_type: str
    subject_id: str
    region_code: str
    title: str
    summary: str
    starts_on: Day
    ends_on: Day
    withdrawn_on: Day | None = Field(
        None, description="the day an upheld objection withdrew what was announced"
    )
    open_objections: int = 0
    resolved_objections: int = 0


class ObjectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000, description="what is objected to and why")
    contact: str | None = Field(
        None, min_length=1, max_length=200, description="optional; encrypted at rest"
    )
    # No business date: an anonymous filing is dated today, never into a notice already closed.


class ObjectionFiled(BaseModel):
    id: str
    announcement_id: str
    filed_on: Day
    status: str


class ObjectionRead(BaseModel):
    id: str
    announcement_id: str
    filed_on: Day
    text: str
    contact: str | None
    status: str
    outcome: str | None
    resolution: str | None
    resolved_by: str | None
    resolved_on: Day | None


class ObjectionResolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["upheld", "dismissed"] = Field(
        description="upheld withdraws the approval of the subject"
    )
    resolution: str = Field(min_length=1, max_length=2000, description="the recorded outcome")
    on: Day | None = None
