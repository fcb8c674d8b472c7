"""The money gate of an announced project or allocation: money moves only after its public
notice has run and while no objection holds it back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fupin_funds.announcements.exceptions import AnnouncementGateClosed


@dataclass(frozen=True)
class ObjectionPeriod:
    """When an objection was open: from its filing to its resolution (None: still open)."""

    filed_on: date
    resolved_on: date | None


def objections_holding(periods: Sequence[ObjectionPeriod], on: date) -> int:
    """The objections that hold money back on a booking dated ``on``: those open now, and those
    that were open on that day (the supervision rule judges each booking by its own date)."""
    return sum(
        1
        for period in periods
        if period.resolved_on is None or period.filed_on <= on < period.resolved_on
    )


def check_gate(ends_on: date | None, objections: Sequence[ObjectionPeriod], on: date) -> None:
    open_objections = objections_holding(objections, on)
    if ends_on is None:
        raise AnnouncementGateClosed("it has not been publicly announced")
    if on <= ends_on:
        raise AnnouncementGateClosed(
            f"its public notice runs until {ends_on.isoformat()}; money may move from the day "
            "after",
            ends_on,
            open_objections,
        )
    if open_objections:
        raise AnnouncementGateClosed(
            f"{open_objections} objection(s) to its announcement are open now or were open on "
            f"{on.isoformat()}",
            ends_on,
            open_objections,
        )
