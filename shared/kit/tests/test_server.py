"""A request the HTTP parser refuses is still answered with a problem document."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn

from fupin_kit.server import HttpProtocol, ProblemH11Protocol, ProblemHttpToolsProtocol


async def ok_app(scope, receive, send) -> None:  # noqa: ANN001 - a bare ASGI app
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(protocol: type[asyncio.Protocol]) -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        ok_app, host="127.0.0.1", port=port, http=protocol, lifespan="off", log_level="critical"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def exchange(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status_line, headers, body


UNPARSEABLE = [
    pytest.param(b"FR\x01B / HTTP/1.1\r\nHost: x\r\n\r\n", id="unknown method"),
    pytest.param(b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n", id="header name with a space"),
    pytest.param(b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", id="NUL in the target"),
    pytest.param(b"GET / HTTP/9.Z\r\nHost: x\r\n\r\n", id="bad version"),
]


@pytest.mark.parametrize("protocol", [ProblemHttpToolsProtocol, ProblemH11Protocol])
@pytest.mark.parametrize("request_bytes", UNPARSEABLE)
async def test_an_unparseable_request_is_a_problem_document(protocol, request_bytes):
    async with serving(protocol) as port:
        status_line, headers, body = await exchange(port, request_bytes)
    assert status_line.startswith("HTTP/1.1 400")
    assert headers["content-type"] == "application/problem+json"
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == 400
    assert problem["type"].endswith("/malformed-request")
    assert problem["errors"][0]["pointer"] == "#/request"
    assert "not valid HTTP/1.1" in problem["errors"][0]["detail"]


async def test_a_query_string_beyond_the_parsers_limit_is_a_problem_document():
    target = b"/?q=" + b"a" * 200_000
    async with serving(HttpProtocol) as port:
        status_line, headers, body = await exchange(
            port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    assert status_line.startswith("HTTP/1.1 400")
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["errors"][0]["pointer"] == "#/request"


@pytest.mark.parametrize("protocol", [ProblemHttpToolsProtocol, ProblemH11Protocol])
async def test_a_valid_request_still_reaches_the_app(protocol):
    async with serving(protocol) as port:
        status_line, _, body = await exchange(
            port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert status_line.startswith("HTTP/1.1 200")
    assert body == b"ok"


@pytest.mark.parametrize("method", [b"FOO", b"PROPFINDX", b"get-ish"])
async def test_a_method_the_parser_does_not_know_is_not_implemented(method):
    async with serving(ProblemHttpToolsProtocol) as port:
        status_line, headers, body = await exchange(
            port, method + b" / HTTP/1.1\r\nHost: x\r\n\r\n"
        )
    assert status_line.startswith("HTTP/1.1 501"), status_line
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert (problem["status"], problem["errors"][0]["pointer"]) == (501, "#/request/method")
