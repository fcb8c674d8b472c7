"""Alembic environment for the teams database."""

import fupin_kit.models  # noqa: F401  (the kit tables: outbox, inbox, idempotency, audit)
import fupin_teams.models  # noqa: F401  (registers every table on Base.metadata)
from fupin_kit.db import KitBase
from fupin_kit.migrations import run_env
from fupin_teams.config import Settings
from fupin_teams.db import Base

run_env([Base.metadata, KitBase.metadata], Settings().database_url)
