"""Lean routes for the few hot commands: a plain Starlette route placed in front of the FastAPI
route that documents the same operation.

FastAPI's per-request machinery (dependency graph, parameter and response-model handling) costs
about as much as a whole simple request. A lean route keeps everything that matters: the kit's
middlewares (request id, metrics, body guard), its exception handlers (every error is
problem+json), bearer-token checks, request validation by the same pydantic model with the same
error pointers, but resolves them with plain calls. The FastAPI route stays in the OpenAPI
document and serves the operation wherever the lean route is not installed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from fupin_kit.problems import Unprocessable

Model = TypeVar("Model", bound=BaseModel)


class LeanRoute(Route):
    """A Starlette route that also records itself as the matched route (the metrics label)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


Answer = tuple[int, bytes, dict[str, str]]  # status, JSON body, extra headers


class LeanEndpoint:
    """A handler ``(request) -> (status, JSON bytes, headers)`` served as a plain ASGI app: no
    per-route exception wrapper and no response object, the answer written as ready bytes.
    Errors it raises reach the app's exception handlers like any route's."""

    def __init__(self, handler: Callable[[Request], Awaitable[Answer]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body, headers = await self.handler(Request(scope, receive))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *(
                        (name.encode("latin-1"), value.encode("latin-1"))
                        for name, value in headers.items()
                    ),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install_lean_route(
    app: FastAPI,
    path: str,
    endpoint: Callable[[Request], Awaitable[Response]] | LeanEndpoint,
    method: str,
) -> None:
    """Serve ``method path`` with ``endpoint`` ahead of every other route of ``app``."""
    app.router.routes.insert(0, LeanRoute(path, endpoint, methods=[method]))


async def json_body(request: Request, model: type[Model]) -> Model:
    """The request body validated by ``model``; errors as FastAPI reports them (``#/body/...``)."""
    return parse_json_body(model, await request.body())


def parse_json_body(model: type[Model], raw: bytes) -> Model:
    """``raw`` validated by ``model``, raising the ``RequestValidationError`` FastAPI raises for a
    request body (so the kit answers the same 422 problem, pointers under ``#/body``)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])}
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise RequestValidationError(errors, body=raw) from None


def path_text(request: Request, name: str, max_length: int) -> str:
    """A text path parameter of 1..max_length characters."""
    value: str = request.path_params[name]
    if not 1 <= len(value) <= max_length:
        raise Unprocessable(f"#/path/{name}", f"1 to {max_length} characters")
    return value
