from datetime import date

from fupin_funds.households.eligibility import StatusPoint, eligible_at, status_at

HISTORY = [
    StatusPoint("identified", date(2020, 1, 1)),
    StatusPoint("exited", date(2022, 6, 30)),
    StatusPoint("returned", date(2026, 3, 1)),
]


def test_status_as_of_a_date():
    assert status_at(HISTORY, date(2019, 12, 31)) is None
    assert status_at(HISTORY, date(2021, 1, 1)).status == "identified"
    assert status_at(HISTORY, date(2022, 6, 30)).status == "exited"


def test_eligibility_through_the_transition_period():
    assert eligible_at(HISTORY, date(2021, 1, 1), 36).eligible
    assert eligible_at(HISTORY, date(2025, 6, 30), 36).eligible  # last day of the transition
    late = eligible_at(HISTORY, date(2025, 7, 1), 36)
    assert not late.eligible and "transition" in late.reason
    assert eligible_at(HISTORY, date(2026, 3, 1), 36).eligible  # returned to poverty
    assert not eligible_at(HISTORY, date(2019, 1, 1), 36).eligible


def test_removed_is_never_eligible():
    removed = [
        StatusPoint("identified", date(2020, 1, 1)),
        StatusPoint("removed", date(2021, 1, 1)),
    ]
    verdict = eligible_at(removed, date(2021, 5, 1), 36)
    assert not verdict.eligible and "removed" in verdict.reason
    # A wrong entry was never eligible: not on a day before its removal either.
    before = eligible_at(removed, date(2020, 6, 1), 36)
    assert not before.eligible and before.reason.endswith("as a wrong entry on 2021-01-01")


def test_a_decision_dated_back_follows_the_application_recorded_before_it():
    """Applied (recorded first, dated today), then identified with an approval dated years
    back: from the approval's date on, the household is identified."""
    history = sorted(
        [
            StatusPoint("applied", date(2026, 11, 30), recorded=1),
            StatusPoint("identified", date(2016, 3, 17), recorded=2),
        ],
        key=lambda p: p.effective_on,
    )
    assert status_at(history, date(2016, 1, 1)) is None
    assert status_at(history, date(2020, 1, 1)).status == "identified"
    assert status_at(history, date(2026, 12, 10)).status == "identified"
    assert eligible_at(history, date(2026, 12, 10), 36).eligible
