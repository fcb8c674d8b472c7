from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fupin_events.values import Day, Money, ResidentId
from fupin_funds.common.decimals import Rate
from fupin_funds.common.money import PositiveMoney
from fupin_funds.common.vocabulary import FundSource, LoanProduct


class LoanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bank_loan_ref: str = Field(
        min_length=1, max_length=64, description="the bank's own loan number"
    )
    borrower_id_number: ResidentId
    amount: PositiveMoney
    term_months: int = Field(ge=1, le=600)
    annual_rate: Decimal = Field(gt=0, le=1, decimal_places=6, description="e.g. 0.0435 for 4.35%")
    start_date: Day
    purpose: str = Field(min_length=1, max_length=500)
    product: LoanProduct = LoanProduct.MICROCREDIT


class RepaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    repaid_on: Day


class OverdueReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overdue_since: Day


class LoanStop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: Day | None = None
    note: str | None = Field(None, max_length=2000)


class SubsidyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period_start: Day
    period_end: Day = Field(description="exclusive")
    source: FundSource | None = Field(
        None, description="fund that pays (default from configuration)"
    )
    year: int | None = Field(
        None, ge=2000, le=2100, description="budget year (default: year of period_start)"
    )
    on: Day | None = None


class CompensationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney
    on: Day | None = None


class RiskDepositCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: FundSource
    year: int = Field(ge=2000, le=2100)
    amount: PositiveMoney
    on: Day | None = None


class LoanRead(BaseModel):
    id: str
    bank_id: str
    bank_loan_ref: str
    borrower_id_number: str | None = Field(description="masked unless pii:read")
    household_id: str
    region_code: str
    amount: Money
    outstanding: Money
    compensated: Money = Field(description="risk compensation paid to the bank so far")
    term_months: int
    annual_rate: Rate
    start_date: Day
    maturity_date: Day
    purpose: str
    product: str
    status: str
    overdue_since: Day | None
    subsidy_stopped_on: Day | None
    subsidy_paid_until: Day | None
    eligibility: dict[str, Any]


class SubsidyRead(BaseModel):
    id: str
    loan_id: str
    entry_id: str
    period_start: Day
    period_end: Day
    days: int
    amount: Money
    computation: dict[str, Any]
    reversed_on: Day | None = Field(
        None, description="set once the subsidy is reversed (its ledger entry's reversed_by)"
    )


class RiskFundRead(BaseModel):
    county_code: str
    account_id: int | None
    balance: Money
