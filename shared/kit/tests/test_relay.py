"""The outbox relay against real PostgreSQL and the real Kafka broker."""

import asyncio
import json
import uuid

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from messaging_support import broker, count_effects, quota_event, record_effect, write_outbox
from sqlalchemy import text

from fupin_events.envelope import decode
from fupin_kit.db import create_sessionmaker
from fupin_kit.inbox import EventConsumer
from fupin_kit.relay import RELAY_LOCK_KEY, OutboxRelay
from fupin_kit.testing.kafka import create_topics, read_all, unique_topic

pytestmark = pytest.mark.kafka


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def test_rolled_back_never_published_committed_once_in_order(
    engine, database_url, kafka_bootstrap
):
    topic = unique_topic("relay")
    await create_topics(kafka_bootstrap, [topic], partitions=3)
    marker = uuid.uuid4().hex
    rolled_back = [quota_event(marker, i, "rollback-key") for i in range(3)]
    committed = [quota_event(marker, i, f"key-{i % 2}") for i in range(10)]
    await write_outbox(engine, topic, rolled_back, commit=False)
    await write_outbox(engine, topic, committed)

    relay = OutboxRelay(dsn(database_url), kafka_bootstrap, service="kittest")
    try:
        assert await relay.publish_pending() >= 10
        assert await relay.publish_pending() == 0  # a second run finds nothing left
    finally:
        await relay.close()

    records = await read_all(kafka_bootstrap, topic, expect=10)
    events = [decode(r.value) for r in records]
    assert sorted(e.id for e in events) == sorted(e.id for e in committed)
    assert not {e.id for e in rolled_back} & {e.id for e in events}
    for key in ("key-0", "key-1"):
        on_wire = [
            e.data.quota for e, r in zip(events, records, strict=True) if r.key == key.encode()
        ]
        assert on_wire == sorted(on_wire) and len(on_wire) == 5
        assert len({r.partition for r in records if r.key == key.encode()}) == 1


async def test_one_leader_among_relays(database_url, kafka_bootstrap):
    first = OutboxRelay(dsn(database_url), kafka_bootstrap, service="kittest")
    second = OutboxRelay(dsn(database_url), kafka_bootstrap, service="kittest")
    try:
        await first._connect()
        await second._connect()
        assert await first._try_lead() is True
        assert await second._try_lead() is False
    finally:
        await first.close()
        await second.close()


class CrashBeforeMark(OutboxRelay):
    async def _mark_published(self, ids: list[int]) -> None:
        raise ConnectionResetError("relay process killed after sending, before marking")


async def test_relay_killed_between_send_and_mark_gives_one_effect(
    engine, database_url, kafka_bootstrap
):
    topic = unique_topic("crash")
    dead = unique_topic("dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    marker = uuid.uuid4().hex
    events = [quota_event(marker, i, f"h-{i}") for i in range(6)]
    await write_outbox(engine, topic, events)

    crashing = CrashBeforeMark(dsn(database_url), kafka_bootstrap, service="kittest")
    with pytest.raises(ConnectionResetError):
        await crashing.publish_pending()
    await crashing.close()
    restarted = OutboxRelay(dsn(database_url), kafka_bootstrap, service="kittest")
    await restarted.publish_pending()
    await restarted.close()

    on_wire = [decode(r.value).id for r in await read_all(kafka_bootstrap, topic, expect=12)]
    assert len(on_wire) == 12 and len(set(on_wire)) == 6  # every event twice on the wire

    consumer = EventConsumer(
        name=f"kittest-{marker[:6]}",
        topics=[topic],
        handlers={events[0].type: record_effect},
        sessionmaker=create_sessionmaker(engine),
        bootstrap=kafka_bootstrap,
        dead_letter_topic=dead,
    )
    await consumer.start()
    try:
        for _ in range(40):
            await consumer.poll_once(timeout_ms=300)
            if await count_effects(engine, marker) >= 6:
                await consumer.poll_once(timeout_ms=1000)  # let any duplicate arrive too
                break
    finally:
        await consumer.stop()
    assert await count_effects(engine, marker) == 6


@pytest.mark.slow
async def test_events_written_while_broker_down_are_delivered_after_restart(
    engine, database_url, tmp_path
):
    port = 19092
    bootstrap = f"127.0.0.1:{port}"
    broker("start", port, tmp_path / "kafka")
    try:
        topic = unique_topic("outage")
        await create_topics(bootstrap, [topic])
        # Relay rows of earlier tests go to topics this private broker lacks: publish only ours.
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
            )
        broker("stop", port, tmp_path / "kafka")

        marker = uuid.uuid4().hex
        events = [quota_event(marker, i, f"o-{i % 3}") for i in range(20)]
        await write_outbox(engine, topic, events)
        relay = OutboxRelay(dsn(database_url), bootstrap, service="kittest", poll_interval=0.5)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(3)  # the relay tries and fails while the broker is down
        async with engine.connect() as conn:
            assert (
                await conn.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
                == 20
            )

        broker("start", port, tmp_path / "kafka")
        for _ in range(120):
            async with engine.connect() as conn:
                if (
                    await conn.scalar(
                        text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                    )
                    == 0
                ):
                    break
            await asyncio.sleep(0.5)
        stop.set()
        await task
        delivered = {json.loads(r.value)["id"] for r in await read_all(bootstrap, topic, expect=20)}
        assert delivered == {e.id for e in events}
    finally:
        broker("stop", port, tmp_path / "kafka")


async def unpublished(engine, topic: str) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(
            text("SELECT count(*) FROM outbox WHERE topic = :t AND published_at IS NULL"),
            {"t": topic},
        )


async def test_a_relay_that_lost_its_session_wins_the_lock_again_before_publishing(
    engine, database_url, kafka_bootstrap
):
    topic = unique_topic("lost-lead")
    await create_topics(kafka_bootstrap, [topic])
    relay = OutboxRelay(dsn(database_url), kafka_bootstrap, service="kittest", poll_interval=0.1)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    other = await asyncpg.connect(dsn(database_url))
    try:
        for _ in range(100):
            if relay.is_leader:
                break
            await asyncio.sleep(0.05)
        assert relay.is_leader and relay._conn is not None
        await other.execute("SELECT pg_terminate_backend($1)", relay._conn.get_server_pid())
        # another replica takes the lock the ended session released
        await other.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK_KEY)
        await write_outbox(engine, topic, [quota_event(uuid.uuid4().hex, 0, "k")])
        await asyncio.sleep(1.0)
        assert await unpublished(engine, topic) == 1  # no lock, nothing published

        await other.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_KEY)
        for _ in range(100):  # it wins the lock again and publishes
            if await unpublished(engine, topic) == 0:
                break
            await asyncio.sleep(0.1)
        assert await unpublished(engine, topic) == 0
    finally:
        stop.set()
        await running
        await other.close()
        await relay.close()


async def test_a_leader_never_publishes_on_a_session_opened_behind_its_back(database_url):
    """Between the loop's own check and a publish or an anchor, a lost session is not replaced
    silently: the new one would not hold the leader lock."""
    relay = OutboxRelay(dsn(database_url), "127.0.0.1:1", service="kittest", poll_interval=0.1)
    relay._conn = await asyncpg.connect(dsn(database_url))
    await relay._conn.close()
    relay.is_leader = True
    closed = relay._conn
    for step in (relay.publish_pending, relay.anchor):
        relay.is_leader = True
        with pytest.raises(ConnectionError):
            await step()
        assert relay._conn is closed and not relay.is_leader
    await relay.close()


async def _raw_outbox_row(engine, topic: str, key: str, payload: dict) -> int:
    async with engine.begin() as conn:
        return await conn.scalar(
            text(
                "INSERT INTO outbox (event_id, topic, key, event_type, payload)"
                " VALUES (:e, :t, :k, 'test', CAST(:p AS jsonb)) RETURNING id"
            ),
            {"e": uuid.uuid4().hex, "t": topic, "k": key, "p": json.dumps(payload)},
        )


async def _outbox_state(engine, row_id: int) -> tuple:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT published_at, parked_at, park_reason FROM outbox WHERE id = :i"),
                {"i": row_id},
            )
        ).one()


@pytest.mark.parametrize("refused_by", ["producer", "broker"])
async def test_a_row_kafka_refuses_for_good_is_parked_and_the_rows_around_it_go_on(
    engine, database_url, kafka_bootstrap, refused_by
):
    topic = unique_topic("parked")
    if refused_by == "producer":
        await create_topics(kafka_bootstrap, [topic])
        too_large = 1_100_000  # over the producer's max_request_size (1 MiB)
    else:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "4000"})]
            )
        finally:
            await admin.close()
        too_large = 20_000  # under the producer's limit, over the topic's
    marker = uuid.uuid4().hex
    # Two rows that fit the topic alone but not together: the producer puts them in one record
    # batch, which the broker refuses as a whole.
    fits = [
        await _raw_outbox_row(engine, topic, "same-key", {"n": n, "x": "x" * 2_500}) for n in (1, 2)
    ]
    big = await _raw_outbox_row(engine, topic, "same-key", {"n": 3, "x": "x" * too_large})
    after = quota_event(marker, 1, "same-key")
    await write_outbox(engine, topic, [after])

    relay = OutboxRelay(dsn(database_url), kafka_bootstrap, service="kittest")
    try:
        await relay.publish_pending()
        assert await relay.publish_pending() == 0  # the parked row is not tried again
    finally:
        await relay.close()

    published_at, parked_at, reason = await _outbox_state(engine, big)
    assert published_at is None and parked_at is not None
    assert "TooLarge" in reason
    for row in fits:
        assert (await _outbox_state(engine, row))[:2] != (None, None)
        assert (await _outbox_state(engine, row))[1] is None  # published, not parked
    records = await read_all(kafka_bootstrap, topic, expect=3)
    sent = [json.loads(r.value) for r in records]
    assert len(sent) == 3 and {d.get("n") for d in sent} == {1, 2, None}
    assert [d.get("n") for d in sent if "n" in d] == [1, 2]  # in their order, sent again alone
    assert [d["id"] for d in sent if "n" not in d] == [after.id]
    assert await unpublished(engine, topic) == 1  # the parked row, still there to re-queue
