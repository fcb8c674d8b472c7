"""The one dependency of the eligibility routes: the running runtime and the verified caller.

Kept to a single async dependency on the hot path (each dependency costs per request, and a
synchronous one would run in the thread pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from fupin_kit.auth import Caller, get_caller
from fupin_kit.problems import Unauthorized
from fupin_registry.eligibility.exceptions import EligibilityUnavailable
from fupin_registry.eligibility.runtime import EligibilityRuntime

ELIGIBILITY_SCOPE = "eligibility:check"


@dataclass(frozen=True)
class EligibilityContext:
    caller: Caller
    runtime: EligibilityRuntime


async def get_context(request: Request) -> EligibilityContext:
    """The bearer's identity (401 without a valid token) holding ``eligibility:check`` (403)."""
    runtime: EligibilityRuntime | None = getattr(request.app.state, "eligibility", None)
    if runtime is None:
        raise EligibilityUnavailable("the eligibility runtime was not started with the app")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        get_caller(request)  # raises the kit's 401 with its exact wording
        raise Unauthorized("a bearer token is required")
    caller = runtime.tokens.caller(token.strip())
    request.state.caller = caller
    caller.require_scope(ELIGIBILITY_SCOPE)
    return EligibilityContext(caller, runtime)


EligibilityContextDep = Annotated[EligibilityContext, Depends(get_context)]
