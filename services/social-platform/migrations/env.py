"""Alembic environment for the social database."""

import fupin_kit.models  # noqa: F401  (the kit tables: outbox, inbox, idempotency, audit)
import fupin_social.models  # noqa: F401  (registers every table on Base.metadata)
from fupin_kit.db import KitBase
from fupin_kit.migrations import run_env
from fupin_social.config import Settings
from fupin_social.db import Base

run_env([Base.metadata, KitBase.metadata], Settings().database_url)
