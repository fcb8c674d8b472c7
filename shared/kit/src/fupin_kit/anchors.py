"""Anchors of the audit chain: its head copied out of the database, and checked against it.

The chain (``fupin_kit.audit``) shows an edited or deleted record by a broken link, except at
its end: whoever can write to the database could delete the newest records and leave a shorter
chain that still verifies. The relay's leader therefore queues the head (sequence number, hash)
as an ``AuditAnchored`` event on the outbox every ``audit_anchor_interval_seconds`` when it has
moved, and the event reaches the service's ``<service>.audit.v1`` topic, kept forever.
``check_anchors`` compares the table with the anchors read back from Kafka (``read_anchors``):
a row that was anchored and is gone, or no longer carries its anchored hash, is reported, and
so is an anchor of another chain (``fupin-audit verify --anchors BOOTSTRAP``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from fupin_events.audit import ANCHOR_EVENTS, AuditAnchored
from fupin_events.envelope import decode, new_event
from fupin_events.topics import audit_topic
from fupin_kit.outbox import outbox_row

_HEAD = "SELECT seq, hash, occurred_at FROM audit_log ORDER BY seq DESC LIMIT 1"
# A chain is named by its first record's hash: a chain rebuilt from its start no longer matches
# the anchors published before.
_CHAIN = "SELECT hash FROM audit_log ORDER BY seq LIMIT 1"
_QUEUE = (
    "INSERT INTO outbox (event_id, topic, key, event_type, payload)"
    " VALUES ($1, $2, $3, $4, $5::jsonb)"
)


async def queue_anchor(
    connection: Any, service: str, last_seq: int | None, topic: str | None = None
) -> int | None:
    """Queue an anchor of the chain's head on the outbox (plain asyncpg ``connection``) unless
    the head is still ``last_seq`` or the chain is empty; the anchored sequence number, or
    ``last_seq`` when nothing was queued. A service without an anchor topic queues nothing.
    ``topic`` replaces the service's ``<service>.audit.v1`` (tests)."""
    model = ANCHOR_EVENTS.get(service)
    if model is None:
        return last_seq
    head = await connection.fetchrow(_HEAD)
    if head is None or head["seq"] == last_seq:
        return last_seq
    event = new_event(
        model(
            service=service,
            chain=await connection.fetchval(_CHAIN),
            seq=head["seq"],
            hash=head["hash"],
            head_occurred_at=head["occurred_at"],
        ),
        subject=service,
    )
    row = outbox_row(event)
    await connection.execute(
        _QUEUE,
        row["event_id"],
        topic or row["topic"],
        row["key"],
        row["event_type"],
        json.dumps(row["payload"]),
    )
    return int(head["seq"])


async def read_anchors(
    bootstrap: str, service: str, *, topic: str | None = None, wait_seconds: float = 30.0
) -> list[AuditAnchored]:
    """Every anchor the service published, oldest first (the topic read to its end)."""
    topic = topic or audit_topic(service)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0:  # no such topic (a mistyped service?), no access, ...
        raise LookupError(f"topic {topic} cannot be read: Kafka error {described['error_code']}")
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        anchors: list[AuditAnchored] = []
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while [p for p in partitions if await consumer.position(p) < ends[p]]:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{topic} could not be read to its end in {wait_seconds} s")
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    data = decode(record.value).data
                    if isinstance(data, AuditAnchored):
                        anchors.append(data)
        return anchors
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class AnchorCheck:
    matched: int  # anchors of this chain, each compared with its row
    problems: list[str]


async def check_anchors(conn: AsyncConnection, anchors: Iterable[AuditAnchored]) -> AnchorCheck:
    """Compare the chain with its anchors: an anchored row that is gone (the newest rows
    deleted, when it lies past the chain's end) or changed is a problem, and so is an anchor of
    another chain: the service's topic carries only its own database's anchors, so one that
    names another first record means the chain was rebuilt from the start (or another database
    publishes under this service's name)."""
    anchors = list(anchors)
    chain = await conn.scalar(text(_CHAIN))
    ours = [a for a in anchors if a.chain == chain]
    problems: list[str] = []
    others = len(anchors) - len(ours)
    if others:
        problems.append(
            f"{others} anchors name another chain than this one (first record hash"
            f" {chain or 'none: the chain is empty'}): the chain was rebuilt from its start, or"
            " another database publishes under this service's name"
        )
    wanted = {a.seq: a for a in ours}
    if not wanted:
        return AnchorCheck(0, problems)
    rows: dict[int, str] = dict(
        (
            await conn.execute(
                text("SELECT seq, hash FROM audit_log WHERE seq = ANY(:seqs)"),
                {"seqs": list(wanted)},
            )
        ).all()
    )
    end = await conn.scalar(text("SELECT max(seq) FROM audit_log"))
    for seq in sorted(wanted):
        anchor = wanted[seq]
        stamp = anchor.head_occurred_at.isoformat()
        if seq not in rows:
            where = (
                f"the chain ends at row {end}: rows after it were deleted"
                if seq > end
                else "it was deleted"
            )
            problems.append(f"row {seq} (anchored, written {stamp}) is missing: {where}")
        elif rows[seq] != anchor.hash:
            problems.append(f"row {seq} (anchored, written {stamp}) no longer has its hash")
    return AnchorCheck(len(ours), problems)
