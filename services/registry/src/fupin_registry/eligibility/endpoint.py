"""The hot path: both POST operations served by raw ASGI endpoints placed before every route.

A bank check is small and frequent, and FastAPI's per-request machinery (route matching over
the registry's many routes, dependency solving, request and response model validation)
costs more CPU than the lookup and the audit record together. These endpoints sit first in
the app's routes, so the kit's ASGI middlewares (request id, metrics, body guard) and its
exception handlers still apply; the body is parsed by the same pydantic models in one
``model_validate_json`` call, invalid input raises the same ``RequestValidationError`` the kit
turns into a 422 problem naming each field, and the answer is written as ready bytes.

The declared routes in ``router.py`` stay for the OpenAPI document (and serve the same
operations through ``handlers.py`` if these endpoints are not installed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import Route

from fupin_kit.auth import Caller
from fupin_kit.lean import Answer, LeanEndpoint, LeanRoute, parse_json_body
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
        caller = authorize(runtime, request.headers.get("authorization"))
        request.state.caller = caller
        parsed = parse_json_body(self.model, await request.body())
        return 200, await self.operation(runtime, caller, parsed), {}


def fast_routes(prefix: str = "/v1/eligibility") -> list[Route]:
    """Lean routes label the request metrics with their path template, like any route."""
    return [
        LeanRoute(
            prefix + path,
            EligibilityEndpoint(model, operation),
            methods=["POST"],
            include_in_schema=False,
        )
        for path, model, operation in (
            ("/checks", EligibilityCheckCreate, answer_one),
            ("/checks/batch", EligibilityBatchCreate, answer_batch),
        )
    ]


def install_fast_routes(app: FastAPI) -> None:
    """Put the eligibility endpoints before every other route (routes match in order)."""
    app.router.routes[0:0] = fast_routes()
