"""funds settings: environment variables prefixed FUNDS_.

Policy numbers are configuration with documented defaults (docs/configuration.md). Reference
data that officers edit at run time (allocation factors and weights, approval authority by
level) lives in tables instead, seeded by migrations with the defaults named there.
"""

from __future__ import annotations

import base64
from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from fupin_kit.settings import ServiceSettings

# Dev-only key material, refused in prod; deployments set FUNDS_PII_KEYS and
# FUNDS_BLIND_INDEX_KEY from a secret store. The blind-index key must equal the registry's so that
# the member indexes in registry events match the borrower indexes computed here.
_DEV_PII_KEYS = "dev:" + base64.b64encode(b"fupin-dev-funds-pii-key-not-prod").decode()
_DEV_BLIND_INDEX_KEY = base64.b64encode(b"fupin-dev-blind-index-key-not-prod").decode()


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDS_", extra="ignore")

    service_name: str = "funds"
    port: int = 8102
    database_url: str = "postgresql+asyncpg://funds:funds@127.0.0.1:5432/funds"

    # --- personal data protection ---
    pii_keys: str = Field(_DEV_PII_KEYS, description="'id:base64,...'; the first key encrypts")
    blind_index_key: str = Field(
        _DEV_BLIND_INDEX_KEY, description="base64, >= 32 bytes; same as the registry's"
    )

    # --- business dates ---
    allow_business_date_override: bool = Field(
        True,
        description="commands accept an explicit `on` business date"
        " (tests, back-office corrections);"
        " always refused in prod",
    )

    # --- allocation (以奖代补) ---
    performance_award_share: Decimal = Field(
        Decimal("0.20"),
        ge=0,
        le=1,
        description="share of an allocation distributed by county assessments",
    )

    # --- public announcement (公告公示) ---
    notice_days: int = Field(
        7, ge=1, le=90, description="notice period of approved projects and allocations, days"
    )
    objection_rate_limit: int = Field(
        5, ge=1, le=10_000, description="objections per client IP per window"
    )
    objection_rate_window_minutes: int = Field(60, ge=1, le=10_080)

    # --- supervision ---
    exit_transition_months: int = Field(
        36,
        ge=0,
        le=240,
        description="months after exit during which a household may still be paid or borrow",
    )
    idle_days: int = Field(
        180, ge=1, le=3650, description="a positive balance unmoved this long is idle money"
    )

    # --- subsidised loans (贴息贷款) ---
    loan_max_amount: Decimal = Field(
        Decimal("50000"), gt=0, description="largest subsidised loan, yuan"
    )
    loan_household_max_amount: Decimal = Field(
        Decimal("50000"),
        gt=0,
        description="most a household may owe on its running subsidised loans together, yuan",
    )
    loan_max_term_months: int = Field(36, ge=1, le=600)
    borrower_min_age: int = Field(18, ge=0, le=120)
    borrower_max_age: int = Field(60, ge=0, le=120)
    loan_max_annual_rate: Decimal = Field(
        Decimal("0.24"), gt=0, le=1, description="refuse rates above this"
    )
    loan_subsidy_share: Decimal = Field(
        Decimal("1.00"), gt=0, le=1, description="share of the interest paid by the fund"
    )
    loan_subsidy_days_in_year: int = Field(
        365, ge=360, le=366, description="day-count denominator (actual/365 fixed)"
    )
    loan_subsidy_source: str = Field(
        "central", description="fund source that pays interest subsidies by default"
    )

    # --- money commands ---
    money_command_concurrency: int = Field(
        32, ge=1, le=1000, description="money-moving commands in flight per process (bulkhead)"
    )
    ledger_batch_size: int = Field(
        64, ge=1, le=1000, description="most project payments posted by one group-commit statement"
    )
    ledger_batch_flushers: int = Field(
        1, ge=1, le=16, description="group-commit statements in flight per process"
    )

    # --- exports ---
    export_max_rows: int = Field(100_000, ge=1, le=1_000_000)

    def model_post_init(self, __context: object) -> None:
        if self.environment == "prod":
            if self.pii_keys == _DEV_PII_KEYS or self.blind_index_key == _DEV_BLIND_INDEX_KEY:
                raise ValueError("FUNDS_PII_KEYS and FUNDS_BLIND_INDEX_KEY must be set in prod")
            self.allow_business_date_override = False
