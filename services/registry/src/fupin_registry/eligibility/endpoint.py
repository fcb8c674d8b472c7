"""The hot path: both POST operations served as express routes (``fupin_kit.lean``).

A bank check is small and frequent, and FastAPI's per-request machinery (its own middlewares,
route matching over the registry's many routes, dependency solving, request and response model
validation) costs more CPU than the lookup and the audit record together. Express routes are
served in front of the middleware stack, wrapped in the app's own middlewares (request id,
metrics, body guard) and exception handlers; the body is parsed by the same pydantic models in
one ``model_validate_json`` call, invalid input raises the same ``RequestValidationError`` the
kit turns into a 422 problem naming each field, and the answer is written as ready bytes.

The declared routes in ``router.py`` stay for the OpenAPI document (and serve the same
operations through ``handlers.py`` if these endpoints are not installed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request

from fupin_kit.auth import Caller
from fupin_kit.lean import Answer, LeanEndpoint, ServiceApp, json_body
from fupin_registry.eligibility.dependencies import authorize, running
from fupin_registry.eligibility.handlers import answer_batch, answer_one
from fupin_registry.eligibility.runtime import EligibilityRuntime
from fupin_registry.eligibility.schemas import EligibilityBatchCreate, EligibilityCheckCreate

Operation = Callable[[EligibilityRuntime, Caller, Any], Awaitable[bytes]]


class EligibilityEndpoint(LeanEndpoint):
    """One POST operation as a plain ASGI app (``fupin_kit.lean.LeanEndpoint``): authorize,
    parse, answer."""

    def __init__(self, model: type[BaseModel], operation: Operation) -> None:
        super().__init__(self._answer)
        self.model = model
        self.operation = operation

    async def _answer(self, request: Request) -> Answer:
        runtime = running(request.app.state)
        caller = authorize(runtime, request)
        parsed = await json_body(request, self.model, {"batch_max": runtime.batch_max})
        return 200, await self.operation(runtime, caller, parsed), {}


FAST_ROUTES = (
    ("/checks", EligibilityCheckCreate, answer_one),
    ("/checks/batch", EligibilityBatchCreate, answer_batch),
)


def install_fast_routes(app: ServiceApp, prefix: str = "/v1/eligibility") -> None:
    """Serve both operations as express routes (the path templates label the metrics)."""
    for path, model, operation in FAST_ROUTES:
        app.add_express_route(prefix + path, EligibilityEndpoint(model, operation), "POST")
