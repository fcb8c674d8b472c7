"""Dependencies of the eligibility routes: the running runtime, the caller, the rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fupin_kit.auth import Caller, get_caller
from fupin_kit.problems import Unauthorized

from fupin_registry.eligibility.exceptions import EligibilityUnavailable
from fupin_registry.eligibility.runtime import EligibilityRuntime

ELIGIBILITY_SCOPE = "eligibility:check"


def get_runtime(request: Request) -> EligibilityRuntime:
    runtime: EligibilityRuntime | None = getattr(request.app.state, "eligibility", None)
    if runtime is None:
        raise EligibilityUnavailable("the eligibility runtime was not started with the app")
    return runtime


RuntimeDep = Annotated[EligibilityRuntime, Depends(get_runtime)]


def get_eligibility_caller(request: Request, runtime: RuntimeDep) -> Caller:
    """The bearer's identity (401 without a valid token), holding ``eligibility:check`` (403)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        get_caller(request)  # raises the kit's 401 with its exact wording
        raise Unauthorized("a bearer token is required")
    caller = runtime.tokens.caller(token.strip())
    request.state.caller = caller
    caller.require_scope(ELIGIBILITY_SCOPE)
    return caller


EligibilityCallerDep = Annotated[Caller, Depends(get_eligibility_caller)]
