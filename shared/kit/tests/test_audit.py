"""The hash-chained audit trail: append-only in the database, tampering detected by verify."""

import subprocess
import sys
from enum import StrEnum

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from fupin_kit.audit import AuditRecord, AuditTrail, canonical, canonical_plain, verify_chain


class ReasonLike(StrEnum):
    PLAIN = "not_registered"


async def append_three(engine) -> list[int]:
    async with engine.begin() as conn:
        await AuditTrail(conn).append_many(
            [
                AuditRecord(
                    "user:a",
                    "household.read_unmasked",
                    "household",
                    str(i),
                    {"fields": ["name"], "i": i},
                )
                for i in range(3)
            ]
        )
        rows = await conn.execute(text("SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 3"))
        return sorted(r.seq for r in rows)


async def test_chain_verifies_and_refuses_update_and_delete(engine):
    seqs = await append_three(engine)
    async with engine.connect() as conn:
        assert (await verify_chain(conn)).ok
    for statement in (
        "UPDATE audit_log SET actor = 'x' WHERE seq = :s",
        "DELETE FROM audit_log WHERE seq = :s",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement), {"s": seqs[0]})


async def _tamper(engine, statement: str, seq: int) -> None:
    # Only someone able to disable the guard trigger (the table owner) can tamper at all.
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete"))
        await conn.execute(text(statement), {"s": seq})
        await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete"))


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        (
            'UPDATE audit_log SET details = \'{"fields": ["id_number"]}\' WHERE seq = :s',
            "details were changed",
        ),
        ("UPDATE audit_log SET actor = 'user:nobody' WHERE seq = :s", "does not match its hash"),
        ("DELETE FROM audit_log WHERE seq = :s", "link broken"),
    ],
)
async def test_verify_finds_edited_and_deleted_rows(engine, database_url, statement, finding):
    seqs = await append_three(engine)
    await _tamper(engine, statement, seqs[1])
    async with engine.connect() as conn:
        report = await verify_chain(conn)
    assert not report.ok
    assert any(finding in p for p in report.problems), report.problems
    cli = subprocess.run(  # noqa: ASYNC221  (the real CLI, as an operator runs it)
        [sys.executable, "-m", "fupin_kit.cli_audit", "verify", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 1 and "TAMPERED" in cli.stdout
    await _empty_chain(engine)


async def _empty_chain(engine) -> None:
    """Leave a clean chain for the other tests: the test database is private to this run."""
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await conn.execute(text("DELETE FROM audit_log"))
        await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


async def test_one_statement_appends_link_into_the_same_chain(engine, database_url):
    """``append_many_at_once`` (the server function) and ``AuditTrail.append_many`` write the
    same chain: concurrent appends from both stay linear and verify, non-ASCII details
    included, and the hashes returned are the stored ones."""
    import asyncio
    import hashlib
    import json

    import asyncpg

    from fupin_kit.audit import append_many_at_once, audit_server_settings, canonical

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connections = [
        await asyncpg.connect(dsn, server_settings=audit_server_settings()) for _ in range(3)
    ]
    try:

        def records(writer: int, round_: int) -> list[AuditRecord]:
            return [
                AuditRecord(
                    f"client:bank-{writer}",
                    "eligibility.check",
                    "member",
                    f"{writer}-{round_}-{i}",
                    {"purpose": "贴息贷款", "quote": 'a "b"\\c', "n": i, "ok": True, "x": None},
                )
                for i in range(3)
            ]

        async def writer(index: int) -> list[str]:
            hashes: list[str] = []
            for round_ in range(5):
                if index == 0:  # the ORM path, interleaved
                    async with engine.begin() as conn:
                        hashes += await AuditTrail(conn).append_many(records(index, round_))
                else:
                    hashes += await append_many_at_once(connections[index], records(index, round_))
            return hashes

        returned = await asyncio.gather(*(writer(i) for i in range(3)))
        assert await append_many_at_once(connections[1], []) == []
    finally:
        for connection in connections:
            await connection.close()
    async with engine.connect() as conn:
        assert (await verify_chain(conn)).ok
        rows = (
            await conn.execute(
                text(
                    "SELECT object_id, details::text AS details, digest, hash FROM audit_log"
                    " WHERE action = 'eligibility.check' AND object_type = 'member'"
                )
            )
        ).all()
    stored = {row.hash: row for row in rows}
    assert all(h in stored for hashes in returned for h in hashes)
    assert len(stored) == 45
    for row in rows:
        details = canonical(json.loads(row.details))
        assert row.digest == hashlib.sha256(details.encode()).hexdigest()


def test_plain_details_encode_exactly_as_canonical():
    # Every character of Unicode (surrogates aside) is escaped alike by both encoders.
    every_character = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    details = {
        "z": every_character,
        "members": ["ab" * 32, "c" * 64],
        "eligible": [True, False],
        "purpose": ReasonLike.PLAIN,
        "consent": 'A"B\\C/D',
        "nothing": None,
        "nested": {"b": [1, -2], "a": ""},
    }
    assert canonical_plain(details) == canonical(details)


def test_plain_details_with_a_lone_surrogate_take_the_canonical_encoder():
    details = {"consent": "x\ud800y"}
    assert canonical_plain(details) == canonical(details)


async def test_a_separator_inside_a_field_is_stored_as_text_and_an_edit_adding_one_is_found(
    engine,
):
    # The chain hash joins the fields with U+001F: a field holding one could be split otherwise
    # ("household" + "a\x1fb" and "household\x1fa" + "b") under the same hash.
    async with engine.begin() as conn:
        await AuditTrail(conn).append(
            AuditRecord("user:a", "dci.search", "household", "a\x1fb", {"n": 1})
        )
        stored = (
            await conn.execute(
                text("SELECT seq, object_type, object_id FROM audit_log ORDER BY seq DESC LIMIT 1")
            )
        ).one()
        assert (stored.object_type, stored.object_id) == ("household", "a\\u001fb")
        assert [e["seq"] for e in await AuditTrail(conn).entries_for("household", "a\x1fb")] == [
            stored.seq
        ]
    async with engine.connect() as conn:
        assert (await verify_chain(conn)).ok
    await _tamper(
        engine,
        "UPDATE audit_log SET object_type = 'household' || chr(31) || 'a', object_id = 'b'"
        " WHERE seq = :s",
        stored.seq,
    )
    async with engine.connect() as conn:
        report = await verify_chain(conn)
    assert any("holds the separator" in p for p in report.problems), report.problems
    await _empty_chain(engine)
