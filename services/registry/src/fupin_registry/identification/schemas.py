"""Cases, steps, objections and exclusion rules as the API accepts and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fupin_events.values import Day
from fupin_registry.households.schemas import Phone
from fupin_registry.identification.domain import CaseKind, CaseState
from fupin_registry.vocabulary import BasicNeed

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
# Strict: a JSON integer only (not true, 5.0 or "5"), as a count of hands is.
Votes = Annotated[int, Field(ge=0, le=100_000, strict=True)]
OnDate = Annotated[
    Day | None,
    Field(description="business date of the step (Asia/Shanghai); defaults to today, never future"),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Input):
    """What the step rests on: meeting minutes, notice photos, documents (references only)."""

    documents: list[Annotated[str, StringConstraints(min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=20, examples=[["minutes/2016-03-01-appraisal.pdf"]]
    )
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class CaseCreate(_Input):
    kind: CaseKind
    household_id: uuid.UUID
    reason: Text | None = Field(None, description="required for removal and natural decrease")
    decrease_cause: Literal["death", "migration"] | None = Field(
        None, description="natural decrease only: the whole household died out or moved away"
    )
    on: OnDate = None
    evidence: Evidence = Field(default_factory=Evidence)


class AppraisalCreate(_Input):
    """村民主评议: the votes of the village democratic appraisal."""

    votes_for: Votes
    votes_against: Votes
    votes_abstain: Votes = 0
    basic_needs: dict[BasicNeed, bool] = Field(
        default_factory=dict,
        description="exit cases: 两不愁三保障 confirmed at the appraisal",
        examples=[
            {
                "food": True,
                "clothing": True,
                "compulsory_education": True,
                "basic_medical_care": True,
                "housing_safety": True,
            }
        ],
    )
    on: OnDate = None
    evidence: Evidence = Field(default_factory=Evidence)


class NoticeCompletion(_Input):
    on: OnDate = None
    evidence: Evidence = Field(default_factory=Evidence)


class ReviewCreate(_Input):
    decision: Literal["approve", "reject"]
    reason: Text | None = Field(None, description="required when rejecting")
    on: OnDate = None
    evidence: Evidence = Field(default_factory=Evidence)


class ApprovalCreate(ReviewCreate):
    quota_override_reason: Text | None = Field(
        None, description="approve beyond the quota (roles quota_override or admin); audited"
    )


class ObjectionCreate(_Input):
    content: Text
    contact: Phone | None = Field(None, description="phone of the objector (personal data)")
    on: OnDate = None


class ObjectionResolution(_Input):
    outcome: Literal["upheld", "dismissed"]
    resolution: Text
    on: OnDate = None


class CaseStepRead(BaseModel):
    step: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    effective_on: Day | None
    evidence: dict[str, Any]


class ObjectionRead(BaseModel):
    id: uuid.UUID
    content: str
    contact: str | None = Field(description="masked unless the caller holds pii:read")
    status: str = Field(
        description="open, upheld, dismissed, or closed (still open when another one, upheld,"
        " rejected the case)"
    )
    resolution: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    raised_at: datetime


class CaseSummary(BaseModel):
    id: uuid.UUID
    kind: CaseKind
    household_id: uuid.UUID
    village_code: str
    state: CaseState
    suspended: bool
    year: int
    opened_on: Day
    notice_ends_on: Day | None
    version: int


class CaseRead(CaseSummary):
    reason: str | None
    notice_started_on: Day | None
    last_step_on: Day | None
    rejection_reason: str | None
    quota_override_reason: str | None
    steps: list[CaseStepRead]
    objections: list[ObjectionRead]
    warnings: list[str] = Field(
        default_factory=list,
        description="flags in force (open or confirmed) of kinds that warn but do not block",
    )


class ExclusionRuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    effect: Literal["block", "flag"]
    description: str
    updated_by: str


class ExclusionRuleUpdate(_Input):
    effect: Literal["block", "flag"]
    description: Text
