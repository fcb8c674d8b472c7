"""The eligibility rules for subsidised loans, as pure functions of configuration and dates.

A person qualifies when a registered poor household lists them as an active member, the
household is identified or returned to poverty (or exited less than the transition period ago),
and the borrower's age on the check date lies in the configured range (both ends inclusive).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, NamedTuple

from fupin_events.registry import HouseholdStatus
from fupin_registry.config import Settings
from fupin_registry.eligibility.schemas import ReasonCode


@dataclass(frozen=True)
class EligibilityRules:
    age_min: int
    age_max: int
    statuses: frozenset[str]
    transition_years: int
    answer_valid_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> EligibilityRules:
        if settings.eligibility_age_min > settings.eligibility_age_max:
            raise ValueError("eligibility_age_min must not exceed eligibility_age_max")
        unknown = set(settings.eligibility_statuses) - {s.value for s in HouseholdStatus}
        if unknown:
            raise ValueError(f"eligibility_statuses has unknown statuses: {sorted(unknown)}")
        return cls(
            age_min=settings.eligibility_age_min,
            age_max=settings.eligibility_age_max,
            statuses=frozenset(settings.eligibility_statuses),
            transition_years=settings.eligibility_exit_transition_years,
            answer_valid_days=settings.eligibility_answer_valid_days,
        )


class Standing(NamedTuple):
    """What the register says about one person (found by blind index); the lookups return
    database rows with these columns in this order."""

    active: bool
    status: str
    exited_on: date | None
    village_code: str


class Decision(NamedTuple):
    eligible: bool
    reason: ReasonCode
    valid_until: date


# Plain strings: the register stores statuses as text, and comparing with enum members costs
# an attribute lookup on the enum class per check.
_REMOVED = HouseholdStatus.REMOVED.value
_NATURAL_DECREASE = HouseholdStatus.NATURAL_DECREASE.value
_EXITED = HouseholdStatus.EXITED.value


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def age_on(birth_date: date, day: date) -> int:
    """Completed years of age on ``day`` (born on 29 February: a year older on 1 March of a
    common year)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def birthday(birth_date: date, age: int) -> date:
    """The day ``birth_date``'s holder turns ``age``, by the same rule as :func:`age_on`."""
    try:
        return birth_date.replace(year=birth_date.year + age)
    except ValueError:  # 29 February in a common year
        return date(birth_date.year + age, 3, 1)


_ONE_DAY = timedelta(days=1)


class DayRules:
    """The rules bound to one business date, with everything that depends only on the date
    computed once: a batch (or a day of single checks) decides many people against it.
    Negative decisions are shared objects (they differ only by reason)."""

    def __init__(self, rules: EligibilityRules, today: date) -> None:
        self.rules = rules
        self.today = today
        self.answer_until = today + timedelta(days=rules.answer_valid_days)
        # A negative answer may change with the next register update: valid for the day only.
        self.no = {reason: Decision(False, reason, today) for reason in ReasonCode}
        # By birth date: the last day of the age range, or None when today is outside it.
        # People share birth dates (at most ~36,500 in the age range), so each is worked out
        # once a day.
        self._age_ends: dict[date, date | None] = {}

    def age_range_ends(self, birth_date: date) -> date | None:
        """The last day ``birth_date``'s holder is within the age range, or None if today
        is not."""
        try:
            return self._age_ends[birth_date]
        except KeyError:
            rules = self.rules
            in_range = rules.age_min <= age_on(birth_date, self.today) <= rules.age_max
            ends = birthday(birth_date, rules.age_max + 1) - _ONE_DAY if in_range else None
            self._age_ends[birth_date] = ends
            return ends

    def decide(self, standing: Sequence[Any] | None, birth_date: date) -> Decision:
        """``standing`` is a ``Standing`` or a database row in the same column order."""
        no = self.no
        if standing is None:
            return no[ReasonCode.NOT_FOUND]
        rules = self.rules
        status = standing[1]
        if status == _REMOVED:
            return no[ReasonCode.REMOVED]
        if status == _NATURAL_DECREASE:
            return no[ReasonCode.NATURAL_DECREASE]
        today, until = self.today, self.answer_until
        if status not in rules.statuses:
            if status != _EXITED:
                return no[ReasonCode.NOT_REGISTERED]
            exited_on = standing[2]
            if exited_on is None:
                return no[ReasonCode.EXITED_BEYOND_TRANSITION]
            transition_ends = add_years(exited_on, rules.transition_years)
            if today >= transition_ends:
                return no[ReasonCode.EXITED_BEYOND_TRANSITION]
            until = min(until, transition_ends - _ONE_DAY)
        if not standing[0]:
            return no[ReasonCode.MEMBER_INACTIVE]
        age_ends = self.age_range_ends(birth_date)
        if age_ends is None:
            return no[ReasonCode.AGE_OUT_OF_RANGE]
        return Decision(True, ReasonCode.ELIGIBLE, min(until, age_ends))


def decide(
    standing: Standing | None, birth_date: date, today: date, rules: EligibilityRules
) -> Decision:
    return DayRules(rules, today).decide(standing, birth_date)
