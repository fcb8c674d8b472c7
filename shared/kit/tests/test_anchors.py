"""Anchors of the audit chain against real PostgreSQL and Kafka: the relay's leader copies the
chain's head to Kafka, and deleting the newest records, which leaves a chain that still
verifies, is found by comparing the table with the anchors."""

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import text

from fupin_events.audit import TeamsAuditAnchored
from fupin_kit.anchors import check_anchors, read_anchors
from fupin_kit.audit import AuditRecord, AuditTrail, verify_chain
from fupin_kit.relay import OutboxRelay
from fupin_kit.testing.kafka import create_topics, unique_topic

pytestmark = pytest.mark.kafka


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _append(engine, count: int) -> list[int]:
    async with engine.begin() as conn:
        await AuditTrail(conn).append_many(
            [AuditRecord("user:a", "test.anchor", "thing", str(i), {"i": i}) for i in range(count)]
        )
        rows = await conn.execute(
            text("SELECT seq FROM audit_log ORDER BY seq DESC LIMIT :n"), {"n": count}
        )
        return sorted(r.seq for r in rows)


async def _anchors_queued(engine, topic: str) -> tuple[int, int]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT count(*), count(published_at) FROM outbox WHERE topic = :t"),
                {"t": topic},
            )
        ).one()
    return row[0], row[1]


async def test_the_leader_anchors_the_head_once_per_move_and_a_deleted_tail_is_found(
    engine, database_url, kafka_bootstrap
):
    topic = unique_topic("anchors")
    await create_topics(kafka_bootstrap, [topic])
    seqs = await _append(engine, 3)
    relay = OutboxRelay(
        dsn(database_url),
        kafka_bootstrap,
        service="teams",
        poll_interval=0.1,
        anchor_interval=0.2,
        anchor_topic=topic,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        # Generous waits: on a loaded machine the relay's producer can take seconds to connect.
        for _ in range(600):
            if await _anchors_queued(engine, topic) == (1, 1):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.6)  # more intervals pass; the head has not moved
        assert await _anchors_queued(engine, topic) == (1, 1)
        later = await _append(engine, 2)  # the head moves: the next interval anchors it
        for _ in range(600):
            if await _anchors_queued(engine, topic) == (2, 2):
                break
            await asyncio.sleep(0.1)
        assert await _anchors_queued(engine, topic) == (2, 2)
    finally:
        stop.set()
        await running

    anchors = await read_anchors(kafka_bootstrap, "teams", topic=topic)
    assert [a.seq for a in anchors] == [seqs[-1], later[-1]]
    async with engine.connect() as conn:
        hashes = dict((await conn.execute(text("SELECT seq, hash FROM audit_log"))).all())
        assert [a.hash for a in anchors] == [hashes[seqs[-1]], hashes[later[-1]]]
        checked = await check_anchors(conn, anchors)
        assert checked.matched == 2 and checked.problems == []

    # Someone able to disable the guard trigger deletes the newest records.
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete"))
        await conn.execute(text("DELETE FROM audit_log WHERE seq >= :s"), {"s": later[0]})
        await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete"))
    async with engine.connect() as conn:
        assert (await verify_chain(conn)).ok  # the shorter chain still links up
        problems = (await check_anchors(conn, anchors)).problems
    assert len(problems) == 1 and f"row {later[-1]}" in problems[0]
    assert "rows after it were deleted" in problems[0]

    cli = subprocess.run(  # noqa: ASYNC221  (the real CLI, as an operator runs it)
        [
            sys.executable,
            "-m",
            "fupin_kit.cli_audit",
            "verify",
            "--database-url",
            database_url,
            "--anchors",
            kafka_bootstrap,
            "--service",
            "teams",
            "--topic",
            topic,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "rows after it were deleted" in cli.stdout
    assert "and 2 anchors of this chain (2 read): TAMPERED" in cli.stdout


async def test_a_changed_anchored_record_and_an_anchor_of_another_chain_are_found(engine):
    seqs = await _append(engine, 2)
    async with engine.connect() as conn:
        chain = await conn.scalar(text("SELECT hash FROM audit_log ORDER BY seq LIMIT 1"))
        head = (
            await conn.execute(
                text("SELECT seq, occurred_at FROM audit_log WHERE seq = :s"), {"s": seqs[-1]}
            )
        ).one()

    def anchor(of_chain: str, seq: int) -> TeamsAuditAnchored:
        return TeamsAuditAnchored(
            service="teams", chain=of_chain, seq=seq, hash="0" * 64, head_occurred_at=head[1]
        )

    async with engine.connect() as conn:
        [problem] = (await check_anchors(conn, [anchor(chain, head[0])])).problems
        # A chain rebuilt from its start (every row deleted, new rows appended from the genesis)
        # no longer has the first record the earlier anchors name.
        rebuilt = await check_anchors(conn, [anchor("f" * 64, head[0] + 1000)])
    assert f"row {head[0]}" in problem and "no longer has its hash" in problem
    assert rebuilt.matched == 0
    [other] = rebuilt.problems
    assert "1 anchors name another chain" in other and "rebuilt" in other
