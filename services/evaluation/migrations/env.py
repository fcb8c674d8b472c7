"""Alembic environment for the evaluation database."""

import fupin_evaluation.models  # noqa: F401  (registers every table on Base.metadata)
import fupin_kit.models  # noqa: F401  (the kit tables: outbox, inbox, idempotency, audit)
from fupin_evaluation.config import Settings
from fupin_evaluation.db import Base
from fupin_kit.db import KitBase
from fupin_kit.migrations import run_env

run_env([Base.metadata, KitBase.metadata], Settings().database_url)
