"""Events other services consume carry only values their consumers can use: an assessment's
score is a finite percentage of a county, a donation is a positive amount, a team's stay ends
after it starts, names and ids have bounded lengths."""

from datetime import date

import pytest
from pydantic import ValidationError

from fupin_events.evaluation import CountyAssessed, CountyExitApproved
from fupin_events.social import DonationPledged, DonationReceived
from fupin_events.teams import CadrePaired, TeamStationed

ASSESSED = {
    "assessment_id": "A-1",
    "county_code": "220622",
    "year": 2026,
    "score": "87.250",
    "grade": "good",
    "gdp_excluded": True,
    "published_on": date(2026, 3, 1),
}


@pytest.mark.parametrize("score", ["0", "7", "100", "100.000", "99.999", "87.25"])
def test_an_assessment_score_is_a_percentage(score):
    assert CountyAssessed(**{**ASSESSED, "score": score}).score == score


@pytest.mark.parametrize(
    "score", ["NaN", "sNaN", "Infinity", "abc", "-5", "150", "100.001", " 7 ", "7.1234", "", "1e2"]
)
def test_a_score_that_is_not_a_percentage_is_refused(score):
    with pytest.raises(ValidationError) as refused:
        CountyAssessed(**{**ASSESSED, "score": score})
    assert refused.value.errors()[0]["loc"] == ("score",)


@pytest.mark.parametrize(
    ("field", "value"),
    [("county_code", "22"), ("county_code", "220622100201"), ("grade", ""), ("assessment_id", "")],
)
def test_an_assessment_names_a_county_and_a_grade(field, value):
    with pytest.raises(ValidationError) as refused:
        CountyAssessed(**{**ASSESSED, field: value})
    assert refused.value.errors()[0]["loc"] == (field,)


def test_a_county_exit_names_a_county_and_a_percentage():
    exit_ = {"county_code": "220622", "year": 2026, "poverty_incidence": "1.8"}
    assert CountyExitApproved(**exit_).poverty_incidence == "1.8"
    for field, value in (("county_code", "2206"), ("poverty_incidence", "NaN")):
        with pytest.raises(ValidationError):
            CountyExitApproved(**{**exit_, field: value})


@pytest.mark.parametrize("amount", ["0", "0.00", "-100.00"])
def test_donations_are_positive_amounts(amount):
    pledged = {
        "pledge_id": "P-1",
        "listing_id": "L-1",
        "donor_id": "D-1",
        "amount": amount,
        "region_code": "220622",
    }
    with pytest.raises(ValidationError, match="greater than zero"):
        DonationPledged(**pledged)
    received = {
        "pledge_id": "P-1",
        "listing_id": "L-1",
        "amount": amount,
        "received_on": date(2026, 3, 1),
        "region_code": "220622",
    }
    with pytest.raises(ValidationError, match="greater than zero"):
        DonationReceived(**received)
    assert (
        DonationReceived(**{**received, "amount": "0.01"}).model_dump(mode="json")["amount"]
        == "0.01"
    )


def test_a_stay_ends_after_it_starts_and_names_its_unit_and_leader():
    stationed = {
        "team_id": "T-1",
        "village_code": "220622100201",
        "sending_unit": "吉林省农业农村厅",
        "leader_cadre_id": "C-1",
        "starts_on": date(2026, 3, 1),
        "ends_on": date(2028, 2, 28),
    }
    TeamStationed(**stationed)
    with pytest.raises(ValidationError, match="ends_on is before starts_on"):
        TeamStationed(**{**stationed, "ends_on": date(2026, 2, 28)})
    for field in ("sending_unit", "leader_cadre_id"):
        with pytest.raises(ValidationError):
            TeamStationed(**{**stationed, field: ""})


def test_a_cadre_display_name_is_bounded():
    paired = {
        "household_id": "H-1",
        "village_code": "220622100201",
        "cadre_id": "C-1",
        "cadre_display_name": "王" * 64,
        "paired_on": date(2026, 3, 1),
    }
    CadrePaired(**paired)
    for name in ("", "王" * 65, "x" * 100_000):
        with pytest.raises(ValidationError):
            CadrePaired(**{**paired, "cadre_display_name": name})
