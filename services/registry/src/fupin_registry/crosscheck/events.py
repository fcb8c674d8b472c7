"""The events of the flags' life, built in one place for every service that resolves flags."""

from __future__ import annotations

from fupin_events.registry import FlagResolved
from fupin_registry.crosscheck.models import Flag

# The reason code of flags dismissed because their household left the register.
HOUSEHOLD_CLOSED = "household_closed"


def flag_resolved(
    flag: Flag, outcome: str, reason_code: str | None = None
) -> tuple[FlagResolved, str]:
    """``FlagResolved`` for ``flag`` with its subject (the household). A reviewer's reason is
    not in the event: it may name people, and stays on the flag."""
    event = FlagResolved(
        flag_id=str(flag.id),
        household_id=str(flag.household_id),
        village_code=flag.village_code,
        outcome=outcome,
        reason=reason_code,
    )
    return event, str(flag.household_id)
