"""Registry settings: environment variables prefixed REGISTRY_.

Policy numbers are configuration with documented defaults (see docs/configuration.md); each
domain keeps its own block below.
"""

from __future__ import annotations

import base64
import os
from decimal import Decimal
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from fupin_kit.settings import ServiceSettings

# Dev-only key material, refused in prod by ``_keys_outside_dev``; real deployments set
# REGISTRY_PII_KEYS and REGISTRY_BLIND_INDEX_KEY from a secret store.
_DEV_PII_KEYS = "dev:" + base64.b64encode(b"fupin-dev-pii-key-not-for-prod!!").decode()
_DEV_BLIND_INDEX_KEY = base64.b64encode(b"fupin-dev-blind-index-key-not-prod").decode()


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, which ``taskset`` and container cpusets set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity
        return os.cpu_count() or 1


def default_import_workers() -> int:
    """Half the CPUs parse: the other half is for the merge's PostgreSQL backends and the API."""
    return max(1, min(8, available_cpus() // 2))


def default_import_merge_connections() -> int:
    """A third of the CPUs merge (at least two: one chunk classifies while one commits)."""
    return max(2, min(16, (available_cpus() + 1) // 3))


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    service_name: str = "registry"
    port: int = 8101
    database_url: str = "postgresql+asyncpg://registry:registry@127.0.0.1:5432/registry"

    # --- personal data protection ---
    pii_keys: str = Field(_DEV_PII_KEYS, description="'id:base64,...'; the first key encrypts")
    blind_index_key: str = Field(
        _DEV_BLIND_INDEX_KEY, description="base64, >= 32 bytes, never in the DB"
    )

    # --- households and dynamic management ---
    poverty_lines: dict[int, Decimal] = Field(
        default_factory=lambda: {
            2013: Decimal("2736"),
            2014: Decimal("2800"),
            2015: Decimal("2855"),
            2016: Decimal("3026"),
            2017: Decimal("3335"),
            2018: Decimal("3535"),
            2019: Decimal("3747"),
            2020: Decimal("4000"),
        },
        description="per-capita net income poverty line by year, yuan (current prices)",
    )
    max_household_income: Decimal = Field(
        Decimal("10000000"), description="absurd-income guard, yuan/year"
    )
    max_household_members: int = Field(20, ge=1, le=100, description="members per household")
    earliest_register_year: int = Field(
        2013, ge=2000, le=2100, description="first year of the register"
    )

    # --- identification workflow ---
    notice_days: int = Field(7, ge=1, le=60, description="public notice period, days")
    appraisal_pass_share: Decimal = Field(
        Decimal("0.5"),
        ge=0,
        lt=1,
        description="votes for must exceed this share of the votes counted",
    )
    appraisal_counts_abstentions: bool = Field(
        True, description="abstentions count in the denominator"
    )
    appraisal_min_votes: int = Field(
        1, ge=1, le=1000, description="fewest votes an appraisal may have"
    )
    exit_stable_years: int = Field(
        1,
        ge=1,
        le=5,
        description="income years assessed for an exit: the exit's year and the years before it,"
        " each above its line",
    )
    exit_basic_needs: list[str] = Field(
        default_factory=lambda: [
            "food",
            "clothing",
            "compulsory_education",
            "basic_medical_care",
            "housing_safety",
        ],
        description="两不愁三保障: the needs an exit appraisal must confirm as secured",
    )

    # --- quotas and statistics ---
    access_log_roles: list[str] = Field(
        default_factory=lambda: ["auditor", "admin"],
        description="roles that may read a household's access log: who read its personal data"
        " in clear, which banks checked its members",
    )
    quota_override_roles: list[str] = Field(
        default_factory=lambda: ["quota_override", "admin"],
        description="roles that may approve an identification beyond the quota, with a reason",
    )
    poor_statuses: list[str] = Field(
        default_factory=lambda: ["identified", "returned"],
        description="household statuses counted as poor in poverty incidence",
    )

    # --- bulk import and export (docs/imports.md) ---
    import_dir: Path = Field(
        Path("/tmp/fupin-registry-imports"), description="where uploaded files wait for their job"
    )
    import_max_file_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="largest spreadsheet accepted for import"
    )
    import_chunk_rows: int = Field(
        10_000, ge=10, le=200_000, description="member rows validated and committed per chunk"
    )
    import_workers: int = Field(
        default_factory=default_import_workers,
        ge=0,
        le=8,
        description="processes parsing and encrypting (0: a thread of the API)",
    )
    import_merge_connections: int = Field(
        default_factory=default_import_merge_connections,
        ge=1,
        le=16,
        description="chunks of a job merged at once, each on its own database connection"
        " (committed in file order)",
    )
    import_lock_timeout_seconds: int = Field(
        60, ge=1, le=3600, description="longest wait of a chunk for another writer's rows"
    )
    import_calamine_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="xlsx workbooks whose first sheet and other parts (shared strings, styles)"
        " really unpack to at most this are read whole with calamine; larger ones are streamed",
    )
    import_calamine_max_cells: int = Field(
        4_000_000,
        ge=0,
        description="xlsx sheets whose cells span a larger rectangle (last row × last column)"
        " are streamed: calamine holds the whole rectangle in memory (about 32 bytes a cell)",
    )
    import_max_errors: int = Field(
        1_000_000, ge=100, description="row errors kept per job; the job fails beyond"
    )
    import_stale_seconds: int = Field(
        600,
        ge=30,
        description="a queued or running job without progress this long is reported interrupted",
    )
    import_max_row_bytes: int = Field(
        1024 * 1024,
        ge=64 * 1024,
        description="longest CSV line (or quoted record) and longest row of xlsx sheet XML;"
        " the file fails beyond",
    )
    import_max_household_rows: int = Field(
        1_000,
        ge=100,
        le=1_000_000,
        description="rows one household may span in a file (at least max_household_members);"
        " the first are held and validated, the rest counted, and the household is rejected",
    )
    import_xlsx_max_unpacked_bytes: int = Field(
        4 * 1024 * 1024 * 1024,
        ge=1024 * 1024,
        description="bytes the parts of an xlsx workbook read by the import may unpack to"
        " together; the file fails beyond",
    )
    import_xlsx_max_ratio: int = Field(
        100,
        ge=10,
        description="unpacked size of any xlsx part (past its first MiB) per byte compressed;"
        " the file fails beyond",
    )
    import_xlsx_max_shared_strings: int = Field(
        5_000_000, ge=1000, description="shared strings of an xlsx workbook; the file fails beyond"
    )
    import_xlsx_max_shared_string_chars: int = Field(
        100_000_000,
        ge=100_000,
        description="characters of all shared strings of an xlsx workbook; the file fails beyond",
    )

    # --- cross-department comparison (docs/crosscheck.md) ---
    crosscheck_max_file_bytes: int = Field(
        128 * 1024 * 1024, ge=1024, description="largest reference list accepted"
    )

    # --- DCI Social Registry API ---
    dci_signing_key_file: Path | None = Field(
        None, description="Ed25519 private key (PEM) signing DCI responses; ephemeral in dev/test"
    )
    dci_sender_id: str = Field("registry.fupin.example", description="our DCI sender/receiver id")
    dci_signature_max_age_seconds: int = Field(
        600, ge=10, le=86400, description="expires - created"
    )
    dci_clock_skew_seconds: int = Field(
        300, ge=0, le=3600, description="tolerated clock difference"
    )
    dci_max_requests_per_message: int = Field(
        20, ge=1, le=1000, description="search/subscribe items"
    )
    dci_default_page_size: int = Field(50, ge=1, le=1000)
    dci_max_page_size: int = Field(500, ge=1, le=5000)
    dci_require_consent: bool = Field(True, description="every search criteria must carry consent")
    dci_callback_timeout_seconds: float = Field(10.0, gt=0, le=120)
    dci_callback_attempts: int = Field(
        5, ge=1, le=20, description="tries per callback or notification"
    )
    dci_callback_backoff_seconds: float = Field(
        1.0, gt=0, le=600, description="doubles per attempt"
    )
    dci_notify_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="notification sender idle poll"
    )
    dci_pending_timeout_seconds: int = Field(
        600,
        ge=60,
        le=86400,
        description="an asynchronous request still pending this long was lost and is rejected",
    )
    dci_sweep_interval_seconds: float = Field(
        60.0, gt=0, le=3600, description="how often pending requests are looked at"
    )
    dci_rate_per_second: float = Field(
        10.0,
        gt=0,
        le=1e6,
        description="values tested per second per partner (each condition of a search or "
        "subscription, each value of an `in`; a status query or unsubscription counts one)",
    )
    dci_rate_burst: int = Field(
        2000,
        ge=1,
        le=10**7,
        description="bucket size per partner, values; also the most one message may test",
    )

    rate_limit_lease_seconds: float = Field(
        0.1,
        ge=0,
        le=10,
        description="the share of a client's rate a process takes from the shared bucket at once"
        " (seconds of the rate, at most a tenth of the burst; 0: every request charges the"
        " database)",
    )

    # --- bank eligibility (贴息贷款资格核验) ---
    eligibility_age_min: int = Field(
        18, ge=0, le=120, description="youngest borrower, years, inclusive"
    )
    eligibility_age_max: int = Field(
        60, ge=0, le=120, description="oldest borrower, years, inclusive"
    )
    eligibility_statuses: list[str] = Field(
        default_factory=lambda: ["identified", "returned"],
        description=(
            "household statuses that qualify (exited qualifies within the transition period)"
        ),
    )
    eligibility_exit_transition_years: int = Field(
        3,
        ge=0,
        le=20,
        description="years after exited_on during which an exited household qualifies",
    )
    eligibility_answer_valid_days: int = Field(
        30, ge=0, le=366, description="validity of a yes answer"
    )
    eligibility_batch_max: int = Field(1000, ge=1, le=10000, description="items per batch request")
    eligibility_rate_per_second: float = Field(
        50.0, gt=0, le=1e7, description="checks/s per client"
    )
    eligibility_rate_burst: int = Field(2000, ge=1, le=10**8, description="bucket size, checks")
    eligibility_pool_size: int = Field(8, ge=1, le=100, description="dedicated asyncpg connections")
    eligibility_lookups_in_flight: int = Field(
        2,
        ge=1,
        le=100,
        description="single-check lookups in flight at once (checks queued meanwhile share one)",
    )
    eligibility_audit_writers: int = Field(
        2, ge=1, le=8, description="audit flushes in flight at once (each on its own connection)"
    )
    eligibility_audit_max_batch: int = Field(
        5000, ge=1, le=100000, description="checks per audit flush"
    )
    eligibility_audit_max_pending: int = Field(
        50000,
        ge=1,
        le=10**7,
        description="checks waiting for their audit record before new ones are refused (503)",
    )

    def _keys_outside_dev(self) -> None:
        if self.environment == "prod" and (
            self.pii_keys == _DEV_PII_KEYS or self.blind_index_key == _DEV_BLIND_INDEX_KEY
        ):
            raise ValueError("REGISTRY_PII_KEYS and REGISTRY_BLIND_INDEX_KEY must be set in prod")

    def model_post_init(self, __context: object) -> None:
        self._keys_outside_dev()
