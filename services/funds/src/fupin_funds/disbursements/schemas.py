from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fupin_events.values import Day, Money
from fupin_funds.common.money import PositiveMoney
from fupin_funds.common.vocabulary import FundSource

HOUSEHOLD_ID = Field(min_length=1, max_length=64)


class ProjectFundingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: FundSource
    amount: PositiveMoney
    year: int | None = Field(
        None, ge=2000, le=2100, description="budget year of the pool (default: the project's)"
    )
    pool_region: str | None = Field(
        None,
        pattern=r"^[0-9]{2,12}$",
        description="region whose fund pool pays (default: the project's county)",
    )
    memo: str | None = Field(None, max_length=500)
    on: Day | None = None


class ProjectPaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    household_id: str | None = Field(
        None, min_length=1, max_length=64, description="a beneficiary household"
    )
    payee: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = Field(None, description="implementing unit or supplier (blank is refused)")
    memo: str | None = Field(None, max_length=500)
    on: Day | None = None


class DirectSubsidyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: str = HOUSEHOLD_ID
    source: FundSource
    year: int = Field(ge=2000, le=2100)
    amount: PositiveMoney
    purpose: str = Field(min_length=1, max_length=200)
    pool_region: str | None = Field(
        None, pattern=r"^[0-9]{2,12}$", description="default: the household's county"
    )
    on: Day | None = None


class DisbursementRead(BaseModel):
    entry_id: str
    kind: str
    amount: Money
    from_account_id: int
    to_account_id: int
    booked_on: Day
    project_id: str | None = None
    household_id: str | None = None
