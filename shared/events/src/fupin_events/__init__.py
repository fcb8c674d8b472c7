"""fupin shared event schemas.

Every event crossing a service boundary is a CloudEvents 1.0 envelope whose ``data`` is one of
the pydantic models defined in the per-service modules and listed in :mod:`fupin_events.catalog`.
"""

from fupin_events.catalog import CATALOG, EventSpec, spec_for_type
from fupin_events.envelope import CloudEvent, new_event
from fupin_events.topics import DEAD_LETTER_TOPICS, TOPICS, Topic

__all__ = [
    "CATALOG",
    "DEAD_LETTER_TOPICS",
    "TOPICS",
    "CloudEvent",
    "EventSpec",
    "Topic",
    "new_event",
    "spec_for_type",
]
