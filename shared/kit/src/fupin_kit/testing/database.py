"""A migrated test database per run, created with Alembic (never ``create_all``)."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url


def _admin_dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return dsn, parsed.database or "postgres"


async def _create(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop(dsn: str, name: str) -> None:
    # FORCE cannot end an autovacuum worker for a non-superuser role (one may be busy with the
    # tables a test run just filled): retry for up to 60 s, then leave the database behind with
    # a warning rather than fail a run whose tests all finished.
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(120):
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            except (asyncpg.ObjectInUseError, asyncpg.InsufficientPrivilegeError) as exc:
                error = exc
                await asyncio.sleep(0.5)
        warnings.warn(f"test database {name} was left behind: {error}", stacklevel=1)
    finally:
        await conn.close()


def upgrade(alembic_ini: Path, database_url: str, revision: str = "heads") -> None:
    config = Config(str(alembic_ini))
    config.set_main_option("script_location", str(alembic_ini.parent / "migrations"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, revision)


def downgrade(alembic_ini: Path, database_url: str, revision: str = "base") -> None:
    config = Config(str(alembic_ini))
    config.set_main_option("script_location", str(alembic_ini.parent / "migrations"))
    config.attributes["database_url"] = database_url
    command.downgrade(config, revision)


@contextmanager
def migrated_database(base_url: str, alembic_ini: Path, label: str = "test") -> Iterator[str]:
    """Create ``<db>_<label>_<random>``, migrate it to head, yield its URL, drop it after."""
    dsn, base_name = _admin_dsn(base_url)
    name = f"{base_name}_{label}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_create(dsn, name))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(alembic_ini, url)
        yield url
    finally:
        asyncio.run(_drop(dsn, name))
