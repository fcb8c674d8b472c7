"""Inbox and consumer runner: at-least-once delivery, exactly-once effects.

Each message is handled in one database transaction that first records
``(consumer, event_id)`` in the inbox; a duplicate finds the row and is skipped. Offsets are
committed only after the database commit. A message that cannot be decoded, or whose handler
keeps failing after retries with backoff, goes to the service's dead-letter topic with the error
in its headers, and the consumer carries on. A failure of the database or the network, not of
the event (connection lost, serialization conflict, server shutting down), is never
dead-lettered: the consumer stops without committing the offset, backs off and reads the message
again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import sqlalchemy.exc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fupin_events.envelope import CloudEvent, decode
from fupin_kit.db import session_scope
from fupin_kit.logging import get_logger
from fupin_kit.metrics import CONSUMER_LAG, INBOX_PROCESSED
from fupin_kit.models import InboxEvent
from fupin_kit.relay import make_producer

log = get_logger("fupin.consumer")

Handler = Callable[[AsyncSession, CloudEvent[Any]], Awaitable[None]]

# SQLSTATE classes of failures that are the database's, not the event's: connection exception,
# transaction rollback (serialization failure, deadlock), insufficient resources, operator
# intervention (shutdown, crash recovery).
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})
QUERY_CANCELED = "57014"
# Longest a batch runs between offset commits: a run of failing records (each retried, then
# dead-lettered) must not outlast the group's poll interval without committing its progress.
COMMIT_EVERY_SECONDS = 5.0
# Longest a batch runs before the consumer polls again: the group's limit between polls
# (max_poll_interval_ms, 300 s) counts from the last poll, not the last commit, so a long run of
# failing records (each retried with backoff) stops here, commits what it did, and seeks back to
# the first record it did not handle; the next poll fetches it again.
POLL_BUDGET_SECONDS = 60.0


def is_transient(error: BaseException) -> bool:
    """Whether retrying later can succeed: the database or the network failed, not the event."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current,
            OSError
            | TimeoutError
            | asyncpg.InterfaceError
            # the connection pool was exhausted or a pooled connection was found dead
            | sqlalchemy.exc.TimeoutError
            | sqlalchemy.exc.DisconnectionError,
        ):
            return True
        if getattr(current, "connection_invalidated", False):
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(
            getattr(current, "orig", None), "sqlstate", None
        )
        if isinstance(sqlstate, str) and sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES:
            # A statement cancelled by its timeout (57014) would fail the same way again: the
            # event is dead-lettered after its attempts rather than block the consumer forever.
            return sqlstate != QUERY_CANCELED
        current = current.__cause__ or getattr(current, "orig", None)
    return False


class InboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, consumer: str, event: CloudEvent[Any], record: ConsumerRecord) -> bool:
        """Record the event as processed by ``consumer``; False if it already was."""
        result = await self.session.execute(
            insert(InboxEvent)
            .values(
                consumer=consumer,
                event_id=event.id,
                event_type=event.type,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
            .returning(text("1"))
        )
        return result.first() is not None


class EventConsumer:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        sessionmaker: async_sessionmaker[AsyncSession],
        bootstrap: str,
        dead_letter_topic: str,
        group_id: str | None = None,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        batch_size: int = 200,
    ) -> None:
        self.name = name
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.sessionmaker = sessionmaker
        self.bootstrap = bootstrap
        self.dead_letter_topic = dead_letter_topic
        self.group_id = group_id or name
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.batch_size = batch_size
        self.consumer: AIOKafkaConsumer | None = None
        self._dead_letters: AIOKafkaProducer | None = None  # made at each start
        self.assigned = asyncio.Event()

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self.bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=10000,
            heartbeat_interval_ms=1000,
        )
        await self.consumer.start()
        # A stopped aiokafka producer cannot start again: a new one after every restart.
        self._dead_letters = make_producer(self.bootstrap)
        await self._dead_letters.start()

    async def stop(self) -> None:
        if self.consumer is not None:
            with contextlib.suppress(Exception):
                await self.consumer.stop()
            self.consumer = None
        if self._dead_letters is not None:
            with contextlib.suppress(Exception):
                await self._dead_letters.stop()
            self._dead_letters = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if self.consumer is None:
                    await self.start()
                await self.poll_once(timeout_ms=500)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database unavailable: back off and retry
                log.warning("consumer.loop_error", consumer=self.name, error=repr(exc))
                await self.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
        await self.stop()

    async def poll_once(self, timeout_ms: int = 500) -> int:
        assert self.consumer is not None
        batches = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=self.batch_size)
        if self.consumer.assignment():
            self.assigned.set()
        handled = 0
        clock = asyncio.get_running_loop().time
        polled_at = clock()
        for tp, records in batches.items():
            if handled and clock() - polled_at > POLL_BUDGET_SECONDS:
                self.consumer.seek(tp, records[0].offset)  # not begun: fetched again next poll
                continue
            committed_at = clock()
            for index, record in enumerate(records):
                await self.process(record)
                handled += 1
                rest = index + 1 < len(records)
                if rest and clock() - polled_at > POLL_BUDGET_SECONDS:
                    await self.commit_offsets({tp: record.offset + 1})
                    self.consumer.seek(tp, record.offset + 1)
                    break
                if clock() - committed_at > COMMIT_EVERY_SECONDS:
                    await self.commit_offsets({tp: record.offset + 1})
                    committed_at = clock()
            else:
                await self.commit_offsets({tp: records[-1].offset + 1})
                self._record_lag(tp, records[-1].offset + 1)
        return handled

    async def commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        assert self.consumer is not None
        await self.consumer.commit(offsets)

    async def process(self, record: ConsumerRecord) -> None:
        try:
            event = decode(record.value)
        except Exception as exc:
            await self.dead_letter(record, f"undecodable: {exc}")
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            INBOX_PROCESSED.labels(self.name, "ignored").inc()
            return
        error: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with session_scope(self.sessionmaker) as session:
                    if not await InboxRepository(session).claim(self.name, event, record):
                        INBOX_PROCESSED.labels(self.name, "duplicate").inc()
                        return
                    await handler(session, event)
                INBOX_PROCESSED.labels(self.name, "applied").inc()
                return
            except Exception as exc:
                error = exc
                log.warning(
                    "consumer.handler_failed",
                    consumer=self.name,
                    event_id=event.id,
                    attempt=attempt,
                    error=repr(exc),
                )
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        if error is not None and is_transient(error):
            # Not the event's fault: leave its offset uncommitted and let run() back off.
            raise error
        await self.dead_letter(record, f"handler failed {self.max_attempts} times: {error!r}")

    async def dead_letter(self, record: ConsumerRecord, error: str) -> None:
        INBOX_PROCESSED.labels(self.name, "dead_lettered").inc()
        log.error("consumer.dead_letter", consumer=self.name, topic=record.topic, error=error)
        headers = [
            ("error", error[:4000].encode()),
            ("consumer", self.name.encode()),
            ("original-topic", record.topic.encode()),
            ("original-partition", str(record.partition).encode()),
            ("original-offset", str(record.offset).encode()),
        ]
        assert self._dead_letters is not None  # started with the consumer
        try:
            await self._dead_letters.send_and_wait(
                self.dead_letter_topic, value=record.value, key=record.key, headers=headers
            )
        except MessageSizeTooLargeError:
            # The record with its headers is above the message limit: the dead letter names it
            # instead (the original stays on its topic, which keeps its events), so one large
            # record cannot stop the consumer for good.
            await self._dead_letters.send_and_wait(
                self.dead_letter_topic,
                value=None,
                key=record.key,
                headers=[*headers, ("value-omitted", b"too large to copy; read it at its offset")],
            )

    def _record_lag(self, tp: TopicPartition, next_offset: int) -> None:
        assert self.consumer is not None
        highwater = self.consumer.highwater(tp)
        if highwater is not None:
            CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(highwater - next_offset)
