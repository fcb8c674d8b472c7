"""Alembic environment for the registry database."""

import fupin_kit.models  # noqa: F401  (the kit tables: outbox, inbox, idempotency, audit)
import fupin_registry.models  # noqa: F401  (registers every table on Base.metadata)
from fupin_kit.db import KitBase
from fupin_kit.migrations import run_env
from fupin_registry.config import Settings
from fupin_registry.db import Base

# Migration 0900 indexes the members of eligibility batch records in the kit's audit_log.
run_env(
    [Base.metadata, KitBase.metadata],
    Settings().database_url,
    own_kit_indexes={"ix_audit_log_batch_members"},
)
