"""The project lifecycle as an explicit state machine:
proposed → approved → announced → in_progress → completed → accepted → evaluated,
with rejection from proposed and withdrawal (an upheld objection) while approved or announced."""

from __future__ import annotations

from enum import StrEnum

from fupin_kit.problems import InvalidTransition


class ProjectStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    ANNOUNCED = "announced"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    EVALUATED = "evaluated"
    REJECTED = "rejected"


class ProjectAction(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ANNOUNCE = "announce"
    START = "start"
    COMPLETE = "complete"
    ACCEPT = "accept"
    EVALUATE = "evaluate"
    WITHDRAW = "withdraw"


S, A = ProjectStatus, ProjectAction
TRANSITIONS: dict[tuple[ProjectStatus, ProjectAction], ProjectStatus] = {
    (S.PROPOSED, A.APPROVE): S.APPROVED,
    (S.PROPOSED, A.REJECT): S.REJECTED,
    (S.APPROVED, A.ANNOUNCE): S.ANNOUNCED,
    (S.ANNOUNCED, A.START): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.COMPLETE): S.COMPLETED,
    (S.COMPLETED, A.ACCEPT): S.ACCEPTED,
    (S.ACCEPTED, A.EVALUATE): S.EVALUATED,
    (S.APPROVED, A.WITHDRAW): S.REJECTED,
    (S.ANNOUNCED, A.WITHDRAW): S.REJECTED,
    # Started (the start is dated after the notice) but holding no money: still withdrawable.
    (S.IN_PROGRESS, A.WITHDRAW): S.REJECTED,
}

# Money may move to and out of a project only in these states (and only once its notice passed).
MONEY_STATES = frozenset({S.ANNOUNCED, S.IN_PROGRESS, S.COMPLETED})
EDITABLE_STATES = frozenset({S.PROPOSED})


def next_status(current: str, action: ProjectAction) -> ProjectStatus:
    target = TRANSITIONS.get((ProjectStatus(current), action))
    if target is None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s == current)
        raise InvalidTransition(
            f"a project that is {current} cannot take the action {action.value}; allowed: "
            f"{', '.join(allowed) or 'none'}",
            current_status=current,
            action=action.value,
        )
    return target
