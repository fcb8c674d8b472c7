from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from fupin_events.values import MAX_MONEY, Day, Money, RegionPrefix, VillageCode
from fupin_funds.common.money import PositiveMoney
from fupin_funds.common.vocabulary import FundSource, KeyTask, MeasureType
from fupin_kit.free_text import refuse_personal_number

PROJECT_TYPES = sorted({t.value for t in KeyTask} | {m.value for m in MeasureType})
ProjectType = Annotated[
    str, Field(json_schema_extra={"enum": PROJECT_TYPES}, examples=["industry"])
]
HouseholdId = Annotated[str, Field(min_length=1, max_length=64)]
# A name said in words: spaces alone are not one.
# A project's name and implementing unit are published with its announcement and travel on its
# events: no phone, ID or account number in them.
Words = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=r"\S"),
    AfterValidator(refuse_personal_number),
]


class BudgetLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: FundSource
    amount: PositiveMoney


def _budget_in_range(lines: list[BudgetLine] | None) -> list[BudgetLine] | None:
    """The project's budget is one amount (its events carry it): in range as any amount is."""
    if lines is not None and sum(line.amount for line in lines) > MAX_MONEY:
        raise ValueError(f"the budget lines add up to more than {MAX_MONEY}")
    return lines


BudgetLines = Annotated[list[BudgetLine], AfterValidator(_budget_in_range)]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Words
    project_type: ProjectType
    year: int = Field(ge=2000, le=2100)
    region_code: RegionPrefix = Field(
        description="county, township or village the project belongs to"
    )
    village_codes: list[VillageCode] = Field(min_length=1, max_length=500)
    implementing_unit: Words
    description: str | None = Field(None, max_length=4000)
    budget: BudgetLines = Field(min_length=1, max_length=6)
    beneficiaries: list[HouseholdId] = Field(default_factory=list, max_length=5000)
    on: Day | None = None

    @field_validator("project_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PROJECT_TYPES:
            raise ValueError(f"unknown project type; one of {', '.join(PROJECT_TYPES)}")
        return value


class ProjectUpdate(BaseModel):
    """Changes while the project is still proposed (send If-Match)."""

    model_config = ConfigDict(extra="forbid")

    name: Words | None = None
    implementing_unit: Words | None = None
    description: str | None = Field(None, max_length=4000)
    village_codes: list[VillageCode] | None = Field(None, min_length=1, max_length=500)
    budget: BudgetLines | None = Field(None, min_length=1, max_length=6)
    beneficiaries: list[HouseholdId] | None = Field(None, max_length=5000)

    @field_validator("name", "implementing_unit")
    @classmethod
    def _kept(cls, value: str | None) -> str:
        # Left out, a field keeps its value; sent as null it would clear one a project needs.
        if value is None:
            raise ValueError("cannot be null: leave the field out to keep its value")
        return value


class ProjectTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: Day | None = None
    note: str | None = Field(
        None, max_length=2000, description="reason (reject) or evaluation text (evaluate)"
    )


class BudgetRead(BaseModel):
    source: str
    amount: Money
    funded: Money


class ProjectRead(BaseModel):
    id: str
    name: str
    project_type: str
    category: str
    year: int
    region_code: str
    village_codes: list[str]
    implementing_unit: str
    description: str | None
    status: str
    budget_total: Money
    budget: list[BudgetRead]
    funded: Money
    paid: Money
    beneficiaries: list[str]
    proposed_on: Day
    approved_on: Day | None
    approved_level: str | None
    announced_on: Day | None
    notice_ends_on: Day | None
    started_on: Day | None
    completed_on: Day | None
    accepted_on: Day | None
    evaluated_on: Day | None
    evaluation: str | None
    rejected_reason: str | None
    version: int


class ApprovalAuthorityRead(BaseModel):
    level: str
    max_budget: Money | None = Field(description="None: no limit")
    version: int


class ApprovalAuthorityUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_budget: PositiveMoney | None = Field(description="None: no limit")
