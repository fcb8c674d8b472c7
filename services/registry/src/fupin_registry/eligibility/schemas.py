"""Requests and answers of the bank eligibility API: an ID number in, yes/no and a reason out."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

from fupin_events.values import Day, ResidentId


class LoanPurpose(StrEnum):
    SUBSIDISED_LOAN = "subsidised_loan"  # 扶贫贴息贷款
    MICROCREDIT = "microcredit"  # 扶贫小额信贷
    FOUR_RIGHTS_MORTGAGE = "four_rights_mortgage"  # 四权抵押贷款
    LAND_INCOME_GUARANTEE = "land_income_guarantee"  # 土地收益保证贷款
    DIRECT_SUBSIDY_GUARANTEE = "direct_subsidy_guarantee"  # 直补资金担保贷款


class ReasonCode(StrEnum):
    ELIGIBLE = "eligible"
    NOT_FOUND = "not_found"  # no such member, or outside the bank's jurisdiction
    NOT_REGISTERED = "not_registered"  # the household is not (yet) a registered poor household
    MEMBER_INACTIVE = "member_inactive"  # the person has left the household
    REMOVED = "removed"  # 清退
    NATURAL_DECREASE = "natural_decrease"  # 自然减少
    EXITED_BEYOND_TRANSITION = "exited_beyond_transition"
    AGE_OUT_OF_RANGE = "age_out_of_range"


# Printable ASCII, spaces inside it allowed: stored in the audit record exactly as sent (never
# trimmed, so the record holds the bank's own reference), hence no space at either end.
ConsentReference = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=128, pattern=r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"
    ),
]


class EligibilityCheckCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id_number": "220622198001011237",
                    "purpose": "subsidised_loan",
                    "consent_reference": "CONSENT-2020-000123",
                }
            ]
        },
    )

    id_number: ResidentId
    purpose: LoanPurpose
    consent_reference: ConsentReference = Field(
        description="the bank's reference of the borrower's signed consent (printable ASCII)"
    )


class EligibilityCheckRead(BaseModel):
    """The whole answer: no name, no household, no other personal data."""

    decision_id: uuid.UUID
    eligible: bool
    reason_code: ReasonCode
    valid_until: Day = Field(description="business date until which the answer may be relied on")


class EligibilityBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The configured limit (eligibility_batch_max) comes in the validation context and is
    # checked before any item is; this bound holds without one.
    items: list[EligibilityCheckCreate] = Field(
        min_length=1,
        max_length=10000,
        description="at most `eligibility_batch_max` items (default 1,000)",
    )

    @field_validator("items", mode="wrap")
    @classmethod
    def _at_most_batch_max(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        limit = (info.context or {}).get("batch_max")
        if limit is not None and isinstance(value, list) and len(value) > limit:
            raise PydanticCustomError(
                "too_long", "a batch holds at most {limit} items", {"limit": limit}
            )
        return handler(value)


class EligibilityBatchRead(BaseModel):
    items: list[EligibilityCheckRead] = Field(description="one answer per item, in request order")
