"""Who may receive money or a subsidised loan, as of a date (pure rules over the status history)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fupin_funds.common.dates import add_months
from fupin_funds.common.vocabulary import REGISTERED_STATUSES


@dataclass(frozen=True)
class StatusPoint:
    status: str
    effective_on: date
    recorded: int = 0  # the order the registry's events recorded it in (0: the list's order)


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    status: str | None
    reason: str | None = None


def status_at(history: Sequence[StatusPoint], day: date) -> StatusPoint | None:
    """The latest recorded status among those in effect on ``day``: a decision entered with an
    earlier business date (an approval dated back) still follows the application recorded before
    it, whatever the dates say."""
    in_effect = [(p.recorded, i, p) for i, p in enumerate(history) if p.effective_on <= day]
    return max(in_effect, key=lambda t: (t[0], t[1]))[2] if in_effect else None


def eligible_at(history: Sequence[StatusPoint], day: date, transition_months: int) -> Verdict:
    """Registered (identified / returned) on ``day``, or exited within the transition period;
    never a household removed as a wrong entry (清退), whatever the day: it should not have been
    registered at all."""
    removed = [p.effective_on for p in history if p.status == "removed"]
    if removed:
        return Verdict(
            False,
            "removed",
            f"the household was removed from the register as a wrong entry on {max(removed)}",
        )
    point = status_at(history, day)
    if point is None:
        return Verdict(False, None, "the household was not registered on that date")
    if point.status in REGISTERED_STATUSES:
        return Verdict(True, point.status)
    if point.status == "exited":
        if day <= add_months(point.effective_on, transition_months):
            return Verdict(True, point.status)
        return Verdict(
            False,
            point.status,
            f"the household exited on {point.effective_on}, beyond the {transition_months}-month "
            "transition period",
        )
    return Verdict(False, point.status, f"the household's status on that date was {point.status}")
