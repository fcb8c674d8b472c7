"""Who may check: the running runtime and the verified caller holding ``eligibility:check``.

``authorize`` is shared by the raw ASGI fast path (``endpoint.py``) and the declared FastAPI
routes, so both answer 401/403/503 with the same wording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from fupin_kit.auth import Caller
from fupin_kit.problems import Unauthorized
from fupin_registry.eligibility.exceptions import EligibilityUnavailable
from fupin_registry.eligibility.runtime import EligibilityRuntime

ELIGIBILITY_SCOPE = "eligibility:check"


@dataclass(frozen=True)
class EligibilityContext:
    caller: Caller
    runtime: EligibilityRuntime


def running(state: Any) -> EligibilityRuntime:
    runtime: EligibilityRuntime | None = getattr(state, "eligibility", None)
    if runtime is None:
        raise EligibilityUnavailable("the eligibility runtime was not started with the app")
    return runtime


def authorize(runtime: EligibilityRuntime, request: Request) -> Caller:
    """The bearer's identity (401 without a valid token) holding ``eligibility:check`` (403),
    kept on the request as soon as the token is read, so that a refusal for the scope is
    logged with the caller too."""
    authorization = request.headers.get("authorization")
    if not authorization:
        raise Unauthorized("a bearer token is required")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    caller = runtime.tokens.verify(token)
    request.state.caller = caller
    caller.require_scope(ELIGIBILITY_SCOPE)
    return caller


async def get_context(request: Request) -> EligibilityContext:
    runtime = running(request.app.state)
    return EligibilityContext(authorize(runtime, request), runtime)


EligibilityContextDep = Annotated[EligibilityContext, Depends(get_context)]
