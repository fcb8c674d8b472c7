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
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from fupin_kit.auth import Caller
from fupin_kit.lean import parse_json_body
from fupin_registry.eligibility.dependencies import authorize, running
from fupin_registry.eligibility.handlers import answer_batch, answer_one
from fupin_registry.eligibility.runtime import EligibilityRuntime
from fupin_registry.eligibility.schemas import EligibilityBatchCreate, EligibilityCheckCreate

Operation = Callable[[EligibilityRuntime, Caller, Any], Awaitable[bytes]]

_JSON_HEADERS = (b"content-type", b"application/json")


class EligibilityEndpoint:
    """One POST operation as a plain ASGI app: authorize, parse, answer."""

    def __init__(self, model: type[BaseModel], operation: Operation) -> None:
        self.model = model
        self.operation = operation
        self.route: Route | None = None  # set by ``fast_routes``

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route  # the request metrics are labelled by its path template
        runtime = running(scope["app"].state)
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        caller = authorize(runtime, authorization)
        scope.setdefault("state", {})["caller"] = caller  # what request.state.caller reads
        parsed = parse_json_body(self.model, await _read_body(receive))
        answer = await self.operation(runtime, caller, parsed)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [_JSON_HEADERS, (b"content-length", str(len(answer)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer})


async def _read_body(receive: Receive) -> bytes:
    # The kit's body guard has already read (and bounded) the body; this drains its replay.
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def fast_routes(prefix: str = "/v1/eligibility") -> list[Route]:
    routes = []
    for path, model, operation in (
        ("/checks", EligibilityCheckCreate, answer_one),
        ("/checks/batch", EligibilityBatchCreate, answer_batch),
    ):
        endpoint = EligibilityEndpoint(model, operation)
        endpoint.route = Route(prefix + path, endpoint, methods=["POST"], include_in_schema=False)
        routes.append(endpoint.route)
    return routes


def install_fast_routes(app: FastAPI) -> None:
    """Put the eligibility endpoints before every other route (routes match in order)."""
    app.router.routes[0:0] = fast_routes()
