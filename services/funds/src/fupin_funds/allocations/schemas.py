from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fupin_events.values import Day, Money, RegionPrefix
from fupin_funds.common.decimals import FactorValueNumber, Share, Weight
from fupin_funds.common.money import PositiveMoney


class ManualLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: RegionPrefix
    amount: PositiveMoney


class AllocationCreate(BaseModel):
    """A proposal: by the factor formula plus the performance award (give ``total``), or manual
    (give ``lines``; they must add up to ``total`` when both are given)."""

    model_config = ConfigDict(extra="forbid")

    fund_id: str = Field(min_length=1, max_length=64)
    total: PositiveMoney | None = None
    award_share: Decimal | None = Field(
        None, ge=0, le=1, decimal_places=4, description="default from configuration"
    )
    children: list[RegionPrefix] | None = Field(
        None, min_length=1, max_length=500, description="default: all children"
    )
    lines: list[ManualLine] | None = Field(None, min_length=1, max_length=500)
    on: Day | None = None


class AllocationTransition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: Day | None = None
    note: str | None = Field(None, max_length=2000)


class AllocationLineRead(BaseModel):
    region_code: str
    region_name: str | None
    formula_amount: Money
    award_amount: Money
    amount: Money
    computation: dict[str, Any]


class AllocationRead(BaseModel):
    id: str
    fund_id: str
    parent_region: str
    source: str
    year: int
    mode: str
    status: str
    total: Money
    formula_pool: Money
    award_pool: Money
    award_share: Share
    proposed_on: Day
    approved_on: Day | None
    notice_ends_on: Day | None
    released_on: Day | None
    rejected_reason: str | None
    lines: list[AllocationLineRead]


class FactorRead(BaseModel):
    code: str
    name: str
    direction: str
    origin: str
    weight: Weight
    version: int


class FactorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    name: str = Field(min_length=1, max_length=200)
    direction: Literal["direct", "inverse"]
    # Numeric(9, 6): below 1000.
    weight: Decimal = Field(ge=0, le=Decimal("999.999999"), decimal_places=6)


class FactorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    direction: Literal["direct", "inverse"] | None = None
    weight: Decimal | None = Field(None, ge=0, le=Decimal("999.999999"), decimal_places=6)


class FactorValueItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region_code: RegionPrefix
    value: Decimal = Field(ge=0, lt=Decimal("100000000000000"), decimal_places=6)


class FactorValuesPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    values: list[FactorValueItem] = Field(min_length=1, max_length=5000)


class FactorValueRead(BaseModel):
    factor_code: str
    region_code: str
    year: int
    value: FactorValueNumber
