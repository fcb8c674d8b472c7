"""Events produced by the evaluation service (考核)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from fupin_events.envelope import EventData
from fupin_events.values import CountyCode, Percent, RegionPrefix


class CountyAssessed(EventData):
    assessment_id: str = Field(min_length=1, max_length=64)
    county_code: CountyCode
    year: int = Field(ge=2000, le=2100)
    score: Percent = Field(description="decimal string, 0-100, at most three decimals")
    grade: str = Field(min_length=1, max_length=32)
    gdp_excluded: bool
    published_on: date


class CountyExitApproved(EventData):
    county_code: CountyCode
    year: int = Field(ge=2000, le=2100)
    poverty_incidence: Percent = Field(description="decimal string, percent, 0-100")


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
