"""Imports every model module so that Alembic sees all tables."""

from fupin_funds.allocations import models as allocations  # noqa: F401
from fupin_funds.announcements import models as announcements  # noqa: F401
from fupin_funds.funds import models as funds  # noqa: F401
from fupin_funds.households import models as households  # noqa: F401
from fupin_funds.ledger import models as ledger  # noqa: F401
from fupin_funds.loans import models as loans  # noqa: F401
from fupin_funds.projects import models as projects  # noqa: F401
from fupin_funds.regions import models as regions  # noqa: F401
from fupin_funds.supervision import models as supervision  # noqa: F401
