"""Exception handlers: every error leaves as ``application/problem+json``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from fupin_kit.logging import get_logger
from fupin_kit.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, FieldError, ProblemError

log = get_logger("fupin.errors")

BODY_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's words, matched exactly


def log_refusal(request: Request, status: int, kind: str) -> None:
    """A refused request, with who sent it (when the token was read): the audit trail records
    what was done, this records who was turned away (a rate limit, bad input, a missing
    scope)."""
    caller = getattr(request.state, "caller", None)
    # A logger of the current configuration (not the module's, bound on its first use).
    get_logger("fupin.errors").info(
        "request.refused",
        status=status,
        problem=kind,
        method=request.method,
        path=request.url.path,
        actor=getattr(caller, "actor", None),
    )


def problem_response(request: Request, problem: ProblemError) -> JSONResponse:
    if problem.status < 500:
        log_refusal(request, problem.status, problem.slug)
    body = problem.to_problem(request.url.path)
    if problem.errors is None:
        implied = _implied_errors(request, problem)
        if implied is not None:
            body["errors"] = [error.model_dump(exclude_none=True) for error in implied]
    return JSONResponse(
        body,
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


def _implied_errors(request: Request, exc: ProblemError) -> list[FieldError] | None:
    """What a refusal that names no field is about. A missing or bad token, a role, scope or
    jurisdiction the token lacks and a client's exhausted rate are the Authorization header's
    (a public route's rate is the client's address). An object not found is the one the path
    names (its last path parameter; a loader of another parameter names its own), or the path
    itself on a route without parameters. A conflict is about the object the path names (an
    illegal transition, a suspended case, an entry already reversed) or, on a route without
    one, about the body sent (a fund, a loan, a partner already registered)."""
    detail = exc.detail or exc.title
    names = list(request.path_params)
    if exc.status in (401, 403) or (exc.status == 429 and "authorization" in request.headers):
        pointer = "#/header/Authorization"
    elif exc.status == 429:
        pointer = "#/request/client"
    elif exc.status == 404:
        pointer = f"#/path/{names[-1]}" if names else "#/path"
    elif exc.status == 409:
        pointer = f"#/path/{names[-1]}" if names else "#/body"
    else:
        return None
    return [FieldError(pointer=pointer, detail=detail)]


# FastAPI's words for a form field where a file was expected, matched exactly.
_NOT_A_FILE = "Expected UploadFile, received:"
# Pydantic's mark on the location of a mapping's key that failed (the key itself is named).
_KEY_MARK = "[key]"


def _pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    """An RFC 6901 pointer: each part escaped, a key's mark left out."""
    return "#/" + "/".join(
        str(part).replace("~", "~0").replace("/", "~1") for part in loc if part != _KEY_MARK
    )


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        detail = error.get("msg", "invalid")
        loc = error.get("loc", ())
        if error.get("type") == "extra_forbidden":
            detail = "unknown field"
        elif _NOT_A_FILE in detail:
            # A multipart part without a filename is a form field to Starlette, not a file.
            detail = "expected a file: send it as a part with a filename"
        elif error.get("type") == "json_invalid":
            # FastAPI locates a JSON syntax error at ("body", <character offset>): not a field.
            reason = (error.get("ctx") or {}).get("error") or "not JSON"
            offset = loc[1] if len(loc) > 1 else None
            detail = f"the body is not valid JSON: {reason}" + (
                f" (at character {offset})" if isinstance(offset, int) else ""
            )
            loc = ("body",)
        errors.append({"pointer": _pointer(loc), "detail": detail})
    body = {
        "type": PROBLEM_BASE + "validation-error",
        "title": "The request is not valid",
        "status": 422,
        "detail": "; ".join(f"{e['pointer']}: {e['detail']}" for e in errors[:5]),
        "instance": request.url.path,
        "errors": errors,
    }
    log_refusal(request, 422, "validation-error")
    return JSONResponse(body, status_code=422, media_type=PROBLEM_MEDIA_TYPE)


async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
    return problem_response(request, exc)


def _unreadable_body(cause: BaseException) -> str:
    """Why FastAPI could not parse a JSON body (it answers only "There was an error parsing
    the body", with the parser's exception as the cause)."""
    if isinstance(cause, RecursionError):
        return "the JSON is nested too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number has too many digits"
    return "the body is not JSON this service can read"


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if isinstance(exc.__cause__, ProblemError):
        # The body guard's refusal (an upload over the limit) raised while FastAPI read a form.
        return problem_response(request, exc.__cause__)
    if exc.status_code == 400 and exc.__cause__ is not None and exc.detail == BODY_PARSE_ERROR:
        return await _validation(
            request,
            RequestValidationError(
                [{"loc": ("body",), "msg": _unreadable_body(exc.__cause__), "type": "unreadable"}]
            ),
        )
    detail = str(exc.detail)
    if exc.status_code == 400:
        # The framework's only 400: a multipart body it could not parse (no boundary, broken
        # parts, a part without a name). Refused like any unreadable body.
        return await _validation(
            request,
            RequestValidationError(
                [
                    {
                        "loc": ("body",),
                        "msg": f"the multipart form cannot be read: {detail}",
                        "type": "unreadable",
                    }
                ]
            ),
        )
    slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}.get(
        exc.status_code, "http-error"
    )
    # What such a refusal is about: a body the framework could not parse (a broken multipart
    # form), a path no route serves, a method the path does not take.
    pointer = {400: "#/body", 404: "#/path", 405: "#/request/method"}.get(exc.status_code)
    problem = ProblemError(
        detail,
        status=exc.status_code,
        slug=slug,
        title=_title(exc.status_code),
        errors=None if pointer is None else [FieldError(pointer=pointer, detail=detail)],
    )
    problem.headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        # Starlette names the methods of the first route of the path only; a path served by
        # several routes (GET and POST of a collection) takes them all.
        problem.headers = {**(problem.headers or {}), "Allow": ", ".join(_allowed(request))}
    return problem_response(request, problem)


def _allowed(request: Request) -> list[str]:
    """The methods the routes of the request's path take."""
    methods: set[str] = set()
    for route in iter_route_contexts(list(request.app.routes)):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


# SQLSTATE class 22, "data exception": a value the database cannot store (numeric overflow,
# a string too long, an invalid date). The driver reports several of these only as a generic
# DBAPIError (numeric overflow, for one), so the class is read from the error itself.
DATA_EXCEPTION_CLASS = "22"


# SQLSTATE class 40, "transaction rollback" (a deadlock, a serialization failure), and 55P03,
# "lock not available": the request met a concurrent one, its transaction was rolled back whole,
# and the same request sent again can succeed (with its Idempotency-Key, once).
TRANSACTION_ROLLBACK_CLASS = "40"
LOCK_NOT_AVAILABLE = "55P03"


async def _driver_error(request: Request, exc: DBAPIError) -> JSONResponse:
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    if sqlstate.startswith(DATA_EXCEPTION_CLASS):
        return await _data_error(request, exc)
    if sqlstate.startswith(TRANSACTION_ROLLBACK_CLASS) or sqlstate == LOCK_NOT_AVAILABLE:
        return await _concurrent_request(request, sqlstate)
    return await _unhandled(request, exc)


async def _driver_rolled_back(request: Request, exc: asyncpg.PostgresError) -> JSONResponse:
    return await _concurrent_request(request, str(exc.sqlstate))


async def _concurrent_request(request: Request, sqlstate: str) -> JSONResponse:
    log.warning("request.rolled_back", sqlstate=sqlstate)
    problem = ProblemError(
        "the request met a concurrent change and nothing of it was written; send it again",
        status=503,
        slug="concurrent-change",
        title="Try again",
        headers={"Retry-After": "1"},
    )
    return problem_response(request, problem)


_QUERY_ARGUMENT = re.compile(r"^invalid input for query argument \$\d+: ")


def database_reason(exc: BaseException) -> str:
    """The server's own words for a refused value ("numeric field overflow"), from the asyncpg
    error however the driver wrapped it; they hold no other row's data."""
    seen: list[BaseException | None] = [exc]
    orig = getattr(exc, "orig", None)
    seen += [orig, getattr(orig, "__cause__", None), exc.__cause__]
    for candidate in seen:
        if isinstance(candidate, asyncpg.PostgresError) and candidate.args:
            # asyncpg's own refusals number the statement's arguments: not the client's concern.
            return _QUERY_ARGUMENT.sub("invalid value ", str(candidate.args[0]).splitlines()[0])[
                :200
            ]
    return "the database refused a value"


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # Values the schema let through but the database refused (out of range and the like). Which
    # field it was the database does not say: the pointer names where the request's values are.
    reason = database_reason(exc)
    log.warning("request.data_error", error=reason)
    where = "#/body" if request.method in ("POST", "PUT", "PATCH") else "#/query"
    problem = ProblemError(
        "a value is out of the range the database can store",
        status=422,
        slug="validation-error",
        title="The request is not valid",
        errors=[FieldError(pointer=where, detail=reason)],
    )
    return problem_response(request, problem)


IntegrityTranslator = Callable[[BaseException], ProblemError | None]


async def _integrity(
    request: Request, exc: IntegrityError | asyncpg.IntegrityConstraintViolationError
) -> JSONResponse:
    # A service may name the problem behind its own constraints (for example one a deferred
    # trigger raises at commit): ``app.state.integrity_problems`` is a list of translators.
    for translate in getattr(request.app.state, "integrity_problems", ()):
        problem = translate(exc)
        if problem is not None:
            return problem_response(request, problem)
    log.warning("request.integrity_error", error=str(getattr(exc, "orig", exc)))
    return problem_response(
        request,
        ProblemError(
            "the change conflicts with existing data", status=409, slug="conflict", title="Conflict"
        ),
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request.unhandled", path=request.url.path)
    problem = ProblemError(
        "an internal error occurred; it has been logged",
        status=500,
        slug="internal",
        title="Internal error",
    )
    return problem_response(request, problem)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(ProblemError, _problem)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(DBAPIError, _driver_error)  # type: ignore[arg-type]
    app.add_exception_handler(asyncpg.DataError, _data_error)
    app.add_exception_handler(IntegrityError, _integrity)  # type: ignore[arg-type]
    # Statements run on the driver's own connection (batched postings) raise asyncpg's errors.
    app.add_exception_handler(
        asyncpg.IntegrityConstraintViolationError,
        _integrity,  # type: ignore[arg-type]
    )
    for rolled_back in (asyncpg.TransactionRollbackError, asyncpg.LockNotAvailableError):
        app.add_exception_handler(rolled_back, _driver_rolled_back)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unhandled)
