from sample_app import Base

import fupin_kit.models  # noqa: F401
from fupin_kit.db import KitBase
from fupin_kit.migrations import run_env

run_env([Base.metadata, KitBase.metadata], "")
