"""The events of the flags' life, built in one place for every service that resolves flags."""

from __future__ import annotations

from fupin_events.registry import FlagResolved
from fupin_registry.crosscheck.models import Flag


def flag_resolved(flag: Flag, outcome: str, reason: str | None) -> tuple[FlagResolved, str]:
    """``FlagResolved`` for ``flag`` with its subject (the household)."""
    event = FlagResolved(
        flag_id=str(flag.id),
        household_id=str(flag.household_id),
        village_code=flag.village_code,
        outcome=outcome,
        reason=reason,
    )
    return event, str(flag.household_id)
