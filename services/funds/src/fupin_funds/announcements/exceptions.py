from __future__ import annotations

from datetime import date

from fupin_kit.problems import ProblemError


class AnnouncementGateClosed(ProblemError):
    """No money moves before the notice period has passed with no open objection."""

    status, slug, title = (
        409,
        "announcement-gate",
        "The public notice does not allow money to move yet",
    )

    def __init__(
        self, detail: str, notice_ends_on: date | None = None, open_objections: int = 0
    ) -> None:
        super().__init__(
            detail,
            notice_ends_on=None if notice_ends_on is None else notice_ends_on.isoformat(),
            open_objections=open_objections,
        )
