"""The identification and dynamic-management workflows as a pure state machine.

A case moves through the stages of its kind's flow; each command is legal in exactly one kind
of state, and anything else is an :class:`IllegalStep`. No I/O: the service gathers the facts
(votes, exit criteria, flags in force, quota position) and applies the :class:`Transition` returned.

    identification, exit, return:
        village_appraisal → village_notice → township_review → township_notice → county_approval
    removal (清退):          village_appraisal → village_notice → township_review → county_approval
    natural decrease:        township_review → county_approval
    every flow ends in approved or rejected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from fupin_registry.access import Tier
from fupin_registry.vocabulary import HouseholdStatus


class CaseKind(StrEnum):
    IDENTIFICATION = "identification"  # 识别
    EXIT = "exit"  # 脱贫退出
    RETURN = "return"  # 返贫
    REMOVAL = "removal"  # 清退 (wrong entry)
    NATURAL_DECREASE = "natural_decrease"  # 自然减少 (death, migration)


class CaseState(StrEnum):
    VILLAGE_APPRAISAL = "village_appraisal"  # 村民主评议
    VILLAGE_NOTICE = "village_notice"  # 村公示
    TOWNSHIP_REVIEW = "township_review"  # 乡审核
    TOWNSHIP_NOTICE = "township_notice"  # 乡公示
    COUNTY_APPROVAL = "county_approval"  # 县审定
    APPROVED = "approved"  # 公告 and registered
    REJECTED = "rejected"


STAGES = (
    CaseState.VILLAGE_APPRAISAL,
    CaseState.VILLAGE_NOTICE,
    CaseState.TOWNSHIP_REVIEW,
    CaseState.TOWNSHIP_NOTICE,
    CaseState.COUNTY_APPROVAL,
)
FINAL_STATES = frozenset({CaseState.APPROVED, CaseState.REJECTED})
NOTICE_STATES = frozenset({CaseState.VILLAGE_NOTICE, CaseState.TOWNSHIP_NOTICE})

FLOWS: Mapping[CaseKind, tuple[CaseState, ...]] = {
    CaseKind.IDENTIFICATION: STAGES,
    CaseKind.EXIT: STAGES,
    CaseKind.RETURN: STAGES,
    CaseKind.REMOVAL: (
        CaseState.VILLAGE_APPRAISAL,
        CaseState.VILLAGE_NOTICE,
        CaseState.TOWNSHIP_REVIEW,
        CaseState.COUNTY_APPROVAL,
    ),
    CaseKind.NATURAL_DECREASE: (CaseState.TOWNSHIP_REVIEW, CaseState.COUNTY_APPROVAL),
}

# 分级负责: the level that owns each stage.
STAGE_TIER: Mapping[CaseState, Tier] = {
    CaseState.VILLAGE_APPRAISAL: Tier.VILLAGE,
    CaseState.VILLAGE_NOTICE: Tier.VILLAGE,
    CaseState.TOWNSHIP_REVIEW: Tier.TOWNSHIP,
    CaseState.TOWNSHIP_NOTICE: Tier.TOWNSHIP,
    CaseState.COUNTY_APPROVAL: Tier.COUNTY,
}

OPENING_STATUSES: Mapping[CaseKind, frozenset[str]] = {
    CaseKind.IDENTIFICATION: frozenset({HouseholdStatus.APPLIED}),
    CaseKind.EXIT: frozenset({HouseholdStatus.IDENTIFIED, HouseholdStatus.RETURNED}),
    CaseKind.RETURN: frozenset({HouseholdStatus.EXITED}),
    CaseKind.REMOVAL: frozenset(
        {HouseholdStatus.IDENTIFIED, HouseholdStatus.RETURNED, HouseholdStatus.EXITED}
    ),
    CaseKind.NATURAL_DECREASE: frozenset(
        {HouseholdStatus.IDENTIFIED, HouseholdStatus.RETURNED, HouseholdStatus.EXITED}
    ),
}
STATUS_WHEN_APPROVED: Mapping[CaseKind, HouseholdStatus] = {
    CaseKind.IDENTIFICATION: HouseholdStatus.IDENTIFIED,
    CaseKind.EXIT: HouseholdStatus.EXITED,
    CaseKind.RETURN: HouseholdStatus.RETURNED,
    CaseKind.REMOVAL: HouseholdStatus.REMOVED,
    CaseKind.NATURAL_DECREASE: HouseholdStatus.NATURAL_DECREASE,
}
# Only a rejected application changes the household; a rejected exit leaves it as it was.
STATUS_WHEN_REJECTED: Mapping[CaseKind, HouseholdStatus] = {
    CaseKind.IDENTIFICATION: HouseholdStatus.REJECTED,
}
# Kinds that put a household on the register: exclusion rules apply to them.
REGISTERING_KINDS = frozenset({CaseKind.IDENTIFICATION, CaseKind.RETURN})
# Kinds that count against the year's quota.
QUOTA_KINDS = frozenset({CaseKind.IDENTIFICATION})


# --- errors ----------------------------------------------------------------------------------


class WorkflowError(Exception):
    """A command the rules refuse; ``pointer`` names the offending input when there is one."""

    def __init__(self, detail: str, pointer: str | None = None, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer
        self.facts = facts


class IllegalStep(WorkflowError):
    """The command is not allowed in the case's current state."""


class InvalidInput(WorkflowError):
    """A value in the command breaks a rule (answered 422 naming the field)."""


class StepDateInvalid(InvalidInput):
    """The business date of a step goes back before the case's previous step."""


class NoticeRunning(WorkflowError):
    """A public notice cannot complete before its end date."""


class NoticeEnded(WorkflowError):
    """An objection is raised during a public notice, not after its end date."""


class CaseSuspended(WorkflowError):
    """An open objection suspends the case until it is resolved."""


class ExitCriteriaNotMet(WorkflowError):
    pass


class PovertyLineMissing(WorkflowError):
    """An exit is assessed on a year whose poverty line is not configured."""


class ExclusionBlocks(WorkflowError):
    pass


class QuotaExceeded(WorkflowError):
    pass


# --- policy and state ------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    notice_days: int = 7
    pass_share: Decimal = Decimal("0.5")
    counts_abstentions: bool = True
    min_votes: int = 1


@dataclass(frozen=True)
class CaseView:
    kind: CaseKind
    state: CaseState
    opened_on: date
    last_step_on: date | None = None
    suspended: bool = False
    notice_started_on: date | None = None
    notice_ends_on: date | None = None


@dataclass(frozen=True)
class Transition:
    step: str
    case: CaseView
    household_status: HouseholdStatus | None = None
    rejection_reason: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    quota_override: bool = False


# --- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Appraise:
    on: date
    votes_for: int
    votes_against: int
    votes_abstain: int
    unmet_exit_criteria: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompleteNotice:
    on: date


@dataclass(frozen=True)
class Review:
    on: date
    approve: bool
    reason: str | None = None


@dataclass(frozen=True)
class Approve:
    on: date
    approve: bool
    reason: str | None = None
    blocking_flags: tuple[str, ...] = ()
    regions_over_quota: tuple[str, ...] = ()
    quota_override: bool = False
    unmet_exit_criteria: tuple[str, ...] = ()


@dataclass(frozen=True)
class RaiseObjection:
    on: date


@dataclass(frozen=True)
class ResolveObjection:
    on: date
    upheld: bool
    resolution: str
    other_open_objections: int = 0


Command = Appraise | CompleteNotice | Review | Approve | RaiseObjection | ResolveObjection


# --- rules -----------------------------------------------------------------------------------


def open_case(kind: CaseKind, household_status: str, on: date) -> CaseView:
    """The first state of a new case, if the household's status allows this kind of case."""
    if household_status not in OPENING_STATUSES[kind]:
        raise IllegalStep(f"a household that is {household_status} cannot open a {kind} case")
    return CaseView(kind=kind, state=FLOWS[kind][0], opened_on=on, last_step_on=on)


def tier_for(case: CaseView) -> Tier:
    """The level that must act on the case now (any jurisdiction may raise an objection)."""
    if case.state in FINAL_STATES:
        return Tier.VILLAGE
    return STAGE_TIER[case.state]


def appraisal_passes(
    votes_for: int, votes_against: int, votes_abstain: int, policy: Policy
) -> bool:
    counted = votes_for + votes_against + (votes_abstain if policy.counts_abstentions else 0)
    return counted > 0 and Decimal(votes_for) > policy.pass_share * counted


def exit_assessment_years(exit_year: int, stable_years: int) -> list[int]:
    """The years whose income an exit is assessed on: the exit's own year and the
    ``stable_years - 1`` years before it, oldest first."""
    return list(range(exit_year - stable_years + 1, exit_year + 1))


def missing_poverty_lines(years: Sequence[int], poverty_lines: Mapping[int, Decimal]) -> list[int]:
    return [year for year in years if year not in poverty_lines]


def unmet_exit_criteria(
    per_capita_by_year: Mapping[int, Decimal],
    poverty_lines: Mapping[int, Decimal],
    basic_needs: Mapping[str, bool],
    *,
    exit_year: int,
    required_needs: Sequence[str],
    stable_years: int,
) -> list[str]:
    """Why a household may not exit in ``exit_year`` (empty when it may): its per-capita net
    income of that year, and of the ``stable_years - 1`` years before it, is each above that
    year's poverty line, and every required basic need (两不愁三保障) is confirmed as secured.
    Incomes of other years do not count. Every year assessed must have a configured poverty
    line (``missing_poverty_lines``: the caller refuses before asking)."""
    reasons = []
    for year in exit_assessment_years(exit_year, stable_years):
        line = poverty_lines.get(year)
        income = per_capita_by_year.get(year)
        if line is None:
            reasons.append(f"no poverty line is configured for {year}")
        elif income is None:
            reasons.append(f"no per-capita net income is recorded for {year}")
        elif income <= line:
            reasons.append(
                f"per-capita net income {income} in {year} is not above the poverty line {line}"
            )
    for need in required_needs:
        if not basic_needs.get(need, False):
            reasons.append(f"basic need not secured: {need}")
    return reasons


def decide(case: CaseView, command: Command, policy: Policy) -> Transition:
    """The transition a command causes, or the rule it breaks."""
    if case.state in FINAL_STATES:
        raise IllegalStep(f"the case is {case.state}; nothing more can happen to it")
    if case.state not in FLOWS[case.kind]:
        raise IllegalStep(f"a {case.kind} case has no {case.state} stage")
    _check_date(case, command.on)
    match command:
        case RaiseObjection():
            return _raise_objection(case, command)
        case ResolveObjection():
            return _resolve_objection(case, command)
    if case.suspended:
        raise CaseSuspended("an objection is open; resolve it before the case can move on")
    match command:
        case Appraise():
            return _appraise(case, command, policy)
        case CompleteNotice():
            return _complete_notice(case, command, policy)
        case Review():
            return _review(case, command, policy)
        case Approve():
            return _approve(case, command)
    raise IllegalStep(f"unknown command {type(command).__name__}")  # pragma: no cover


def _check_date(case: CaseView, on: date) -> None:
    earliest = case.last_step_on or case.opened_on
    if on < earliest:
        raise StepDateInvalid(f"the step cannot be dated before {earliest}", pointer="#/body/on")


def _expect(case: CaseView, *states: CaseState, action: str) -> None:
    if case.state not in states:
        raise IllegalStep(f"cannot {action} while the case is in {case.state}")


def _advance(case: CaseView, on: date, policy: Policy) -> CaseView:
    """The case moved past its current stage; a notice stage starts its period today."""
    flow = FLOWS[case.kind]
    position = flow.index(case.state)
    following = flow[position + 1] if position + 1 < len(flow) else CaseState.APPROVED
    if following in NOTICE_STATES:
        return replace(
            case,
            state=following,
            last_step_on=on,
            notice_started_on=on,
            notice_ends_on=on + timedelta(days=policy.notice_days),
        )
    return replace(
        case, state=following, last_step_on=on, notice_started_on=None, notice_ends_on=None
    )


def _reject(case: CaseView, step: str, on: date, reason: str, **evidence: Any) -> Transition:
    return Transition(
        step=step,
        case=replace(case, state=CaseState.REJECTED, last_step_on=on, suspended=False),
        household_status=STATUS_WHEN_REJECTED.get(case.kind),
        rejection_reason=reason,
        evidence=evidence,
    )


def _appraise(case: CaseView, command: Appraise, policy: Policy) -> Transition:
    _expect(case, CaseState.VILLAGE_APPRAISAL, action="record a village appraisal")
    votes = {
        "votes_for": command.votes_for,
        "votes_against": command.votes_against,
        "votes_abstain": command.votes_abstain,
    }
    total = command.votes_for + command.votes_against + command.votes_abstain
    if total < policy.min_votes:
        raise InvalidInput(
            f"an appraisal needs at least {policy.min_votes} votes", pointer="#/body/votes_for"
        )
    if not appraisal_passes(
        command.votes_for, command.votes_against, command.votes_abstain, policy
    ):
        reason = (
            f"the village democratic appraisal did not pass ({command.votes_for} for, "
            f"{command.votes_against} against, {command.votes_abstain} abstaining)"
        )
        return _reject(case, "appraisal_failed", command.on, reason, **votes)
    if case.kind == CaseKind.EXIT and command.unmet_exit_criteria:
        raise ExitCriteriaNotMet(
            "the exit criteria are not met", unmet=list(command.unmet_exit_criteria)
        )
    return Transition(step="appraised", case=_advance(case, command.on, policy), evidence=votes)


def _complete_notice(case: CaseView, command: CompleteNotice, policy: Policy) -> Transition:
    _expect(case, *NOTICE_STATES, action="complete a public notice")
    assert case.notice_ends_on is not None
    if command.on <= case.notice_ends_on:
        # Objections are heard through the notice's last day: it completes the day after.
        raise NoticeRunning(
            f"the public notice runs through {case.notice_ends_on}",
            notice_ends_on=case.notice_ends_on.isoformat(),
        )
    return Transition(step="notice_completed", case=_advance(case, command.on, policy))


def _review(case: CaseView, command: Review, policy: Policy) -> Transition:
    _expect(case, CaseState.TOWNSHIP_REVIEW, action="record a township review")
    if not command.approve:
        return _reject(case, "review_rejected", command.on, _reason(command.reason))
    return Transition(step="reviewed", case=_advance(case, command.on, policy))


def _approve(case: CaseView, command: Approve) -> Transition:
    _expect(case, CaseState.COUNTY_APPROVAL, action="record a county approval")
    if not command.approve:
        return _reject(case, "approval_refused", command.on, _reason(command.reason))
    if case.kind == CaseKind.EXIT and command.unmet_exit_criteria:
        raise ExitCriteriaNotMet(
            "the exit criteria are no longer met", unmet=list(command.unmet_exit_criteria)
        )
    if case.kind in REGISTERING_KINDS and command.blocking_flags:
        raise ExclusionBlocks(
            "cross-department flags in force (open or confirmed) exclude this household: "
            + ", ".join(sorted(command.blocking_flags)),
            flags=sorted(command.blocking_flags),
        )
    overridden = False
    if case.kind in QUOTA_KINDS and command.regions_over_quota:
        if not command.quota_override:
            raise QuotaExceeded(
                "approving would exceed the quota of " + ", ".join(command.regions_over_quota),
                regions=list(command.regions_over_quota),
            )
        overridden = True
    return Transition(
        step="approved",
        case=replace(case, state=CaseState.APPROVED, last_step_on=command.on),
        household_status=STATUS_WHEN_APPROVED[case.kind],
        quota_override=overridden,
    )


def _raise_objection(case: CaseView, command: RaiseObjection) -> Transition:
    _expect(case, *NOTICE_STATES, action="raise an objection")
    assert case.notice_started_on is not None and case.notice_ends_on is not None
    # The notice's last day is its end date (it completes from that day on).
    if command.on > case.notice_ends_on:
        raise NoticeEnded(
            f"the public notice ended on {case.notice_ends_on}; objections are raised during it",
            notice_ends_on=case.notice_ends_on.isoformat(),
        )
    return Transition(
        step="objection_raised", case=replace(case, suspended=True, last_step_on=command.on)
    )


def _resolve_objection(case: CaseView, command: ResolveObjection) -> Transition:
    _expect(case, *NOTICE_STATES, action="resolve an objection")
    if not case.suspended:
        raise IllegalStep("no objection is open on this case")
    if command.upheld:
        reason = _reason(command.resolution, "#/body/resolution")
        return _reject(case, "objection_upheld", command.on, reason)
    resumed = replace(case, suspended=command.other_open_objections > 0, last_step_on=command.on)
    return Transition(step="objection_dismissed", case=resumed)


def _reason(reason: str | None, pointer: str = "#/body/reason") -> str:
    if not reason or not reason.strip():
        raise InvalidInput("a rejection needs a reason", pointer=pointer)
    return reason.strip()
