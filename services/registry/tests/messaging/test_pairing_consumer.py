"""Cadre pairings from the teams service, consumed from the real Kafka broker."""

import uuid
from datetime import date
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from fupin_events.envelope import new_event
from fupin_events.teams import CadrePaired
from fupin_kit.auth import Caller
from fupin_kit.db import create_sessionmaker
from fupin_kit.testing.kafka import create_topics, read_all, unique_topic
from fupin_kit.testing.plugin import bearer
from fupin_registry.consumers import build_consumers
from fupin_registry.households.schemas import HouseholdCreate
from fupin_registry.households.service import HouseholdService
from fupin_registry.pairing.consumer import pairing_consumer
from fupin_registry.privacy import Privacy
from fupin_registry.regions.directory import load_directory
from fupin_registry.regions.repository import RegionRepository
from fupin_registry.synthetic import PeopleFactory, household_payload, member_payload

pytestmark = pytest.mark.kafka
VILLAGE = "220622104200"
OFFICER = Caller(subject="pairing-test", roles=frozenset({"officer"}), jurisdiction="22")


async def committed_household(settings, engine):
    """A household really committed, as the teams service would have learned of it."""
    people = PeopleFactory("220622", seed=uuid.uuid4().int)
    members = [member_payload(people.id_number(), "周大福", "head")]
    body = HouseholdCreate.model_validate(
        household_payload(VILLAGE, uuid.uuid4().hex[:10], members)
    )
    async with create_sessionmaker(engine)() as session:
        regions = await load_directory(RegionRepository(session))
        service = HouseholdService(
            session, privacy=Privacy(settings), regions=regions, settings=settings
        )
        household = await service.create(body, OFFICER)
        await session.commit()
    return household.id


def consumer_app(settings, engine):
    return SimpleNamespace(
        state=SimpleNamespace(
            settings=settings,
            sessionmaker=create_sessionmaker(engine),
            privacy=Privacy(settings),
            regions=None,
        )
    )


async def produce(bootstrap, topic, events):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic, value=event.model_dump_json().encode(), key=event.subject.encode()
            )
    finally:
        await producer.stop()


def paired(household_id, cadre_id, name, on, village=VILLAGE):
    data = CadrePaired(
        household_id=str(household_id),
        village_code=village,
        cadre_id=cadre_id,
        cadre_display_name=name,
        paired_on=on,
    )
    return new_event(data, subject=str(household_id))


async def household_row(engine, household_id):
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT responsible_cadre_id, responsible_cadre_name, cadre_paired_on, version"
                    " FROM households WHERE id = :h"
                ),
                {"h": household_id},
            )
        ).one()
        actions = (
            (
                await conn.execute(
                    text(
                        "SELECT action FROM household_versions WHERE household_id = :h ORDER BY id"
                    ),
                    {"h": household_id},
                )
            )
            .scalars()
            .all()
        )
        events = (
            (
                await conn.execute(
                    text("SELECT payload FROM outbox WHERE key = :h ORDER BY id"),
                    {"h": str(household_id)},
                )
            )
            .scalars()
            .all()
        )
    return row, actions, events


async def run_until(consumer, predicate, rounds=20):
    for _ in range(rounds):
        await consumer.poll_once(timeout_ms=500)
        if await predicate():
            return True
    return False


async def test_pairing_sets_the_cadre_once_and_ignores_older_pairings(
    settings, engine, kafka_bootstrap, make_token, committed_client
):
    topic, dead = unique_topic("pairing"), unique_topic("pairing-dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    household_id = await committed_household(settings, engine)
    first = paired(household_id, "cadre-7", "张书记", date(2016, 5, 1))
    older = paired(household_id, "cadre-3", "李干部", date(2016, 4, 1))
    await produce(kafka_bootstrap, topic, [first, first, older])  # a duplicate and a stale one

    consumer = pairing_consumer(
        consumer_app(settings, engine),
        topics=[topic],
        group_id=f"registry-test-{uuid.uuid4().hex[:8]}",
        dead_letters=dead,
    )
    await consumer.start()
    try:

        async def applied():
            row, _, _ = await household_row(engine, household_id)
            return row.responsible_cadre_id is not None

        assert await run_until(consumer, applied)
        for _ in range(4):  # let the duplicate and the stale pairing arrive too
            await consumer.poll_once(timeout_ms=300)
    finally:
        await consumer.stop()

    row, actions, events = await household_row(engine, household_id)
    assert (row.responsible_cadre_id, row.responsible_cadre_name, row.cadre_paired_on) == (
        "cadre-7",
        "张书记",
        date(2016, 5, 1),
    )
    assert row.version == 2 and actions == ["created", "cadre_paired"]
    updates = [e for e in events if e["type"] == "fupin.registry.household.updated.v1"]
    assert len(updates) == 1 and updates[0]["data"]["changed"] == ["responsible_cadre"]
    async with engine.connect() as conn:
        inbox = await conn.scalar(
            text("SELECT count(*) FROM inbox WHERE consumer = :c AND event_id IN (:a, :b)"),
            {"c": consumer.name, "a": first.id, "b": older.id},
        )
    assert inbox == 2  # both recorded once; the duplicate was skipped by the inbox

    shown = await committed_client.get(
        f"/v1/households/{household_id}", headers=bearer(make_token("220622"))
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["responsible_cadre"] == {
        "id": "cadre-7",
        "name": "张书记",
        "paired_on": "2016-05-01",
    }


async def test_unknown_household_goes_to_the_dead_letter_topic(settings, engine, kafka_bootstrap):
    topic, dead = unique_topic("pairing"), unique_topic("pairing-dead")
    await create_topics(kafka_bootstrap, [topic, dead])
    household_id = await committed_household(settings, engine)
    stray = paired(uuid.uuid4(), "cadre-1", "王", date(2016, 5, 1))
    wrong_village = paired(household_id, "cadre-2", "赵", date(2016, 5, 1), village="220581001200")
    good = paired(household_id, "cadre-3", "钱", date(2016, 5, 2))
    await produce(kafka_bootstrap, topic, [stray, wrong_village, good])
    consumer = pairing_consumer(
        consumer_app(settings, engine),
        topics=[topic],
        group_id=f"registry-test-{uuid.uuid4().hex[:8]}",
        dead_letters=dead,
    )
    consumer.max_attempts, consumer.backoff_seconds = 2, 0.01
    await consumer.start()
    try:

        async def applied():
            row, _, _ = await household_row(engine, household_id)
            return row.responsible_cadre_id == "cadre-3"

        assert await run_until(consumer, applied)
    finally:
        await consumer.stop()
    dead_letters = await read_all(kafka_bootstrap, dead, expect=2)
    assert len(dead_letters) == 2
    assert all("UnknownHousehold" in dict(r.headers)["error"].decode() for r in dead_letters)


async def test_the_service_subscribes_to_team_events(app):
    pairing = [c for c in build_consumers(app) if c.name == "registry"]
    assert len(pairing) == 1
    consumer = pairing[0]
    assert consumer.topics == ["teams.team.v1"] and consumer.group_id == "registry"
    assert consumer.dead_letter_topic == "registry.deadletter.v1"
    assert list(consumer.handlers) == ["fupin.teams.team.cadre_paired.v1"]
