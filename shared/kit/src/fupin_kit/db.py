"""SQLAlchemy 2 async base with a naming convention, engine factory and boundary-scoped sessions.

Services and repositories only ``flush()``; the request- or message-scoped session commits on
success and rolls back on error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, func, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fupin_kit.audit import audit_server_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class KitBase(DeclarativeBase):
    """Base for the kit's own tables (outbox, inbox, idempotency, audit)."""

    metadata = new_metadata()


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,  # no pre-ping: it costs a round trip on every checkout
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "fupin"}},
    )
    event.listen(engine.sync_engine, "do_connect", _with_audit_key)
    return engine


def _with_audit_key(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    """Open each connection with the process's audit key (``fupin_kit.audit``), read when it
    opens, so that the server functions appending to the audit chain can sign."""
    cparams["server_settings"] = {**cparams.get("server_settings", {}), **audit_server_settings()}


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work: commit on success, roll back on any error."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# The class of the Idempotency-Key advisory locks (two-key form: apart from one-key locks).
KEY_LOCK_CLASS = 0x1DE3
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")  # what an Idempotency-Key may be
_COMMANDS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def hold_key(session: AsyncSession, key: str) -> None:
    """Wait for any other transaction carrying the same Idempotency-Key to end, and keep others
    waiting on this one. Taken before a command loads anything: two requests reusing a key on
    different objects then queue on the key, instead of locking their objects in opposite
    orders (which PostgreSQL ends as a deadlock), and the later one meets the stored key (a
    replay or 422)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(:key))"),
        {"lock_class": KEY_LOCK_CLASS, "key": key},
    )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with session_scope(request.app.state.sessionmaker) as session:
        key = request.headers.get("idempotency-key")
        if key is not None and request.method in _COMMANDS and KEY_PATTERN.match(key):
            await hold_key(session, key)
        yield session


# scope="function": the session commits when the route function returns, before the response is
# sent, so a failed commit is answered as an error and locks are not held while it is written.
# (FastAPI's default for generator dependencies runs their exit after the response is sent.)
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def hot_path_settings(application_name: str) -> dict[str, str]:
    """Session settings of the plain asyncpg pools that serve hot statements."""
    return {
        "timezone": "UTC",
        "application_name": application_name,
        # Hot statements are key lookups, often by "= ANY($1)": one generic plan fits every
        # call, where PostgreSQL's default would plan each call anew (a custom plan for an
        # array parameter is never judged worse than the generic one), costing more CPU than
        # running the statement.
        "plan_cache_mode": "force_generic_plan",
        **audit_server_settings(),
    }


async def keep_session(connection: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query (advisory unlock, CLOSE ALL, UNLISTEN,
    RESET ALL): a round trip per request that these connections never need, since they hold no
    session state (no SET, LISTEN, cursors or session locks). An open transaction is still rolled
    back by the pool before this runs."""


class DriverConnections:
    """Plain asyncpg connections for a service's hottest statements, off the ORM session.

    Outside a transaction each statement commits by itself, so a command written as one
    statement holds its row locks only for that statement and its commit. The pool opens on
    first use; tests replace the whole object (``fupin_kit.testing``) with one that runs inside
    the test's rolled-back transaction.
    """

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn = dsn
        self.size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self._pool or await self._open()
        async with pool.acquire() as connection:
            yield connection

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=1,
                    max_size=self.size,
                    server_settings=hot_path_settings("fupin-hot-path"),
                    reset=keep_session,
                )
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
