"""Fixtures every service's ``tests/conftest.py`` binds with ``globals().update(...)``.

Each service gets its own session-scoped fixtures (its own migrated database), so one pytest run
covers the whole workspace without fixtures leaking between services.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from fupin_kit.db import create_engine
from fupin_kit.settings import ServiceSettings
from fupin_kit.testing.database import migrated_database
from fupin_kit.testing.plugin import api_client

# The outer transaction of a rolled-back test never commits, so deferred constraints and
# constraint triggers would never run: check them at the end of each statement instead, as the
# commit of a request's own transaction would. (Tests of the commit itself use real commits.)
IMMEDIATE = text("SET CONSTRAINTS ALL IMMEDIATE")


class SavepointDriverConnections:
    """``DriverConnections`` inside a rolled-back test: the test's own connection, each use in a
    savepoint (so a refused statement leaves the test's transaction usable)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self.connection.begin_nested():
            raw = await self.connection.get_raw_connection()
            yield raw.driver_connection

    async def close(self) -> None:
        return None


def service_fixtures(
    *,
    env_prefix: str,
    settings_cls: type[ServiceSettings],
    create_app: Callable[[Any], FastAPI],
    service_dir: Path,
) -> dict[str, Any]:
    @pytest.fixture(scope="session")
    def database_url() -> Iterator[str]:
        base = os.environ.get(f"{env_prefix}_DATABASE_URL") or settings_cls().database_url
        with migrated_database(base, service_dir / "alembic.ini") as url:
            yield url

    @pytest.fixture(scope="session")
    def settings(
        database_url: str, signing_keys: tuple[str, str], kafka_bootstrap: str
    ) -> ServiceSettings:
        return settings_cls(
            database_url=database_url,
            jwt_public_key=signing_keys[1],
            kafka_bootstrap=kafka_bootstrap,
            run_relay=False,
            run_consumers=False,
            environment="test",
            log_json=False,
        )

    @pytest.fixture(scope="session")
    async def engine(settings: ServiceSettings) -> AsyncIterator[AsyncEngine]:
        engine = create_engine(settings.database_url, pool_size=5)
        yield engine
        await engine.dispose()

    @pytest.fixture
    async def db_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
        """A session whose work is rolled back after the test (commits become savepoints)."""
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(IMMEDIATE)
            session = AsyncSession(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            try:
                yield session
            finally:
                await session.close()
                await transaction.rollback()

    @pytest.fixture
    async def app(settings: ServiceSettings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
        """The app with every request inside one outer transaction, rolled back after the test."""
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(IMMEDIATE)
            application = create_app(settings)
            application.state.engine = engine
            application.state.sessionmaker = async_sessionmaker(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            )
            application.state.driver_connections = SavepointDriverConnections(connection)
            try:
                yield application
            finally:
                await transaction.rollback()

    @pytest.fixture
    async def client(
        app: FastAPI, make_token: Callable[..., str]
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with api_client(
            app, make_token("22", scopes=["pii:read"], roles=["officer", "admin"])
        ) as c:
            yield c

    @pytest.fixture
    async def committed_client(settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
        """A client whose requests really commit (for concurrency tests); no token set."""
        async with api_client(create_app(settings)) as c:
            yield c

    return {
        "database_url": database_url,
        "settings": settings,
        "engine": engine,
        "db_session": db_session,
        "app": app,
        "client": client,
        "committed_client": committed_client,
    }
