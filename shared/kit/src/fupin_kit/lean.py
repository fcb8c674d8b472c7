"""Express routes for the few hot commands: plain ASGI endpoints served in front of the app's
middleware stack, while the FastAPI route that documents the same operation stays in the OpenAPI
document (and serves it wherever the express route is not installed).

FastAPI's per-request machinery (the framework's own middlewares, exception wrappers, route
matching over every route, dependency graph, parameter and response-model handling) costs more
than a whole simple request. An express route keeps everything that matters: the app's own
middlewares (request id, metrics, body guard, and whatever the service adds) in the same order
and with the same settings, its exception handlers (every error is problem+json, an unexpected
one a logged 500), bearer-token checks, request validation by the same pydantic model with the
same error pointers; it only resolves them with plain calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from re import Pattern
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette._exception_handler import _lookup_exception_handler
from starlette._utils import get_route_path, is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fupin_kit.api_docs import document_authentication
from fupin_kit.problems import Unprocessable

Model = TypeVar("Model", bound=BaseModel)


@dataclass
class ExpressRoute:
    """``method path`` served by ``endpoint`` ahead of the middleware stack. ``path`` is a
    Starlette path template; it is also the route's metrics label."""

    method: str
    path: str
    endpoint: ASGIApp
    pattern: Pattern[str] = field(init=False)
    convertors: dict[str, Any] = field(init=False)
    pipeline: ASGIApp | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.pattern, _, self.convertors = compile_path(self.path)

    def path_params(self, path: str) -> dict[str, Any] | None:
        found = self.pattern.match(path)
        if found is None:
            return None
        return {
            name: self.convertors[name].convert(value) for name, value in found.groupdict().items()
        }


class ProblemBoundary:
    """What the framework's exception layers do for a route, in one wrapper: an exception the
    endpoint raises before answering is answered by the app's handler for it (by class, most
    specific first); one without a handler, or raised after the answer started, propagates."""

    def __init__(self, app: ASGIApp, handlers: dict[Any, Callable[..., Any]]) -> None:
        self.app = app
        self.handlers = {key: value for key, value in handlers.items() if not isinstance(key, int)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sender)
        except Exception as exc:
            handler: Callable[..., Any] | None = _lookup_exception_handler(self.handlers, exc)
            if handler is None or started:
                raise
            request = Request(scope, receive)
            if is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            await response(scope, receive, sender)


class ExpressLane:
    """The outermost layer of an app with express routes: a request for one of them runs the
    app's own middlewares around ``ProblemBoundary`` and the endpoint; any other request goes
    down the app's full stack."""

    def __init__(
        self,
        stack: ASGIApp,
        routes: Sequence[ExpressRoute],
        middleware: Sequence[Middleware],
        handlers: dict[Any, Callable[..., Any]],
    ) -> None:
        self.stack = stack
        self.routes: dict[str, list[ExpressRoute]] = {}
        for route in routes:
            pipeline: ASGIApp = ProblemBoundary(route.endpoint, handlers)
            for cls, args, kwargs in reversed(middleware):
                pipeline = cls(pipeline, *args, **kwargs)
            route.pipeline = pipeline
            self.routes.setdefault(route.method, []).append(route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes.get(scope["method"], ()):
                params = route.path_params(get_route_path(scope))
                if params is not None:
                    scope["path_params"] = params
                    scope["route"] = route
                    assert route.pipeline is not None
                    await route.pipeline(scope, receive, send)
                    return
        await self.stack(scope, receive, send)


class ServiceApp(FastAPI):
    """A FastAPI app that can serve express routes (``add_express_route``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.express_routes: list[ExpressRoute] = []

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document_authentication(super().openapi(), self.routes)
        return super().openapi()

    def add_express_route(self, path: str, endpoint: ASGIApp, method: str = "POST") -> None:
        if self.middleware_stack is not None:
            raise RuntimeError("express routes are added before the app serves its first request")
        self.express_routes.append(ExpressRoute(method, path, endpoint))

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if not self.express_routes:
            return stack
        return ExpressLane(
            stack, self.express_routes, self.user_middleware, dict(self.exception_handlers)
        )


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


def require_json(request: Request) -> None:
    """Refuse a body not sent as ``application/json`` or ``application/*+json`` (422 on
    ``#/body``, as FastAPI's routes refuse it): ``text/plain``, a form, a ``+json`` type of
    another top-level type such as ``text/x+json``, or no content type at all."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    top, _, subtype = media.partition("/")
    if top != "application" or not (subtype == "json" or subtype.endswith("+json")):
        raise Unprocessable("#/body", "send the body as JSON (Content-Type: application/json)")


async def json_body(
    request: Request, model: type[Model], context: dict[str, Any] | None = None
) -> Model:
    """The request body validated by ``model``; errors as FastAPI reports them (``#/body/...``).
    Like FastAPI's routes, a body not sent as JSON is refused. ``context`` reaches the model's
    validators (configured limits)."""
    require_json(request)
    return parse_json_body(model, await request.body(), context)


def parse_json_body(model: type[Model], raw: bytes, context: dict[str, Any] | None = None) -> Model:
    """``raw`` validated by ``model``, raising the ``RequestValidationError`` FastAPI raises for a
    request body (so the kit answers the same 422 problem, pointers under ``#/body``)."""
    try:
        return model.model_validate_json(raw, context=context)
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
