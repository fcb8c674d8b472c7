"""Eligibility rules: ages (inclusive range), the exit transition period, statuses, validity."""

from datetime import date, timedelta

import pytest

from fupin_registry.config import Settings
from fupin_registry.eligibility.rules import (
    EligibilityRules,
    Standing,
    add_years,
    age_on,
    birthday,
    decide,
)
from fupin_registry.eligibility.runtime import check_limits
from fupin_registry.eligibility.schemas import ReasonCode

TODAY = date(2020, 6, 15)
RULES = EligibilityRules(
    age_min=18,
    age_max=60,
    statuses=frozenset({"identified", "returned"}),
    transition_years=3,
    answer_valid_days=30,
)
ADULT = date(1980, 1, 1)


def standing(
    status: str = "identified", *, active: bool = True, exited_on: date | None = None
) -> Standing:
    return Standing(active=active, status=status, exited_on=exited_on, village_code="220622100201")


def test_identified_adult_is_eligible_for_the_configured_validity():
    decision = decide(standing(), ADULT, TODAY, RULES)
    assert decision.eligible and decision.reason is ReasonCode.ELIGIBLE
    assert decision.valid_until == TODAY + timedelta(days=30)


def test_returned_household_is_eligible():
    assert decide(standing("returned"), ADULT, TODAY, RULES).eligible


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("removed", ReasonCode.REMOVED),
        ("natural_decrease", ReasonCode.NATURAL_DECREASE),
        ("applied", ReasonCode.NOT_REGISTERED),
        ("rejected", ReasonCode.NOT_REGISTERED),
    ],
)
def test_statuses_that_do_not_qualify(status, reason):
    decision = decide(standing(status), ADULT, TODAY, RULES)
    assert not decision.eligible and decision.reason is reason
    assert decision.valid_until == TODAY  # a no is valid for the day only


def test_absent_person_is_not_found():
    decision = decide(None, ADULT, TODAY, RULES)
    assert (decision.eligible, decision.reason) == (False, ReasonCode.NOT_FOUND)


def test_inactive_member_of_an_identified_household():
    assert decide(standing(active=False), ADULT, TODAY, RULES).reason is ReasonCode.MEMBER_INACTIVE


@pytest.mark.parametrize(
    ("birth", "eligible"),
    [
        (date(2002, 6, 15), True),  # 18 today: lower bound inclusive
        (date(2002, 6, 16), False),  # 18 tomorrow
        (date(1959, 6, 16), True),  # 60, turns 61 tomorrow: upper bound inclusive
        (date(1959, 6, 15), False),  # 61 today
        (date(2004, 2, 29), False),
    ],
)
def test_age_range_is_inclusive_at_the_check_date(birth, eligible):
    decision = decide(standing(), birth, TODAY, RULES)
    assert decision.eligible is eligible
    if not eligible:
        assert decision.reason is ReasonCode.AGE_OUT_OF_RANGE


def test_yes_is_not_valid_past_the_last_day_of_the_age_range():
    birth = date(1959, 6, 20)  # turns 61 on 2020-06-20
    decision = decide(standing(), birth, TODAY, RULES)
    assert decision.eligible and decision.valid_until == date(2020, 6, 19)


@pytest.mark.parametrize(
    ("exited_on", "eligible"),
    [
        (date(2017, 6, 16), True),  # three years are over tomorrow
        (date(2017, 6, 15), False),  # three years are over today
        (date(2019, 12, 31), True),
        (None, False),  # exited without a date: the transition cannot be shown
    ],
)
def test_exited_household_qualifies_within_the_transition_period(exited_on, eligible):
    decision = decide(standing("exited", exited_on=exited_on), ADULT, TODAY, RULES)
    assert decision.eligible is eligible
    if not eligible:
        assert decision.reason is ReasonCode.EXITED_BEYOND_TRANSITION


def test_yes_within_the_transition_ends_with_it():
    decision = decide(standing("exited", exited_on=date(2017, 6, 20)), ADULT, TODAY, RULES)
    assert decision.eligible and decision.valid_until == date(2020, 6, 19)


def test_status_rules_come_from_settings():
    settings = Settings(
        eligibility_statuses=["identified", "returned", "exited"],
        eligibility_exit_transition_years=5,
        eligibility_age_min=16,
        eligibility_age_max=65,
        environment="test",
    )
    rules = EligibilityRules.from_settings(settings)
    assert decide(standing("exited", exited_on=date(2001, 1, 1)), ADULT, TODAY, rules).eligible
    assert decide(standing(), date(2004, 6, 1), TODAY, rules).eligible  # 16
    assert decide(standing(), date(1956, 1, 1), TODAY, rules).eligible  # 64


@pytest.mark.parametrize(
    "overrides",
    [{"eligibility_age_min": 70}, {"eligibility_statuses": ["identified", "paid"]}],
)
def test_inconsistent_rules_are_refused(overrides):
    with pytest.raises(ValueError):
        EligibilityRules.from_settings(Settings(environment="test", **overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"eligibility_rate_burst": 999},
        {"eligibility_audit_max_pending": 999},
    ],
)
def test_limits_that_refuse_every_full_batch_are_refused(overrides):
    check_limits(Settings(environment="test"))
    with pytest.raises(ValueError, match="one full batch"):
        check_limits(Settings(environment="test", **overrides))


def test_calendar_helpers():
    assert add_years(date(2016, 2, 29), 3) == date(2019, 2, 28)
    assert age_on(date(2000, 2, 29), date(2018, 2, 28)) == 17
    assert age_on(date(2000, 2, 29), date(2018, 3, 1)) == 18


@pytest.mark.parametrize(
    ("today", "valid_until"),
    [
        (date(2025, 2, 27), date(2025, 2, 28)),  # 60 until 1 March of a common year
        (date(2025, 2, 28), date(2025, 2, 28)),  # the last day in the range
    ],
)
def test_born_on_29_february_the_answer_holds_to_the_last_day_in_range(today, valid_until):
    born = date(1964, 2, 29)
    assert birthday(born, 61) == date(2025, 3, 1) and age_on(born, date(2025, 3, 1)) == 61
    decision = decide(standing(), born, today, RULES)
    assert decision.eligible and decision.valid_until == valid_until
    assert decision.valid_until >= today
    assert decide(standing(), born, date(2025, 3, 1), RULES).reason == ReasonCode.AGE_OUT_OF_RANGE


def test_one_day_rules_decide_each_birth_date_alike_however_often_asked():
    from fupin_registry.eligibility.rules import DayRules

    day = DayRules(RULES, TODAY)
    births = [date(2002, 6, 15), date(2002, 6, 16), date(1959, 6, 20), date(1959, 6, 15)]
    first = [day.decide(standing(), birth) for birth in births]
    again = [day.decide(standing(), birth) for birth in reversed(births)][::-1]
    assert first == again == [decide(standing(), birth, TODAY, RULES) for birth in births]
    assert [d.eligible for d in first] == [True, False, True, False]
    assert day.age_range_ends(date(1959, 6, 20)) == date(2020, 6, 19)
    assert day.age_range_ends(date(1959, 6, 15)) is None
