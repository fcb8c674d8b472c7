"""Events produced by the teams service (驻村帮扶)."""

from __future__ import annotations

from datetime import date
from typing import Self

from pydantic import Field, model_validator

from fupin_events.envelope import EventData
from fupin_events.values import VillageCode


class TeamStationed(EventData):
    team_id: str = Field(min_length=1, max_length=64)
    village_code: VillageCode
    sending_unit: str = Field(min_length=1, max_length=200)
    leader_cadre_id: str = Field(min_length=1, max_length=64)
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class TeamRotated(EventData):
    team_id: str = Field(min_length=1, max_length=64)
    village_code: VillageCode
    leader_cadre_id: str = Field(min_length=1, max_length=64)
    rotated_on: date


class TeamEnded(EventData):
    team_id: str = Field(min_length=1, max_length=64)
    village_code: VillageCode
    ended_on: date


class CadrePaired(EventData):
    """A responsible cadre (帮扶责任人) named for a household."""

    household_id: str = Field(min_length=1, max_length=64)
    village_code: VillageCode
    cadre_id: str = Field(min_length=1, max_length=64)
    cadre_display_name: str = Field(
        min_length=1, max_length=64, description="name as published on the household's card"
    )
    paired_on: date


class VisitLogged(EventData):
    team_id: str = Field(min_length=1, max_length=64)
    visit_id: str = Field(min_length=1, max_length=64)
    household_id: str | None = Field(min_length=1, max_length=64)
    village_code: VillageCode
    visited_on: date


class TaskProgressed(EventData):
    team_id: str = Field(min_length=1, max_length=64)
    task_id: str = Field(min_length=1, max_length=64)
    village_code: VillageCode
    progress_percent: int = Field(ge=0, le=100)


class AssessmentCompleted(EventData):
    team_id: str = Field(min_length=1, max_length=64)
    village_code: VillageCode
    year: int = Field(ge=2000, le=2100)
    grade: str = Field(min_length=1, max_length=32)
