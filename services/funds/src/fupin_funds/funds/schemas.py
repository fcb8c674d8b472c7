from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fupin_events.values import Day, Money, RegionPrefix
from fupin_funds.common.money import PositiveMoney
from fupin_funds.common.vocabulary import FundSource


class FundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: RegionPrefix
    source: FundSource
    year: int = Field(ge=2000, le=2100)
    name: str = Field(min_length=1, max_length=200)
    amount: PositiveMoney = Field(description="first appropriation into the fund pool")
    on: Day | None = None


class AppropriationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    memo: str | None = Field(None, max_length=500)
    on: Day | None = None


class FundRead(BaseModel):
    id: str
    region_code: str
    source: str
    year: int
    name: str
    appropriated: Money = Field(
        description="appropriations and donations received, net of reversals"
    )
    pool_account_id: int | None = Field(
        description="the fund pool's ledger account (none only for a fund opened before its"
        " accounts were made at opening, until money first moves)"
    )
    pool_balance: Money = Field(description="what the region holds now, not yet allocated or spent")
