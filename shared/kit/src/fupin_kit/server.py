"""The HTTP server's own refusals, as problem documents like every other refusal.

uvicorn answers a request it cannot parse (a malformed request line, an unknown method, a
header beyond the parser's limits) itself, before the application sees it, with
``400 text/plain``. These protocols send the same refusal as ``application/problem+json``; a
method token the parser does not know (``FOO``, ``PROPFIND``) is answered 501 on
``#/request/method`` (RFC 9110 §15.6.2), as h11 would pass it on to the app (which answers 405).
Every service is started with ``uvicorn --http fupin_kit.server:HttpProtocol``.
"""

from __future__ import annotations

import json
import re
import sys

import h11
import httptools
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from fupin_kit.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

UNPARSEABLE_REASON = (
    "the request line or headers are not valid HTTP/1.1 (method, target, version, header "
    "syntax or size)"
)


UNKNOWN_METHOD_REASON = "the method is not one this server implements (GET, POST, PUT, PATCH, …)"
# A method token (RFC 9110 §9.1) at the start of a request line: a method the parser does not
# know (501), as against a request line that is not HTTP at all (400).
_METHOD_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+ ")


def unparseable_request_problem(message: str) -> bytes:
    """The body answered for a request the HTTP parser refused."""
    return json.dumps(
        {
            "type": PROBLEM_BASE + "malformed-request",
            "title": "The request could not be parsed",
            "status": 400,
            "detail": f"{message.rstrip('.')}: {UNPARSEABLE_REASON}",
            "errors": [{"pointer": "#/request", "detail": UNPARSEABLE_REASON}],
        },
        ensure_ascii=True,
    ).encode("ascii")


def unknown_method_problem() -> bytes:
    return json.dumps(
        {
            "type": PROBLEM_BASE + "method-not-implemented",
            "title": "Not implemented",
            "status": 501,
            "detail": UNKNOWN_METHOD_REASON,
            "errors": [{"pointer": "#/request/method", "detail": UNKNOWN_METHOD_REASON}],
        },
        ensure_ascii=True,
    ).encode("ascii")


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    _received = b""

    def data_received(self, data: bytes) -> None:
        self._received = data  # what the parser may refuse: its method is read from it
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        # Called while the parser's error is being handled: an unknown method token is a 501.
        error = sys.exc_info()[1]
        status = 400
        if isinstance(error, httptools.HttpParserInvalidMethodError) and _METHOD_TOKEN.match(
            self._received
        ):
            status, body = 501, unknown_method_problem()
        else:
            body = unparseable_request_problem(msg)
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: " + PROBLEM_MEDIA_TYPE.encode("ascii") + b"\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = unparseable_request_problem(msg)
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode("ascii")),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        response = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        self.transport.write(self.conn.send(response) or b"")
        self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
        self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        self.transport.close()


# httptools is part of uvicorn[standard], which the kit depends on; it is uvicorn's own default.
HttpProtocol = ProblemHttpToolsProtocol
