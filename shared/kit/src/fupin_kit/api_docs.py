"""What every operation's OpenAPI entry says about authentication.

An operation whose dependencies authenticate the caller (``current_caller``, directly or under
another dependency such as ``require_scopes``) is documented with the bearer scheme (so the
docs page's Authorize button sends the token) and with the 401 and 403 answers it can give,
whatever its route declares: a missing or expired token, a partner client's token on an office
route, a reader's token on a command or a missing scope. A route that authenticates in its own
way (the eligibility checks' and the DCI API's) documents its 401, and gets the scheme too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from fupin_kit.auth import current_caller
from fupin_kit.problems import PROBLEM_MEDIA_TYPE, Problem

BEARER_SCHEME = "bearerAuth"
_PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
AUTH_ANSWERS = {
    "401": {
        "description": "Problem: the bearer token is missing, malformed, expired or not signed"
        " by the configured issuer",
        "content": _PROBLEM_CONTENT,
    },
    "403": {
        "description": "Problem: the token lacks a role, scope or jurisdiction the operation"
        " needs (a reader's token on a command, a partner client's token on an office route)",
        "content": _PROBLEM_CONTENT,
    },
}


def authenticates(dependant: Dependant) -> bool:
    """Whether resolving these dependencies authenticates the caller."""
    return any(sub.call is current_caller or authenticates(sub) for sub in dependant.dependencies)


def document_authentication(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Add the bearer scheme, and on each authenticating operation its use and its 401 and 403
    answers (those a route documents itself are kept)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "an EdDSA-signed token: `uv run fupin-token issue --help`",
    }
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = components.setdefault("schemas", {})
    for name, definition in {**problem.pop("$defs", {}), "Problem": problem}.items():
        schemas.setdefault(name, definition)
    paths = schema.get("paths", {})
    # Routes of included routers as FastAPI's own schema walks them: prefixes and the
    # routers' dependencies applied.
    for route in iter_route_contexts(list(routes)):
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema):
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            # A route that authenticates in its own way says so by documenting its 401.
            if not (authenticates(route.dependant) or "401" in operation.get("responses", {})):
                continue
            operation.setdefault("security", [{BEARER_SCHEME: []}])
            answers = operation.setdefault("responses", {})
            for status, answer in AUTH_ANSWERS.items():
                answers.setdefault(status, answer)
