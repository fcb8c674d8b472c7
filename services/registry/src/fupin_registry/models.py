"""Imports every model module so that Alembic and the ORM see all tables."""

from fupin_registry.crosscheck import models as crosscheck_models  # noqa: F401
from fupin_registry.dci import models as dci_models  # noqa: F401
from fupin_registry.eligibility import models as eligibility_models  # noqa: F401
from fupin_registry.households import models as household_models  # noqa: F401
from fupin_registry.identification import models as identification_models  # noqa: F401
from fupin_registry.imports import models as import_models  # noqa: F401
from fupin_registry.quotas import models as quota_models  # noqa: F401
from fupin_registry.regions import models as region_models  # noqa: F401
