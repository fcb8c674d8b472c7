"""Events produced by the teams service (驻村帮扶)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from fupin_events.envelope import EventData
from fupin_events.values import VillageCode


class TeamStationed(EventData):
    team_id: str
    village_code: VillageCode
    sending_unit: str
    leader_cadre_id: str
    starts_on: date
    ends_on: date


class TeamRotated(EventData):
    team_id: str
    village_code: VillageCode
    leader_cadre_id: str
    rotated_on: date


class TeamEnded(EventData):
    team_id: str
    village_code: VillageCode
    ended_on: date


class CadrePaired(EventData):
    """A responsible cadre (帮扶责任人) named for a household."""

    household_id: str
    village_code: VillageCode
    cadre_id: str
    cadre_display_name: str = Field(description="name as published on the household's card")
    paired_on: date


class VisitLogged(EventData):
    team_id: str
    visit_id: str
    household_id: str | None
    village_code: VillageCode
    visited_on: date


class TaskProgressed(EventData):
    team_id: str
    task_id: str
    village_code: VillageCode
    progress_percent: int = Field(ge=0, le=100)


class AssessmentCompleted(EventData):
    team_id: str
    village_code: VillageCode
    year: int = Field(ge=2000, le=2100)
    grade: str
