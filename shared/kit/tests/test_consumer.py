"""The inbox consumer against the real broker: crash before offset commit, poison messages."""

import uuid

import pytest
import sqlalchemy.exc
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from messaging_support import count_effects, quota_event, record_effect

from fupin_kit import inbox
from fupin_kit.db import create_sessionmaker
from fupin_kit.inbox import EventConsumer, is_transient
from fupin_kit.testing.kafka import create_topics, read_all, unique_topic

pytestmark = pytest.mark.kafka


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value=value, key=b"k")
    finally:
        await producer.stop()


class CrashBeforeOffsetCommit(EventConsumer):
    async def commit_offsets(self, offsets):
        raise RuntimeError("consumer process killed after the database commit")


def consumer_for(cls, engine, bootstrap, topic, dead, group, handler=record_effect, **kw):
    return cls(
        name=group,
        topics=[topic],
        handlers={quota_event("x", 0, "x").type: handler},
        sessionmaker=create_sessionmaker(engine),
        bootstrap=bootstrap,
        dead_letter_topic=dead,
        **kw,
    )


async def drain(consumer: EventConsumer, rounds: int = 10) -> None:
    for _ in range(rounds):
        await consumer.poll_once(timeout_ms=500)


async def test_crash_after_db_commit_before_offset_commit_applies_once(engine, kafka_bootstrap):
    topic, dead = unique_topic("inbox"), unique_topic("dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    marker = uuid.uuid4().hex
    await produce(
        kafka_bootstrap,
        topic,
        [quota_event(marker, i, "k").model_dump_json().encode() for i in range(5)],
    )
    group = f"kittest-{marker[:8]}"

    crashing = consumer_for(CrashBeforeOffsetCommit, engine, kafka_bootstrap, topic, dead, group)
    await crashing.start()
    try:
        with pytest.raises(RuntimeError):
            await drain(crashing)
    finally:
        await crashing.stop()
    assert await count_effects(engine, marker) == 5

    restarted = consumer_for(EventConsumer, engine, kafka_bootstrap, topic, dead, group)
    await restarted.start()
    try:
        await drain(restarted, 6)
    finally:
        await restarted.stop()
    assert await count_effects(engine, marker) == 5  # redelivered, skipped by the inbox


async def test_poison_messages_go_to_dead_letter_and_later_ones_are_processed(
    engine, kafka_bootstrap
):
    topic, dead = unique_topic("poison"), unique_topic("dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    marker, failing_marker = uuid.uuid4().hex, uuid.uuid4().hex

    async def handler(session, event):
        if event.data.parent_code == failing_marker:
            raise ValueError("this event can never be applied")
        await record_effect(session, event)

    await produce(
        kafka_bootstrap,
        topic,
        [
            b"\xff not json",
            quota_event(failing_marker, 1, "k").model_dump_json().encode(),
            quota_event(marker, 2, "k").model_dump_json().encode(),
        ],
    )
    consumer = consumer_for(
        EventConsumer,
        engine,
        kafka_bootstrap,
        topic,
        dead,
        f"kittest-{marker[:8]}",
        handler=handler,
        max_attempts=2,
        backoff_seconds=0.01,
    )
    await consumer.start()
    try:
        await drain(consumer, 8)
    finally:
        await consumer.stop()
    assert await count_effects(engine, marker) == 1
    assert await count_effects(engine, failing_marker) == 0
    dead_letters = await read_all(kafka_bootstrap, dead, expect=2)
    assert len(dead_letters) == 2
    errors = [dict(r.headers)["error"].decode() for r in dead_letters]
    assert errors[0].startswith("undecodable") and "can never be applied" in errors[1]
    assert dict(dead_letters[1].headers)["original-topic"].decode() == topic


async def test_a_database_outage_is_retried_later_never_dead_lettered(engine, kafka_bootstrap):
    topic, dead = unique_topic("outage"), unique_topic("dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    marker = uuid.uuid4().hex
    database_up = False

    async def handler(session, event):
        if not database_up:
            raise ConnectionRefusedError("the database is restarting")
        await record_effect(session, event)

    await produce(kafka_bootstrap, topic, [quota_event(marker, 1, "k").model_dump_json().encode()])
    group = f"kittest-{marker[:8]}"
    consumer = consumer_for(
        EventConsumer,
        engine,
        kafka_bootstrap,
        topic,
        dead,
        group,
        handler=handler,
        max_attempts=2,
        backoff_seconds=0.01,
    )
    await consumer.start()
    try:
        with pytest.raises(ConnectionRefusedError):
            await drain(consumer)
    finally:
        await consumer.stop()
    assert await count_effects(engine, marker) == 0

    database_up = True
    restarted = consumer_for(
        EventConsumer, engine, kafka_bootstrap, topic, dead, group, handler=handler
    )
    await restarted.start()
    try:
        await drain(restarted, 6)
    finally:
        await restarted.stop()
    assert await count_effects(engine, marker) == 1  # read again once the database was back
    assert await read_all(kafka_bootstrap, dead, expect=0, wait_seconds=2.0) == []


def test_transient_errors_are_told_from_the_events_own():
    class Wrapped(Exception):
        def __init__(self, sqlstate):
            super().__init__(sqlstate)
            self.orig = type("Orig", (Exception,), {"sqlstate": sqlstate})()

    assert is_transient(ConnectionResetError()) and is_transient(Wrapped("40001"))
    assert is_transient(Wrapped("57P01")) and is_transient(Wrapped("08006"))
    assert not is_transient(ValueError("bad event")) and not is_transient(Wrapped("23505"))
    assert not is_transient(Wrapped("57014"))  # cancelled by statement_timeout: again next time
    # The connection pool exhausted under request load: wait, never dead-letter the event.
    pool_exhausted = sqlalchemy.exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached")
    assert is_transient(pool_exhausted) and is_transient(sqlalchemy.exc.DisconnectionError())


async def test_a_restarted_consumer_still_dead_letters(engine, kafka_bootstrap):
    """A restart (after any loop error) brings a new dead-letter producer: a stopped aiokafka
    producer cannot start again, and a poison message would otherwise block its partition."""
    topic, dead = unique_topic("restart"), unique_topic("dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    marker = uuid.uuid4().hex
    await produce(
        kafka_bootstrap,
        topic,
        [b"\xff not json", quota_event(marker, 1, "k").model_dump_json().encode()],
    )
    consumer = consumer_for(
        EventConsumer, engine, kafka_bootstrap, topic, dead, f"kittest-{marker[:8]}"
    )
    await consumer.start()
    await consumer.stop()
    await consumer.start()
    try:
        await drain(consumer, 6)
    finally:
        await consumer.stop()
    assert await count_effects(engine, marker) == 1
    assert len(await read_all(kafka_bootstrap, dead, expect=1)) == 1


class RecordingCommits(EventConsumer):
    commits: list[int]

    async def commit_offsets(self, offsets):
        self.commits.extend(offsets.values())
        await super().commit_offsets(offsets)


async def test_a_long_batch_commits_its_progress_as_it_goes(engine, kafka_bootstrap, monkeypatch):
    from fupin_kit import inbox

    monkeypatch.setattr(inbox, "COMMIT_EVERY_SECONDS", 0.0, raising=False)
    topic, dead = unique_topic("progress"), unique_topic("dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    marker = uuid.uuid4().hex
    await produce(
        kafka_bootstrap,
        topic,
        [quota_event(marker, i, "k").model_dump_json().encode() for i in range(3)],
    )
    consumer = consumer_for(
        RecordingCommits, engine, kafka_bootstrap, topic, dead, f"kittest-{marker[:8]}"
    )
    consumer.commits = []
    await consumer.start()
    try:
        await drain(consumer, 6)
    finally:
        await consumer.stop()
    assert await count_effects(engine, marker) == 3
    # Every record's offset is committed as soon as it is applied, not only at the batch's end.
    assert sorted(set(consumer.commits)) == [1, 2, 3]


async def test_a_batch_past_its_poll_budget_yields_and_resumes_where_it_stopped(
    engine, kafka_bootstrap, monkeypatch
):
    """With no time left before the next poll, each batch stops after one record, commits it and
    seeks back: every record is still applied exactly once, in order."""
    monkeypatch.setattr(inbox, "POLL_BUDGET_SECONDS", 0.0)
    topic, dead = unique_topic("budget"), unique_topic("dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    marker = uuid.uuid4().hex
    await produce(
        kafka_bootstrap,
        topic,
        [quota_event(marker, i, "k").model_dump_json().encode() for i in range(6)],
    )
    consumer = consumer_for(
        EventConsumer, engine, kafka_bootstrap, topic, dead, f"kittest-{marker[:8]}"
    )
    await consumer.start()
    try:
        handled = [await consumer.poll_once(timeout_ms=2000) for _ in range(12)]
    finally:
        await consumer.stop()
    assert sum(handled) == 6 and max(handled) == 1
    assert await count_effects(engine, marker) == 6


async def test_a_record_too_large_to_copy_is_dead_lettered_by_reference(engine, kafka_bootstrap):
    topic, dead = unique_topic("large"), unique_topic("dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    marker = uuid.uuid4().hex
    await produce(kafka_bootstrap, topic, [b"\xff not json"])
    consumer = consumer_for(
        EventConsumer, engine, kafka_bootstrap, topic, dead, f"kittest-{marker[:8]}"
    )
    await consumer.start()
    producer = consumer._dead_letters
    send = producer.send_and_wait
    calls = []

    async def refuse_large(topic_name, value=None, **kw):
        calls.append(value)
        if value is not None:  # the broker's limit, as a record near 1 MB would meet it
            raise MessageSizeTooLargeError()
        return await send(topic_name, value=value, **kw)

    producer.send_and_wait = refuse_large
    try:
        await drain(consumer, 4)
    finally:
        await consumer.stop()
    assert calls[0] is not None and calls[1] is None
    [letter] = await read_all(kafka_bootstrap, dead, expect=1)
    headers = dict(letter.headers)
    assert letter.value is None and b"too large" in headers["value-omitted"]
    assert headers["original-topic"].decode() == topic and headers["original-offset"] == b"0"
