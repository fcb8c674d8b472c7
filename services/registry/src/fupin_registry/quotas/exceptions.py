"""Problems raised by the quotas domain."""

from __future__ import annotations

from typing import Any

from fupin_kit.problems import Conflict, FieldError


class _QuotaConflict(Conflict):
    """A quota refused for where it stands in the tree: named on the body's ``quota``."""

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(
            detail, errors=[FieldError(pointer="#/body/quota", detail=detail)], **extensions
        )


class QuotaTreeViolation(_QuotaConflict):
    slug, title = "quota-tree", "Child quotas may not exceed their parent's"


class QuotaBelowUsed(_QuotaConflict):
    slug, title = "quota-below-used", "A quota may not drop below the people already counted"

    def __init__(self, detail: str, used: int) -> None:
        super().__init__(detail, used=used)
