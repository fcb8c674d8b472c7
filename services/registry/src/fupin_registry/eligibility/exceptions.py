"""Problems specific to the eligibility API."""

from fupin_kit.problems import ProblemError


class AuditUnavailable(ProblemError):
    """No answer leaves without its audit row: when the row cannot be written, nothing is said."""

    status, slug, title = 503, "audit-unavailable", "The audit trail cannot be written right now"

    def __init__(
        self,
        detail: str = "the check was not answered because its audit record could not be written",
    ) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class EligibilityUnavailable(ProblemError):
    status, slug, title = 503, "eligibility-unavailable", "The eligibility service is not running"
