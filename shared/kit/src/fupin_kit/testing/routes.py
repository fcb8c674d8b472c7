"""Every operation an app publishes, for tests that call each one of them."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import FastAPI

from fupin_kit.auth import PARTNER_REFUSAL
from fupin_kit.testing.plugin import api_client

_PARAMETER = re.compile(r"\{[^}]+\}")
# Fills every path parameter: a well-formed UUID, which no object has.
ABSENT_ID = "00000000-0000-4000-8000-000000000000"
__all__ = ["ABSENT_ID", "PARTNER_REFUSAL", "answers_to_partner", "operations"]


def operations(app: FastAPI) -> Iterator[tuple[str, str, str]]:
    """(method, path template, path with every parameter filled) of the app's OpenAPI."""
    for template, item in app.openapi()["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method.upper(), template, _PARAMETER.sub(ABSENT_ID, template)


Operation = tuple[str, str]  # method, path template


async def answers_to_partner(app: FastAPI, token: str) -> tuple[set[Operation], set[Operation]]:
    """Every operation called with a partner client's ``token``: the (method, path template)
    pairs refused as partner-only-for-staff, and those answered otherwise."""
    refused: set[Operation] = set()
    answered: set[Operation] = set()
    async with api_client(app, token) as partner:
        for method, template, path in operations(app):
            response = await partner.request(method, path, json={})
            is_refusal = response.status_code == 403 and response.json().get("detail") == (
                PARTNER_REFUSAL
            )
            (refused if is_refusal else answered).add((method, template))
    return refused, answered
