"""Workflow refusals as problem+json: what was refused, and why, in the client's terms."""

from __future__ import annotations

from fupin_kit.problems import (
    Conflict,
    FieldError,
    InvalidTransition,
    ProblemError,
    Unprocessable,
)
from fupin_registry.identification import domain


class OpenCaseExists(Conflict):
    slug, title = "open-case-exists", "The household already has an open case"


class NoticeRunning(InvalidTransition):
    slug, title = "notice-running", "The public notice has not ended"


class NoticeEnded(InvalidTransition):
    slug, title = "notice-ended", "The public notice has ended"


class CaseSuspended(InvalidTransition):
    slug, title = "case-suspended", "An objection suspends the case"


class ExitCriteriaNotMet(Conflict):
    slug, title = "exit-criteria-not-met", "The household does not meet the exit criteria"


class PovertyLineMissing(Conflict):
    slug, title = "poverty-line-not-configured", "No poverty line is configured for the year"


class ExcludedByRule(Conflict):
    slug, title = "excluded", "Cross-department flags in force exclude the household"


class QuotaExceeded(Conflict):
    slug, title = "quota-exceeded", "Approving would exceed the quota"


_BY_ERROR: dict[type[domain.WorkflowError], type[ProblemError]] = {
    domain.NoticeRunning: NoticeRunning,
    domain.NoticeEnded: NoticeEnded,
    domain.CaseSuspended: CaseSuspended,
    domain.ExitCriteriaNotMet: ExitCriteriaNotMet,
    domain.PovertyLineMissing: PovertyLineMissing,
    domain.ExclusionBlocks: ExcludedByRule,
    domain.QuotaExceeded: QuotaExceeded,
    domain.IllegalStep: InvalidTransition,
}


def problem_for(error: domain.WorkflowError) -> ProblemError:
    if isinstance(error, domain.InvalidInput):
        return Unprocessable(error.pointer or "#/body", error.detail)
    problem_type = _BY_ERROR.get(type(error), InvalidTransition)
    errors = None
    if error.pointer is not None:  # a refusal the request's own value causes (a date)
        errors = [FieldError(pointer=error.pointer, detail=error.detail)]
    return problem_type(error.detail, errors=errors, **error.facts)
