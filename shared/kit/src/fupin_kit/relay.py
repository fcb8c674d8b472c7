"""The outbox relay: one leader per service database publishes committed outbox rows to Kafka.

Leadership is a PostgreSQL session advisory lock, so any number of replicas can run a relay and
exactly one publishes. Rows are sent in id order with an idempotent producer (acks=all), keyed
by aggregate id, then marked published. A crash between send and mark re-sends those rows on
the next run: duplicates on the wire, which consumers drop through their inbox.

A row Kafka refuses for good (``REFUSED_FOR_GOOD``: a message over the producer's or the topic's
size limit, an invalid topic name) would otherwise be retried forever and hold up every row
after it. It is parked instead: ``parked_at`` and ``park_reason`` are set, it is logged as an
error and counted (``fupin_outbox_parked_total``), and the rows after it go on. The broker
refuses a whole record batch at once, so the rows of a refused batch are first sent again one
by one (with a new producer: an idempotent producer's sequence numbers no longer match after a
refusal), and only a row refused on its own is parked; those rows then reach the topic after
rows that followed them (the broker had already taken those), so around such a refusal a key's
events may arrive out of order. The producer's own size check refuses an oversized row before
it is sent, which keeps the order; with the topics' defaults that is where a too-large row is
refused. Nothing is lost: clearing ``parked_at`` once the cause is fixed (say, the topic's
``max.message.bytes`` raised) queues it again. Any other failure (broker down, timeouts) keeps
the whole batch for the next attempt.

The leader also anchors the audit chain (``fupin_kit.anchors``): every ``anchor_interval``
seconds it queues the chain's head on the outbox when the head has moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from fupin_kit.anchors import queue_anchor
from fupin_kit.logging import get_logger
from fupin_kit.metrics import OUTBOX_BACKLOG, OUTBOX_PARKED, OUTBOX_PUBLISHED

log = get_logger("fupin.relay")
RELAY_LOCK_KEY = 0x0F0B1D  # advisory lock id; one database per service, so one key suffices
NOTIFY_CHANNEL = "fupin_outbox"
# Refusals that sending the same row again cannot change (once it is sent on its own).
REFUSED_FOR_GOOD = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidTopicError)
_PENDING = "published_at IS NULL AND parked_at IS NULL"


def make_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "request_timeout_ms": 15000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


# The leader lock lives in the relay's session: if the leader's host dies, the server must notice
# within seconds (not the system's two-hour keepalive) so that another replica takes over.
LEADER_SESSION_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "30000",  # ms: unacknowledged data also ends the session
}


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        bootstrap: str,
        *,
        service: str,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retain_published_days: int = 7,
        anchor_interval: float | None = None,
        anchor_topic: str | None = None,
    ) -> None:
        self.dsn = dsn
        self.bootstrap = bootstrap
        self.service = service
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retain_published_days = retain_published_days
        self.anchor_interval = anchor_interval  # None: no anchors of the audit chain
        self.anchor_topic = anchor_topic  # None: the service's <service>.audit.v1
        self._anchored_seq: int | None = None
        self.is_leader = False
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._producer: AIOKafkaProducer | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set: win leadership, then publish on notify or poll."""
        while not stop.is_set():
            try:
                await self._connect()
                if not await self._try_lead():
                    await _wait(stop, self.poll_interval * 5)
                    continue
                await self._lead(stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("relay.database_unavailable", error=str(exc))
                await self._close()
                await _wait(stop, self.poll_interval)
        await self._close()

    async def publish_pending(self) -> int:
        """Publish every committed, unpublished row now (used by the loop and by tests)."""
        total = 0
        while True:
            sent = await self._publish_batch()
            total += sent
            if sent < self.batch_size:
                return total

    async def anchor(self) -> int | None:
        """Queue an anchor of the audit chain's head unless it was anchored already; the
        anchored sequence number (used by the loop and by tests)."""
        await self._connect()
        self._anchored_seq = await queue_anchor(
            self._conn, self.service, self._anchored_seq, self.anchor_topic
        )
        return self._anchored_seq

    async def _connect(self) -> None:
        if self._conn is None or self._conn.is_closed():
            if self.is_leader:
                # The leader lock lived in the lost session: a new one does not hold it, and
                # publishing on it could run beside another replica's leader.
                self.is_leader = False
                raise ConnectionError("the relay lost its database session and leader lock")
            self._conn = await asyncpg.connect(self.dsn, server_settings=LEADER_SESSION_SETTINGS)
            await self._conn.add_listener(NOTIFY_CHANNEL, self._on_notify)

    async def _try_lead(self) -> bool:
        assert self._conn is not None
        self.is_leader = bool(
            await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY)
        )
        return self.is_leader

    async def _lead(self, stop: asyncio.Event) -> None:
        log.info("relay.leader", service=self.service)
        cleanup_every = 600.0
        cleaned_at = asyncio.get_running_loop().time()
        clock = asyncio.get_running_loop().time
        anchored_at = float("-inf")
        while not stop.is_set():
            if self._conn is None or self._conn.is_closed():
                # The leader lock lived in that session: win it again before publishing, or
                # another replica that won it meanwhile and this one would both publish.
                raise ConnectionError("the relay lost its database session and leader lock")
            if self.anchor_interval is not None and clock() - anchored_at >= self.anchor_interval:
                anchored_at = clock()
                try:
                    await self.anchor()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    raise  # database trouble: run() reconnects and wins the lock again first
                except Exception as exc:  # an anchor is missed; publishing goes on
                    log.error("relay.anchor_failed", service=self.service, error=repr(exc))
            try:
                sent = await self.publish_pending()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                raise  # database trouble: run() reconnects and wins the lock again first
            except Exception as exc:  # broker down or timing out: keep rows, retry later
                log.warning("relay.publish_failed", error=repr(exc))
                await self._drop_producer()
                await _wait(stop, self.poll_interval * 2)
                continue
            if sent == 0:
                self._wake.clear()
                await _wait_any(stop, self._wake, self.poll_interval)
            # By the clock, so that a relay that is never idle still deletes old rows.
            if clock() - cleaned_at >= cleanup_every:
                await self._delete_old_published()
                cleaned_at = clock()

    async def _publish_batch(self) -> int:
        """Send the next rows in id order; mark the sent ones, park those refused for good."""
        await self._connect()
        assert self._conn is not None
        rows = await self._conn.fetch(
            f"SELECT id, topic, key, payload FROM outbox WHERE {_PENDING}"  # noqa: S608
            " ORDER BY id LIMIT $1",
            self.batch_size,
        )
        if not rows:
            OUTBOX_BACKLOG.labels(self.service).set(0)
            return 0
        producer = await self._ensure_producer()
        sending: list[tuple[Any, asyncio.Future[Any]]] = []
        refused: list[tuple[Any, BaseException]] = []
        for row in rows:
            try:
                sending.append((row, await _send(producer, row)))
            except REFUSED_FOR_GOOD as exc:  # by the producer itself: this row alone
                refused.append((row, exc))
        suspects = []
        for row, future in sending:
            try:
                await future
            except REFUSED_FOR_GOOD:  # by the broker: this row, or its whole record batch
                suspects.append(row)
            except KafkaError:
                if not suspects:
                    raise
                # After a refusal the producer's sequence numbers no longer match, and the
                # batches after it fail for that alone: those rows are sent alone too.
                suspects.append(row)
        if suspects:
            refused += await self._send_alone(suspects)
        if refused:
            await self._park(refused)
        parked = {row["id"] for row, _ in refused}
        await self._mark_published([r["id"] for r in rows if r["id"] not in parked])
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows) - len(parked))
        backlog = await self._conn.fetchval(
            f"SELECT count(*) FROM outbox WHERE {_PENDING}"  # noqa: S608
        )
        OUTBOX_BACKLOG.labels(self.service).set(backlog)
        return len(rows)

    async def _send_alone(self, rows: list[Any]) -> list[tuple[Any, BaseException]]:
        """Send each row of refused record batches on its own, each time with a new producer
        (after a refusal an idempotent producer's sequence numbers no longer match); the rows
        refused on their own, with the reason."""
        refused: list[tuple[Any, BaseException]] = []
        for row in rows:
            await self._drop_producer()
            try:
                await (await _send(await self._ensure_producer(), row))
            except REFUSED_FOR_GOOD as exc:
                refused.append((row, exc))
        await self._drop_producer()
        return refused

    async def _park(self, refused: list[tuple[Any, BaseException]]) -> None:
        assert self._conn is not None
        for row, error in refused:
            log.error(
                "relay.event_parked",
                service=self.service,
                outbox_id=row["id"],
                topic=row["topic"],
                key=row["key"],
                reason=repr(error),
            )
        await self._conn.execute(
            "UPDATE outbox SET parked_at = now(), park_reason = r.reason"
            " FROM unnest($1::bigint[], $2::text[]) AS r(id, reason) WHERE outbox.id = r.id",
            [row["id"] for row, _ in refused],
            [repr(error)[:1000] for _, error in refused],
        )
        OUTBOX_PARKED.labels(self.service).inc(len(refused))

    async def _mark_published(self, ids: list[int]) -> None:
        assert self._conn is not None
        await self._conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids
        )

    async def close(self) -> None:
        await self._close()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = make_producer(self.bootstrap)
            await producer.start()
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), 10)
            self._producer = None

    async def _delete_old_published(self) -> None:
        assert self._conn is not None
        await self._conn.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)",
            self.retain_published_days,
        )

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _close(self) -> None:
        await self._drop_producer()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
        self.is_leader = False


async def _send(producer: AIOKafkaProducer, row: Any) -> asyncio.Future[Any]:
    """Queue one outbox row for sending; the future resolves when the broker has it."""
    payload = row["payload"]
    value = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    future: asyncio.Future[Any] = await producer.send(
        row["topic"],
        value=value,
        key=row["key"].encode(),
        headers=[("content-type", b"application/cloudevents+json")],
    )
    return future


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in waiters:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
