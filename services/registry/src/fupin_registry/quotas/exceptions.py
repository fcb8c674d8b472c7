"""Problems raised by the quotas domain."""

from __future__ import annotations

from fupin_kit.problems import Conflict, FieldError


class QuotaTreeViolation(Conflict):
    slug, title = "quota-tree", "Child quotas may not exceed their parent's"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[FieldError(pointer="#/body/quota", detail=detail)])


class QuotaBelowUsed(Conflict):
    slug, title = "quota-below-used", "A quota may not drop below the people already counted"

    def __init__(self, detail: str, used: int) -> None:
        super().__init__(
            detail, errors=[FieldError(pointer="#/body/quota", detail=detail)], used=used
        )
