from __future__ import annotations

from fupin_kit.problems import Forbidden


class ApprovalAuthorityExceeded(Forbidden):
    slug, title = "approval-authority", "This level may not approve this project"
