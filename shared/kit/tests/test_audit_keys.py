"""The audit chain is keyed: whoever can write to the database but lacks the key cannot rewrite a
record and re-link the chain after it; rows written before the keying still verify."""

import asyncio
import base64
import hashlib
import hmac
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fupin_kit.audit import (
    DEV_AUDIT_KEYS,
    SEPARATOR,
    AuditKeys,
    AuditRecord,
    AuditTrail,
    append_many_at_once,
    audit_keys,
    audit_server_settings,
    chain_hash,
    use_audit_keys,
    verify_chain,
)
from fupin_kit.settings import ServiceSettings
from fupin_kit.testing.database import downgrade, migrated_database, upgrade

HERE = Path(__file__).resolve().parent


def new_keys(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


@pytest.fixture
def restore_keys():
    before = audit_keys()
    yield
    use_audit_keys(before)


@pytest.fixture
async def empty_chain(engine):
    await _empty(engine)
    yield engine
    await _empty(engine)  # the next tests start a chain of their own keys


async def _empty(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await conn.execute(text("DELETE FROM audit_log"))
        await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def record(i: int) -> AuditRecord:
    return AuditRecord("user:a", "household.read_unmasked", "household", str(i), {"i": i})


async def test_rows_carry_the_signing_key_and_an_hmac_under_it(empty_chain, restore_keys):
    keys = AuditKeys.parse(new_keys("k-2026"))
    use_audit_keys(keys)
    async with empty_chain.begin() as conn:
        await AuditTrail(conn).append_many([record(1), record(2)])
        rows = (
            await conn.execute(
                text(
                    "SELECT occurred_at, actor, action, object_type, object_id, digest,"
                    " prev_hash, hash, key_id FROM audit_log ORDER BY seq"
                )
            )
        ).all()
    assert [r.key_id for r in rows] == ["k-2026", "k-2026"]
    for row in rows:
        material = SEPARATOR.join(
            [
                row.prev_hash,
                row.occurred_at.astimezone(UTC).isoformat(),
                row.actor,
                row.action,
                row.object_type,
                row.object_id,
                row.digest,
            ]
        ).encode()
        expected = hmac.new(keys.keys["k-2026"], material, hashlib.sha256).hexdigest()
        assert row.hash == expected
        assert row.hash != hashlib.sha256(material).hexdigest()


async def test_the_server_function_signs_exactly_as_the_kit(
    empty_chain, database_url, restore_keys
):
    keys = AuditKeys.parse(new_keys("k-server"))
    use_audit_keys(keys)
    connection = await asyncpg.connect(
        database_url.replace("+asyncpg", "", 1), server_settings=audit_server_settings()
    )
    try:
        hashes = await append_many_at_once(connection, [record(i) for i in range(3)])
    finally:
        await connection.close()
    async with empty_chain.connect() as conn:
        report = await verify_chain(conn)
        stored = (await conn.execute(text("SELECT hash, key_id FROM audit_log ORDER BY seq"))).all()
    assert report.ok and report.checked == 3 and report.unsigned == 0, report.problems
    assert [(h, "k-server") for h in hashes] == [tuple(r) for r in stored]


async def test_a_session_without_the_key_cannot_append_through_the_server(
    empty_chain, database_url
):
    connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="holds no audit key"):
            await append_many_at_once(connection, [record(1)])
    finally:
        await connection.close()
    async with empty_chain.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM audit_log")) == 0


async def test_a_connection_of_the_kit_engine_opens_with_the_current_key(
    empty_chain, database_url, restore_keys
):
    from fupin_kit.db import create_engine

    use_audit_keys(AuditKeys.parse(new_keys("k-engine")))
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT audit_key_id()")) == "k-engine"
    finally:
        await engine.dispose()


async def _rewrite_unsigned(engine, seq: int) -> None:
    """What a database writer without the key can do: change a record, give it a plain hash and
    re-link every row after it."""
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        rows = (
            await conn.execute(
                text(
                    "SELECT seq, occurred_at, actor, action, object_type, object_id, digest,"
                    " prev_hash FROM audit_log WHERE seq >= :s ORDER BY seq"
                ),
                {"s": seq},
            )
        ).all()
        prev = rows[0].prev_hash
        for row in rows:
            actor = "user:someone-else" if row.seq == seq else row.actor
            forged = chain_hash(
                prev,
                row.occurred_at.astimezone(UTC).isoformat(),
                AuditRecord(actor, row.action, row.object_type, row.object_id, {}),
                row.digest,
            )
            await conn.execute(
                text(
                    "UPDATE audit_log SET actor = :a, prev_hash = :p, hash = :h, key_id = NULL"
                    " WHERE seq = :s"
                ),
                {"a": actor, "p": prev, "h": forged, "s": row.seq},
            )
            prev = forged
        await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


async def test_a_record_rewritten_and_relinked_without_the_key_is_found(
    empty_chain, database_url, restore_keys
):
    use_audit_keys(AuditKeys.parse(new_keys("k1")))
    async with empty_chain.begin() as conn:
        await AuditTrail(conn).append_many([record(i) for i in range(4)])
        seqs = [r.seq for r in await conn.execute(text("SELECT seq FROM audit_log ORDER BY seq"))]
    await _rewrite_unsigned(empty_chain, seqs[2])
    async with empty_chain.connect() as conn:
        report = await verify_chain(conn)
    assert not report.ok
    assert (
        f"row {seqs[2]}: not signed, though the chain is signed since row {seqs[0]}"
        in (report.problems[0])
    )
    assert len(report.problems) == 2  # both rewritten rows, and nothing else


async def test_a_record_signed_with_another_key_is_found(empty_chain, restore_keys):
    use_audit_keys(AuditKeys.parse(new_keys("k1")))
    async with empty_chain.begin() as conn:
        await AuditTrail(conn).append_many([record(1)])
    # the same key id, another key: what a guess at the key produces
    async with empty_chain.connect() as conn:
        report = await verify_chain(conn, AuditKeys.parse(new_keys("k1")))
    assert any("content does not match its hash" in p for p in report.problems), report.problems


async def test_rotation_signs_with_the_first_key_and_verifies_with_every_key(
    empty_chain, restore_keys
):
    old, new = new_keys("k-old"), new_keys("k-new")
    use_audit_keys(AuditKeys.parse(old))
    async with empty_chain.begin() as conn:
        await AuditTrail(conn).append_many([record(1)])
    use_audit_keys(AuditKeys.parse(f"{new},{old}"))
    async with empty_chain.begin() as conn:
        await AuditTrail(conn).append_many([record(2)])
        assert [r.key_id for r in await conn.execute(text("SELECT key_id FROM audit_log"))] == [
            "k-old",
            "k-new",
        ]
    async with empty_chain.connect() as conn:
        assert (await verify_chain(conn)).ok
        without_old = await verify_chain(conn, AuditKeys.parse(new))
    assert len(without_old.problems) == 1
    assert "signed with audit key 'k-old', which is not configured" in without_old.problems[0]


def test_the_cli_verifies_with_the_keys_named_and_finds_a_chain_it_cannot_verify(
    database_url, restore_keys
):
    keys = new_keys("k-cli")

    async def append() -> None:
        engine = create_async_engine(database_url)
        try:
            await _empty(engine)
            use_audit_keys(AuditKeys.parse(keys))
            async with engine.begin() as conn:
                await AuditTrail(conn).append_many([record(1), record(2)])
        finally:
            await engine.dispose()

    asyncio.run(append())

    def verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fupin_kit.cli_audit", "verify", "--database-url", database_url]
            + ["--keys-from", "TEST_AUDIT_KEYS"],
            capture_output=True,
            text=True,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "TEST_AUDIT_KEYS"} | env,
        )

    try:
        good = verify({"TEST_AUDIT_KEYS": keys})
        assert good.returncode == 0, good.stdout + good.stderr
        assert "checked 2 rows: OK" in good.stdout
        dev = verify({})
        assert dev.returncode == 1 and "TAMPERED" in dev.stdout
        assert "TEST_AUDIT_KEYS is not set" in dev.stderr
        broken = verify({"TEST_AUDIT_KEYS": "k:bm90IDMyIGJ5dGVz"})
        assert broken.returncode == 2 and "each audit key is 'id:base64(32 bytes)'" in broken.stderr
    finally:
        asyncio.run(_empty_at(database_url))


async def _empty_at(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        await _empty(engine)
    finally:
        await engine.dispose()


def test_settings_refuse_the_local_stacks_database_password_in_prod():
    keys = new_keys("p")
    local = "postgresql+asyncpg://registry:registry@127.0.0.1:5432/registry"
    with pytest.raises(ValueError, match="role's name as its password"):
        ServiceSettings(environment="prod", jwt_public_key="x", audit_keys=keys, database_url=local)
    ServiceSettings(environment="dev", database_url=local)
    for url in (
        "postgresql+asyncpg://registry:s3cret-from-vault@db:5432/registry",
        "postgresql+asyncpg://registry@db:5432/registry",  # password from PGPASSWORD or .pgpass
    ):
        ServiceSettings(environment="prod", jwt_public_key="x", audit_keys=keys, database_url=url)


def test_settings_refuse_the_dev_key_in_prod_and_a_malformed_key_anywhere():
    with pytest.raises(ValueError, match="audit_keys must be set in prod"):
        ServiceSettings(environment="prod", jwt_public_key="x", audit_keys=DEV_AUDIT_KEYS)
    ServiceSettings(environment="prod", jwt_public_key="x", audit_keys=new_keys("p"))
    with pytest.raises(ValueError, match="each audit key is"):
        ServiceSettings(audit_keys="k:c2hvcnQ=")


def test_a_chain_written_before_the_keying_still_verifies_after_the_upgrade(
    database_url, restore_keys
):
    """The rows the unkeyed server function wrote (migration 0003's head) keep their plain
    hashes; keyed rows follow them; downgrading and upgrading again keeps the chain valid."""
    ini = HERE / "alembic.ini"
    with migrated_database(database_url, ini, "keying") as url:
        dsn = url.replace("+asyncpg", "", 1)
        downgrade(ini, url, "0003")

        async def legacy_append() -> None:
            connection = await asyncpg.connect(dsn)
            try:
                now = datetime.now(UTC)
                await connection.fetchval(
                    "SELECT audit_append_many($1, $2, $3, $4, $5, $6, $7)",
                    ["user:a", "user:b"],
                    ["household.read_unmasked"] * 2,
                    ["household"] * 2,
                    ["1", "2"],
                    ['{"i":1}', '{"i":2}'],  # canonical, as the kit sends them
                    now,
                    now.isoformat(),
                )
            finally:
                await connection.close()

        asyncio.run(legacy_append())
        upgrade(ini, url)
        use_audit_keys(AuditKeys.parse(new_keys("k-after")))

        async def keyed_append_and_verify() -> tuple[int, int, list[str]]:
            connection = await asyncpg.connect(dsn, server_settings=audit_server_settings())
            try:
                await append_many_at_once(connection, [record(3)])
            finally:
                await connection.close()
            engine = create_async_engine(url)
            try:
                async with engine.connect() as conn:
                    report = await verify_chain(conn)
            finally:
                await engine.dispose()
            return report.checked, report.unsigned, report.problems

        assert asyncio.run(keyed_append_and_verify()) == (3, 2, [])
