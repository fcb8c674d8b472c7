"""The workflow state machine, exhaustively: every command in every state of every kind."""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from fupin_registry.access import Tier
from fupin_registry.identification.domain import (
    FINAL_STATES,
    FLOWS,
    NOTICE_STATES,
    OPENING_STATUSES,
    Appraise,
    Approve,
    CaseKind,
    CaseState,
    CaseSuspended,
    CaseView,
    CompleteNotice,
    ExclusionBlocks,
    ExitCriteriaNotMet,
    IllegalStep,
    InvalidInput,
    NoticeEnded,
    NoticeRunning,
    Policy,
    QuotaExceeded,
    RaiseObjection,
    ResolveObjection,
    Review,
    StepDateInvalid,
    appraisal_passes,
    decide,
    exit_assessment_years,
    missing_poverty_lines,
    open_case,
    tier_for,
    unmet_exit_criteria,
)
from fupin_registry.vocabulary import HouseholdStatus

DAY0 = date(2016, 3, 1)
POLICY = Policy(notice_days=7)


def later(days=30):
    return DAY0 + timedelta(days=days)


def command_for(state):
    """A command that is legal in ``state`` (and moves the case forward where it can)."""
    on = later()
    return {
        CaseState.VILLAGE_APPRAISAL: Appraise(on, 10, 2, 1),
        CaseState.VILLAGE_NOTICE: CompleteNotice(on),
        CaseState.TOWNSHIP_REVIEW: Review(on, approve=True),
        CaseState.TOWNSHIP_NOTICE: CompleteNotice(on),
        CaseState.COUNTY_APPROVAL: Approve(on, approve=True),
    }[state]


def in_state(kind, state, **changes):
    notice = state in NOTICE_STATES
    case = CaseView(
        kind=kind,
        state=state,
        opened_on=DAY0,
        last_step_on=DAY0,
        notice_started_on=DAY0 if notice else None,
        notice_ends_on=DAY0 + timedelta(days=7) if notice else None,
    )
    return replace(case, **changes)


ALL_COMMANDS = [
    Appraise(later(), 10, 2, 1),
    CompleteNotice(later()),
    Review(later(), approve=True),
    Approve(later(), approve=True),
    RaiseObjection(DAY0 + timedelta(days=3)),  # during the notice
    ResolveObjection(later(), upheld=False, resolution="unfounded"),
]
LEGAL_IN = {
    Appraise: {CaseState.VILLAGE_APPRAISAL},
    CompleteNotice: set(NOTICE_STATES),
    Review: {CaseState.TOWNSHIP_REVIEW},
    Approve: {CaseState.COUNTY_APPROVAL},
    RaiseObjection: set(NOTICE_STATES),
    ResolveObjection: set(NOTICE_STATES),  # needs an objection, hence suspended below
}


@pytest.mark.parametrize("kind", list(CaseKind))
@pytest.mark.parametrize("state", list(CaseState))
@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: type(c).__name__)
def test_every_command_in_every_state(kind, state, command):
    case = in_state(kind, state, suspended=isinstance(command, ResolveObjection))
    legal = state in FLOWS[kind] and state in LEGAL_IN[type(command)]
    if legal:
        transition = decide(case, command, POLICY)
        assert transition.case.state != state or isinstance(
            command, RaiseObjection | ResolveObjection
        )
    else:
        with pytest.raises(IllegalStep):
            decide(case, command, POLICY)


EXPECTED_PATHS = {
    CaseKind.IDENTIFICATION: [
        "village_appraisal",
        "village_notice",
        "township_review",
        "township_notice",
        "county_approval",
        "approved",
    ],
    CaseKind.EXIT: [
        "village_appraisal",
        "village_notice",
        "township_review",
        "township_notice",
        "county_approval",
        "approved",
    ],
    CaseKind.RETURN: [
        "village_appraisal",
        "village_notice",
        "township_review",
        "township_notice",
        "county_approval",
        "approved",
    ],
    CaseKind.REMOVAL: [
        "village_appraisal",
        "village_notice",
        "township_review",
        "county_approval",
        "approved",
    ],
    CaseKind.NATURAL_DECREASE: ["township_review", "county_approval", "approved"],
}
FINAL_STATUS = {
    CaseKind.IDENTIFICATION: HouseholdStatus.IDENTIFIED,
    CaseKind.EXIT: HouseholdStatus.EXITED,
    CaseKind.RETURN: HouseholdStatus.RETURNED,
    CaseKind.REMOVAL: HouseholdStatus.REMOVED,
    CaseKind.NATURAL_DECREASE: HouseholdStatus.NATURAL_DECREASE,
}


@pytest.mark.parametrize("kind", list(CaseKind))
def test_happy_path_of_each_kind(kind):
    status = next(iter(sorted(OPENING_STATUSES[kind])))
    case = open_case(kind, status, DAY0)
    visited = [case.state.value]
    on = DAY0
    last = None
    while case.state not in FINAL_STATES:
        on += timedelta(days=8)
        last = decide(case, replace(command_for(case.state), on=on), POLICY)
        if last.case.state in NOTICE_STATES:
            assert last.case.notice_started_on == on
            assert last.case.notice_ends_on == on + timedelta(days=7)
        else:
            assert last.case.notice_ends_on is None
        if last.case.state != CaseState.APPROVED:
            assert last.household_status is None
        case = last.case
        visited.append(case.state.value)
    assert visited == EXPECTED_PATHS[kind]
    assert last.household_status == FINAL_STATUS[kind] and last.step == "approved"


@pytest.mark.parametrize("kind", list(CaseKind))
@pytest.mark.parametrize("status", list(HouseholdStatus))
def test_which_household_may_open_which_case(kind, status):
    allowed = {
        CaseKind.IDENTIFICATION: {"applied"},
        CaseKind.EXIT: {"identified", "returned"},
        CaseKind.RETURN: {"exited"},
        CaseKind.REMOVAL: {"identified", "returned", "exited"},
        CaseKind.NATURAL_DECREASE: {"identified", "returned", "exited"},
    }[kind]
    if status.value in allowed:
        assert open_case(kind, status, DAY0).state == FLOWS[kind][0]
    else:
        with pytest.raises(IllegalStep):
            open_case(kind, status, DAY0)


@pytest.mark.parametrize("state", list(NOTICE_STATES))
def test_notice_cannot_complete_before_its_end(state):
    case = in_state(CaseKind.IDENTIFICATION, state)
    # Objections are heard through the notice's last day (DAY0 + 7): it completes the day after.
    for last in (6, 7):
        with pytest.raises(NoticeRunning):
            decide(case, CompleteNotice(DAY0 + timedelta(days=last)), POLICY)
    assert decide(case, CompleteNotice(DAY0 + timedelta(days=8)), POLICY).step == "notice_completed"


def test_notice_days_are_configuration():
    case = open_case(CaseKind.IDENTIFICATION, "applied", DAY0)
    long_notice = decide(case, Appraise(DAY0, 5, 0, 0), Policy(notice_days=15)).case
    assert long_notice.notice_ends_on == DAY0 + timedelta(days=15)
    with pytest.raises(NoticeRunning):
        decide(long_notice, CompleteNotice(DAY0 + timedelta(days=14)), POLICY)


@pytest.mark.parametrize("kind", [CaseKind.IDENTIFICATION, CaseKind.EXIT])
@pytest.mark.parametrize("state", list(NOTICE_STATES))
def test_objection_suspends_until_resolved(kind, state):
    case = in_state(kind, state)
    suspended = decide(case, RaiseObjection(DAY0 + timedelta(days=2)), POLICY).case
    assert suspended.suspended and suspended.state == state
    after_end = DAY0 + timedelta(days=20)
    with pytest.raises(CaseSuspended):
        decide(suspended, CompleteNotice(after_end), POLICY)
    twice = decide(suspended, RaiseObjection(DAY0 + timedelta(days=3)), POLICY).case
    still = decide(
        twice,
        ResolveObjection(after_end, upheld=False, resolution="no", other_open_objections=1),
        POLICY,
    )
    assert still.case.suspended and still.step == "objection_dismissed"
    resumed = decide(
        still.case, ResolveObjection(after_end, upheld=False, resolution="no"), POLICY
    ).case
    assert not resumed.suspended and resumed.state == state
    assert decide(resumed, CompleteNotice(after_end), POLICY).step == "notice_completed"

    upheld = decide(
        suspended,
        ResolveObjection(after_end, upheld=True, resolution="owns a shop in town"),
        POLICY,
    )
    assert (
        upheld.case.state == CaseState.REJECTED and upheld.rejection_reason == "owns a shop in town"
    )
    assert upheld.household_status == (
        HouseholdStatus.REJECTED if kind == CaseKind.IDENTIFICATION else None
    )


@pytest.mark.parametrize("state", list(NOTICE_STATES))
def test_an_objection_is_raised_during_the_notice_not_after_it(state):
    case = in_state(CaseKind.IDENTIFICATION, state)
    assert case.notice_ends_on is not None
    last_day = decide(case, RaiseObjection(case.notice_ends_on), POLICY).case
    assert last_day.suspended
    with pytest.raises(NoticeEnded) as error:
        decide(case, RaiseObjection(case.notice_ends_on + timedelta(days=1)), POLICY)
    assert error.value.facts == {"notice_ends_on": case.notice_ends_on.isoformat()}
    # Nor is a suspended case's notice reopened by a late objection.
    with pytest.raises(NoticeEnded):
        decide(last_day, RaiseObjection(case.notice_ends_on + timedelta(days=30)), POLICY)


def test_resolving_without_objection_and_upholding_without_reason():
    case = in_state(CaseKind.IDENTIFICATION, CaseState.VILLAGE_NOTICE)
    with pytest.raises(IllegalStep):
        decide(case, ResolveObjection(later(), upheld=False, resolution="x"), POLICY)
    with pytest.raises(InvalidInput) as error:
        decide(
            replace(case, suspended=True),
            ResolveObjection(later(), upheld=True, resolution=" "),
            POLICY,
        )
    assert error.value.pointer == "#/body/resolution"


def test_steps_cannot_go_back_in_time():
    case = in_state(
        CaseKind.IDENTIFICATION, CaseState.TOWNSHIP_REVIEW, last_step_on=DAY0 + timedelta(days=10)
    )
    with pytest.raises(StepDateInvalid) as error:
        decide(case, Review(DAY0 + timedelta(days=9), approve=True), POLICY)
    assert error.value.pointer == "#/body/on"
    assert decide(
        case, Review(DAY0 + timedelta(days=10), approve=True), POLICY
    ).case.last_step_on == DAY0 + timedelta(days=10)


@pytest.mark.parametrize(
    ("votes", "policy", "passes"),
    [
        ((6, 5, 0), Policy(), True),
        ((5, 5, 0), Policy(), False),  # a tie is not a majority
        ((5, 3, 3), Policy(), False),  # abstentions count by default: 5 of 11
        ((5, 3, 3), Policy(counts_abstentions=False), True),  # 5 of 8
        ((7, 3, 0), Policy(pass_share=Decimal("0.6667")), True),
        ((6, 3, 0), Policy(pass_share=Decimal("0.6667")), False),  # two thirds needed
        ((0, 0, 4), Policy(counts_abstentions=False), False),
    ],
)
def test_majority_rule(votes, policy, passes):
    assert appraisal_passes(*votes, policy) is passes


def test_failed_appraisal_rejects_with_reason_and_too_few_votes_are_refused():
    case = open_case(CaseKind.IDENTIFICATION, "applied", DAY0)
    failed = decide(case, Appraise(DAY0, 3, 7, 0), POLICY)
    assert (
        failed.case.state == CaseState.REJECTED
        and failed.household_status == HouseholdStatus.REJECTED
    )
    assert "3 for, 7 against" in failed.rejection_reason and failed.evidence["votes_against"] == 7
    with pytest.raises(InvalidInput):
        decide(case, Appraise(DAY0, 2, 0, 0), Policy(min_votes=5))


@pytest.mark.parametrize("kind", [CaseKind.IDENTIFICATION, CaseKind.EXIT, CaseKind.REMOVAL])
def test_rejections_need_reasons(kind):
    review = in_state(kind, CaseState.TOWNSHIP_REVIEW)
    with pytest.raises(InvalidInput):
        decide(review, Review(later(), approve=False), POLICY)
    rejected = decide(review, Review(later(), approve=False, reason="income too high"), POLICY)
    assert (
        rejected.case.state == CaseState.REJECTED and rejected.rejection_reason == "income too high"
    )
    approval = in_state(kind, CaseState.COUNTY_APPROVAL)
    refused = decide(approval, Approve(later(), approve=False, reason="duplicate entry"), POLICY)
    assert refused.step == "approval_refused" and refused.case.state == CaseState.REJECTED


def test_exit_appraisal_needs_the_criteria():
    case = open_case(CaseKind.EXIT, "identified", DAY0)
    with pytest.raises(ExitCriteriaNotMet) as error:
        decide(
            case,
            Appraise(
                DAY0, 9, 0, 0, unmet_exit_criteria=("basic need not secured: housing_safety",)
            ),
            POLICY,
        )
    assert error.value.facts["unmet"] == ["basic need not secured: housing_safety"]
    assert decide(case, Appraise(DAY0, 9, 0, 0), POLICY).case.state == CaseState.VILLAGE_NOTICE
    # the criteria only concern exits
    identification = open_case(CaseKind.IDENTIFICATION, "applied", DAY0)
    assert (
        decide(identification, Appraise(DAY0, 9, 0, 0, unmet_exit_criteria=("x",)), POLICY).step
        == "appraised"
    )


@pytest.mark.parametrize("kind", list(CaseKind))
def test_blocking_flags_stop_registering_kinds_only(kind):
    case = in_state(kind, CaseState.COUNTY_APPROVAL)
    command = Approve(later(), approve=True, blocking_flags=("vehicle",))
    if kind in (CaseKind.IDENTIFICATION, CaseKind.RETURN):
        with pytest.raises(ExclusionBlocks) as error:
            decide(case, command, POLICY)
        assert error.value.facts["flags"] == ["vehicle"]
    else:
        assert decide(case, command, POLICY).case.state == CaseState.APPROVED


@pytest.mark.parametrize("kind", list(CaseKind))
def test_quota_refuses_identification_unless_overridden(kind):
    case = in_state(kind, CaseState.COUNTY_APPROVAL)
    over = Approve(later(), approve=True, regions_over_quota=("220622",))
    if kind == CaseKind.IDENTIFICATION:
        with pytest.raises(QuotaExceeded) as error:
            decide(case, over, POLICY)
        assert error.value.facts["regions"] == ["220622"]
        overridden = decide(case, replace(over, quota_override=True), POLICY)
        assert overridden.quota_override and overridden.case.state == CaseState.APPROVED
    else:
        transition = decide(case, over, POLICY)
        assert transition.case.state == CaseState.APPROVED and not transition.quota_override


def test_tiers_of_each_stage():
    assert tier_for(in_state(CaseKind.IDENTIFICATION, CaseState.VILLAGE_APPRAISAL)) == Tier.VILLAGE
    assert tier_for(in_state(CaseKind.IDENTIFICATION, CaseState.VILLAGE_NOTICE)) == Tier.VILLAGE
    assert tier_for(in_state(CaseKind.IDENTIFICATION, CaseState.TOWNSHIP_REVIEW)) == Tier.TOWNSHIP
    assert tier_for(in_state(CaseKind.IDENTIFICATION, CaseState.TOWNSHIP_NOTICE)) == Tier.TOWNSHIP
    assert tier_for(in_state(CaseKind.IDENTIFICATION, CaseState.COUNTY_APPROVAL)) == Tier.COUNTY


LINES = {2015: Decimal("2855"), 2016: Decimal("3026")}
ALL_NEEDS = ["food", "clothing", "compulsory_education", "basic_medical_care", "housing_safety"]
SECURED = dict.fromkeys(ALL_NEEDS, True)


@pytest.mark.parametrize(
    ("incomes", "needs", "stable_years", "unmet"),
    [
        ({2016: Decimal("3100")}, SECURED, 1, []),
        (
            {2016: Decimal("3026")},
            SECURED,
            1,
            ["not above the poverty line 3026"],
        ),  # equal is not above
        ({2015: Decimal("2000"), 2016: Decimal("3100")}, SECURED, 1, []),  # only the exit year
        ({2015: Decimal("2000"), 2016: Decimal("3100")}, SECURED, 2, ["in 2015 is not above"]),
        ({2016: Decimal("3100")}, SECURED, 2, ["no per-capita net income is recorded for 2015"]),
        # an older year's income, however high, does not stand in for the exit year's
        ({2015: Decimal("9000")}, SECURED, 1, ["no per-capita net income is recorded for 2016"]),
        # nor does a later one
        ({2017: Decimal("9000")}, SECURED, 1, ["no per-capita net income is recorded for 2016"]),
        ({2016: Decimal("3100")}, {**SECURED, "housing_safety": False}, 1, ["housing_safety"]),
        (
            {2016: Decimal("3100")},
            {"food": True},
            1,
            ["clothing", "compulsory_education", "basic_medical_care", "housing_safety"],
        ),
        ({}, SECURED, 1, ["no per-capita net income is recorded for 2016"]),
    ],
)
def test_exit_criteria(incomes, needs, stable_years, unmet):
    reasons = unmet_exit_criteria(
        incomes,
        LINES,
        needs,
        exit_year=2016,
        required_needs=ALL_NEEDS,
        stable_years=stable_years,
    )
    assert len(reasons) == len(unmet)
    for expected, reason in zip(unmet, reasons, strict=True):
        assert expected in reason


def test_exit_years_and_missing_lines():
    assert exit_assessment_years(2020, 1) == [2020]
    assert exit_assessment_years(2020, 3) == [2018, 2019, 2020]
    assert missing_poverty_lines([2015, 2016, 2017], LINES) == [2017]


def test_exit_approval_rechecks_the_criteria():
    case = in_state(CaseKind.EXIT, CaseState.COUNTY_APPROVAL)
    unmet = ("per-capita net income 2000 in 2016 is not above the poverty line 3026",)
    with pytest.raises(ExitCriteriaNotMet) as error:
        decide(case, Approve(later(), approve=True, unmet_exit_criteria=unmet), POLICY)
    assert error.value.facts["unmet"] == list(unmet)
    refused = decide(
        case, Approve(later(), approve=False, reason="x", unmet_exit_criteria=unmet), POLICY
    )
    assert refused.case.state == CaseState.REJECTED


def test_final_states_accept_nothing():
    for state in FINAL_STATES:
        for command in ALL_COMMANDS:
            with pytest.raises(IllegalStep):
                decide(in_state(CaseKind.IDENTIFICATION, state), command, POLICY)
