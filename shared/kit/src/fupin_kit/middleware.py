"""Pure ASGI middlewares: request context + metrics, and the body guard.

The body guard enforces the request-size limit (413), rejects NUL bytes anywhere a client can
put them (422 naming the field: PostgreSQL text cannot hold them) and invalid UTF-8 in JSON
bodies. File uploads (multipart, to an operation the OpenAPI document declares as taking one) are
counted, never buffered, so large spreadsheets stream through in bounded memory; any other body
is held to the smaller limit, whatever its content type says.

Paths that must answer in a standard's own error format rather than problem+json register a
responder: ``app.state.guard_responders`` maps a path prefix to ``responder(scope, problem)``,
which returns the ASGI response to send instead.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fupin_kit.metrics import REQUEST_SECONDS, REQUESTS
from fupin_kit.problems import FieldError, PayloadTooLarge, ProblemError, Unprocessable

UPLOAD_TYPE = "multipart/form-data"
_PARAMETER = re.compile(r"\\\{[^}]*\\\}")


# The method and path of the request being served: an Idempotency-Key names one request, so the
# fingerprint of a command includes them (``fupin_kit.idempotency.fingerprint``).
REQUEST_LINE: ContextVar[tuple[str, str] | None] = ContextVar("fupin_request_line", default=None)


def _upload_operations(app: Any) -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of the operations whose request body is a multipart upload."""
    found = []
    for template, item in app.openapi().get("paths", {}).items():
        for method, operation in item.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if isinstance(content, dict) and UPLOAD_TYPE in content:
                pattern = _PARAMETER.sub("[^/]+", re.escape(template))
                found.append((method.upper(), re.compile(f"^{pattern}$")))
    return found


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # The labelled metric children, kept: ``labels()`` costs more than the observation.
        self._counts: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_id = headers.get(b"x-request-id", b"")
        request_id = (
            raw_id.decode("latin-1")[:64] if raw_id.isascii() and raw_id else os.urandom(16).hex()
        )
        structlog.contextvars.bind_contextvars(request_id=request_id)
        request_line = REQUEST_LINE.set((scope["method"], scope["path"]))
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            key = (scope["method"], template, str(status))
            count = self._counts.get(key)
            if count is None:
                count = self._counts[key] = REQUESTS.labels(self.service, *key)
            count.inc()
            timer = self._timers.get(template)
            if timer is None:
                timer = self._timers[template] = REQUEST_SECONDS.labels(self.service, template)
            timer.observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")
            REQUEST_LINE.reset(request_line)


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes
        self._uploads: list[tuple[str, re.Pattern[str]]] | None = None  # read at first use

    def _takes_upload(self, scope: Scope) -> bool:
        if self._uploads is None:
            app = scope.get("app")
            self._uploads = _upload_operations(app) if hasattr(app, "openapi") else []
        method, path = scope["method"], scope["path"]
        return any(m == method and p.match(path) for m, p in self._uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_target(scope)
        except ProblemError as problem:
            await _refuse(scope, receive, send, problem)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        media = content_type.partition(";")[0].strip()
        # The larger limit only where an upload is expected: a JSON route is read whole before
        # its dependencies (the token check among them) run.
        streamed = media == UPLOAD_TYPE and self._takes_upload(scope)
        limit = self.max_upload if streamed else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, PayloadTooLarge(f"the body exceeds {limit} bytes"))
            return
        if streamed:
            await self.app(scope, _counting(receive, limit), send)
            return
        try:
            body = await _read_all(receive, limit)
            if media == "application/json" or media.endswith("+json") or not media:
                _check_json_text(body)
        except ProblemError as problem:
            await _refuse(scope, receive, send, problem)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _check_target(scope: Scope) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if b"%00" in raw_path or b"\x00" in raw_path:
            raise Unprocessable("#/path", "NUL bytes are not allowed")
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if "\x00" in value or "\x00" in name:
                    raise Unprocessable(
                        f"#/query/{name.replace(chr(0), '')}", "NUL bytes are not allowed"
                    )
            raise Unprocessable("#/query", "NUL bytes are not allowed")


# A \uD800-\uDFFF escape: half of a pair, or (alone) a code point no text can hold.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _check_json_text(body: bytes) -> None:
    if b"\x00" in body:
        raise Unprocessable("#/body", "NUL bytes are not allowed")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unprocessable("#/body", f"the body is not valid UTF-8 (byte {exc.start})") from exc
    if "\\u0000" in text or _SURROGATE_ESCAPE.search(text):
        try:
            document = json.loads(text)
            found = _find_unstorable(document, "#/body")
        except ValueError:
            return  # malformed JSON is reported by request validation
        except RecursionError as exc:
            raise Unprocessable("#/body", "the body nests too deeply") from exc
        if found:
            raise Unprocessable(*found)


def _unstorable(text: str) -> str | None:
    if "\x00" in text:
        return "NUL bytes are not allowed in strings"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone UTF-16 surrogate (\\ud800-\\udfff) is not a character"
    return None


def _find_unstorable(node: Any, pointer: str) -> tuple[str, str] | None:
    if isinstance(node, str):
        reason = _unstorable(node)
        return (pointer, reason) if reason else None
    if isinstance(node, dict):
        for key, value in node.items():
            reason = _unstorable(key)
            if reason:
                return pointer, reason
            found = _find_unstorable(value, f"{pointer}/{key}")
            if found:
                return found
    if isinstance(node, list):
        for index, value in enumerate(node):
            found = _find_unstorable(value, f"{pointer}/{index}")
            if found:
                return found
    return None


async def _read_all(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > limit:
            raise PayloadTooLarge(f"the upload exceeds {limit} bytes")
        return message

    return counted


GuardResponder = Callable[[Scope, ProblemError], ASGIApp]


async def _refuse(scope: Scope, receive: Receive, send: Send, problem: ProblemError) -> None:
    state = getattr(scope.get("app"), "state", None)
    responders: dict[str, GuardResponder] = getattr(state, "guard_responders", None) or {}
    path = scope.get("path", "")
    for prefix, responder in responders.items():
        if path.startswith(prefix):
            await responder(scope, problem)(scope, receive, send)
            return
    await _send_problem(scope, send, problem)


async def _send_problem(scope: Scope, send: Send, problem: ProblemError) -> None:
    body = json.dumps(problem.to_problem(scope.get("path"))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": problem.status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


__all__ = ["BodyGuardMiddleware", "FieldError", "GuardResponder", "RequestContextMiddleware"]
