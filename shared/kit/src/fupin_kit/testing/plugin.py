"""pytest plugin loaded for the whole workspace (``-p fupin_kit.testing.plugin``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from fupin_kit.auth import issue_token, new_signing_keys


@pytest.fixture(scope="session")
def signing_keys() -> tuple[str, str]:
    """An Ed25519 key pair made for this test run: (private PEM, public PEM)."""
    return new_signing_keys()


@pytest.fixture(scope="session")
def make_token(signing_keys: tuple[str, str]) -> Callable[..., str]:
    private, _ = signing_keys

    def make(
        jurisdiction: str = "22",
        *,
        scopes: list[str] | None = None,
        roles: list[str] | None = None,
        subject: str = "officer-1",
        client_id: str | None = None,
        **kw: Any,
    ) -> str:
        return issue_token(
            private,
            subject=subject,
            jurisdiction=jurisdiction,
            roles=roles or ["officer"],
            scopes=scopes or [],
            client_id=client_id,
            **kw,
        )

    return make


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return os.environ.get("FUPIN_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


@asynccontextmanager
async def api_client(app: FastAPI, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client over ASGI with the app's lifespan running."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
