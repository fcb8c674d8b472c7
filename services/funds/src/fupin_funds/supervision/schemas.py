from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fupin_events.values import Day, Money, RegionPrefix
from fupin_funds.common.money import PositiveMoney
from fupin_funds.common.vocabulary import FundSource
from fupin_kit.free_text import refuse_personal_number


class FindingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: RegionPrefix
    finding_type: Annotated[str, AfterValidator(refuse_personal_number)] = Field(
        min_length=1,
        max_length=100,
        examples=["misappropriation", "irregular_payment", "idle_funds", "false_claim"],
        description="on the finding's event: no phone, ID or account number in it",
    )
    amount: PositiveMoney | None = None
    source: FundSource | None = None
    responsible_unit: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    deadline: Day
    project_id: str | None = Field(None, max_length=64)
    on: Day | None = None


class RectificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rectification: str = Field(min_length=1, max_length=4000, description="what was corrected")
    on: Day | None = None


class RectificationReview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepted: bool
    note: str | None = Field(None, max_length=2000)
    on: Day | None = None


class FindingRead(BaseModel):
    id: str
    region_code: str
    finding_type: str
    amount: Money | None
    source: str | None
    responsible_unit: str
    description: str
    deadline: Day
    project_id: str | None
    status: str
    overdue: bool
    raised_on: Day
    rectification: str | None
    submitted_on: Day | None
    rectified_on: Day | None
    review_note: str | None


class AnomalyRead(BaseModel):
    id: str
    rule: str
    region_code: str
    source: str | None
    evidence: dict[str, Any]
    detected_on: Day
    status: str
    resolution: str | None
    resolved_on: Day | None


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: RegionPrefix | None = Field(None, description="default: the caller's jurisdiction")
    on: Day | None = None


class AnomalyResolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["confirmed", "dismissed"]
    resolution: str = Field(min_length=1, max_length=2000)
    on: Day | None = None


class ReportRow(BaseModel):
    region_code: str
    region_name: str | None
    source: str
    allocated: Money = Field(
        description="appropriations, donations and released allocations received"
    )
    disbursed: Money = Field(
        description="paid to projects' payees, households, banks (net of reversals)"
    )
    held: Money = Field(
        description="balance in fund pools, allocations in notice and project accounts"
    )
    idle: Money = Field(description="part of held that has not moved for the configured idle days")


class OversightRow(BaseModel):
    region_code: str
    region_name: str | None
    anomalies_open: int
    anomalies_total: int
    findings_total: int
    findings_open: int
    findings_rectified: int
    findings_overdue: int
    findings_amount: Money


class SupervisionReport(BaseModel):
    region_code: str
    year: int | None
    on: Day
    idle_days: int
    money: list[ReportRow]
    oversight: list[OversightRow]
