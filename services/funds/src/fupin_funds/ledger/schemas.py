from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from fupin_events.values import Day, Money
from fupin_kit.free_text import refuse_personal_number


class AccountRead(BaseModel):
    id: int
    kind: str
    region_code: str
    source: str
    year: int
    ref_id: str
    normal_side: str
    balance: Money
    as_of: Day | None = None
    balance_as_of: Money | None = Field(
        None, description="sum of the account's postings booked up to as_of"
    )


class StatementLine(BaseModel):
    entry_id: str
    booked_on: Day
    kind: str
    side: str
    amount: Money
    running_balance: Money
    counter_account_id: int
    project_id: str | None
    household_id: str | None
    loan_id: str | None
    reverses_entry_id: str | None
    memo: str | None


class Statement(BaseModel):
    account: AccountRead
    opening_balance: Money
    closing_balance: Money
    lines: list[StatementLine]


class EntryRead(BaseModel):
    id: str
    kind: str
    booked_on: Day
    amount: Money
    debit_account_id: int
    credit_account_id: int
    debit_region: str
    credit_region: str
    source: str
    year: int
    project_id: str | None
    household_id: str | None
    loan_id: str | None
    allocation_id: str | None
    reverses_entry_id: str | None
    reversed_by: str | None = None
    memo: str | None
    actor: str


class ReversalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # On the ledger's reversal event: no phone, ID or account number in it.
    reason: Annotated[
        str, Field(min_length=1, max_length=1000), AfterValidator(refuse_personal_number)
    ]
    on: Day | None = None


class TrialBalance(BaseModel):
    jurisdiction: str
    entries: int
    debits: Money
    credits: Money
    balanced: bool
    mismatched_accounts: list[dict[str, str | int]] = Field(
        description="accounts whose stored balance differs from the sum of their postings"
        " (always empty)"
    )
