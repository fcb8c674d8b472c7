"""Events produced by the evaluation service (考核)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from fupin_events.envelope import EventData
from fupin_events.values import RegionPrefix


class CountyAssessed(EventData):
    assessment_id: str
    county_code: RegionPrefix
    year: int = Field(ge=2000, le=2100)
    score: str = Field(description="decimal string, 0-100")
    grade: str
    gdp_excluded: bool
    published_on: date


class CountyExitApproved(EventData):
    county_code: RegionPrefix
    year: int = Field(ge=2000, le=2100)
    poverty_incidence: str = Field(description="decimal string, percent")


class ReportSubmitted(EventData):
    report_id: str
    region_code: RegionPrefix
    kind: str
    period: str
    submitted_on: date


class ReportOverdue(EventData):
    report_id: str
    region_code: RegionPrefix
    kind: str
    period: str
    due_on: date
