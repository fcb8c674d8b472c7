"""Problems raised by the households domain."""

from __future__ import annotations

from collections.abc import Sequence

from fupin_kit.problems import Conflict, FieldError, ProblemError, Unprocessable
from fupin_registry.households.domain import Finding


def invalid(findings: Sequence[Finding]) -> ProblemError:
    """422 naming every offending field."""
    problem = Unprocessable(findings[0].pointer, findings[0].detail)
    problem.errors = [FieldError(pointer=f.pointer, detail=f.detail) for f in findings]
    problem.detail = "; ".join(f"{f.pointer}: {f.detail}" for f in findings[:5])
    return problem


def raise_if(findings: Sequence[Finding]) -> None:
    if findings:
        raise invalid(findings)


def conflict(pointer: str, detail: str) -> Conflict:
    """409 naming the field whose value collides with existing data."""
    return Conflict(detail, errors=[FieldError(pointer=pointer, detail=detail)])


class HouseholdClosed(Conflict):
    slug, title = "household-closed", "The household is closed"
    pointer = "#/path/household_id"
