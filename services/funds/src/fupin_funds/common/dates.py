"""Business dates (Asia/Shanghai). Commands take an optional ``on`` date so that time-dependent
rules (notice periods, idle money, transition periods) are testable without mocking the clock."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query

from fupin_events.values import Day, business_today
from fupin_funds.config import Settings
from fupin_kit.problems import Unprocessable

OnQuery = Annotated[
    Day | None, Query(description="business date of the command or report (default: today)")
]


def business_date(on: date | None, settings: Settings, pointer: str = "#/body/on") -> date:
    today = business_today()
    if on is None or on == today:
        return today
    if not settings.allow_business_date_override:
        raise Unprocessable(pointer, "an explicit business date is not accepted here")
    if not date(2000, 1, 1) <= on <= date(2100, 12, 31):
        raise Unprocessable(pointer, "the business date is out of range")
    return on


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError("unreachable")
