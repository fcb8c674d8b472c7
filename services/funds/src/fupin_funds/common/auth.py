"""The caller of a request (the kit's async dependency, resolved on the event loop)."""

from fupin_kit.auth import Caller, CallerDep, current_caller

__all__ = ["Caller", "CallerDep", "current_caller"]
