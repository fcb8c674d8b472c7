"""The funds consumer against the real Kafka broker: registry household events feed the read
model (and re-run the payment rules), county assessments feed awards, donations become social
fund inflows; redelivery is applied once; poison messages go to the dead-letter topic."""

import json
import uuid
from datetime import date

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from fupin_events.envelope import CloudEvent, new_event
from fupin_events.evaluation import CountyAssessed
from fupin_events.registry import (
    HouseholdAttribute,
    HouseholdRegistered,
    HouseholdStatus,
    HouseholdStatusChanged,
    SupportType,
)
from fupin_events.social import DonationReceived
from fupin_funds.consumers import build_consumer
from fupin_kit.db import create_sessionmaker
from fupin_kit.testing.kafka import create_topics, read_all, unique_topic
from fupin_kit.testing.plugin import bearer

pytestmark = pytest.mark.kafka

COUNTY = "220623"  # 长白朝鲜族自治县: committed data of these tests stays in its own region
VILLAGE = "220623100001"


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value=value, key=b"k")
    finally:
        await producer.stop()


def wire(event: CloudEvent) -> bytes:
    return event.model_dump_json().encode()


class Harness:
    def __init__(self, settings, engine, bootstrap):
        self.topic, self.dead = unique_topic("funds-in"), unique_topic("funds-dead")
        self.consumer = build_consumer(
            settings,
            create_sessionmaker(engine),
            [self.topic],
            group_id=f"funds-test-{uuid.uuid4().hex[:8]}",
            dead_letters=self.dead,
            max_attempts=2,
            backoff_seconds=0.01,
        )
        self.bootstrap = bootstrap

    async def __aenter__(self):
        await create_topics(self.bootstrap, [self.topic, self.dead])
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc):
        await self.consumer.stop()

    async def deliver(self, *events: bytes, rounds: int = 8) -> None:
        await produce(self.bootstrap, self.topic, list(events))
        for _ in range(rounds):
            await self.consumer.poll_once(timeout_ms=500)


def registered(household_id: str, indexes: list[str] | None = None) -> CloudEvent:
    return new_event(
        HouseholdRegistered(
            household_id=household_id,
            village_code=VILLAGE,
            household_number=household_id,
            attribute=HouseholdAttribute.DIBAO_POOR,
            support_type=SupportType.BOTH,
            primary_cause="illness",
            status=HouseholdStatus.IDENTIFIED,
            member_count=4,
            member_indexes=indexes or [],
            registered_on=date(2023, 3, 1),
            year=2023,
        ),
        subject=household_id,
    )


def status_changed(household_id: str, to: HouseholdStatus, on: date) -> CloudEvent:
    return new_event(
        HouseholdStatusChanged(
            household_id=household_id,
            village_code=VILLAGE,
            from_status=HouseholdStatus.IDENTIFIED,
            to_status=to,
            effective_on=on,
            member_count=4,
        ),
        subject=household_id,
    )


def assessed() -> CloudEvent:
    return new_event(
        CountyAssessed(
            assessment_id=f"as-{uuid.uuid4().hex[:8]}",
            county_code=COUNTY,
            year=2030,
            score="87.5",
            grade="good",
            gdp_excluded=True,
            published_on=date(2031, 1, 20),
        ),
        subject=COUNTY,
    )


async def scalar(engine, sql: str, **params):
    async with engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def test_household_events_build_the_read_model_once(settings, engine, kafka_bootstrap):
    household = f"hh-{uuid.uuid4().hex[:8]}"
    event = registered(household)
    async with Harness(settings, engine, kafka_bootstrap) as harness:
        await harness.deliver(
            wire(event),
            wire(event),
            wire(status_changed(household, HouseholdStatus.EXITED, date(2024, 6, 30))),
        )
    assert (
        await scalar(
            engine, "SELECT status FROM household_view WHERE household_id = :h", h=household
        )
        == "exited"
    )
    assert await scalar(
        engine, "SELECT exited_on FROM household_view WHERE household_id = :h", h=household
    ) == date(2024, 6, 30)
    assert (
        await scalar(
            engine, "SELECT member_count FROM household_view WHERE household_id = :h", h=household
        )
        == 4
    )
    history = await scalar(
        engine, "SELECT count(*) FROM household_status_history WHERE household_id = :h", h=household
    )
    assert history == 2  # the duplicate delivery was skipped by the inbox


async def test_assessments_and_donations(settings, engine, kafka_bootstrap):
    assessment = assessed()
    donation = new_event(
        DonationReceived(
            pledge_id=f"p-{uuid.uuid4().hex[:6]}",
            listing_id="listing-1",
            amount="1234.56",
            received_on=date(2030, 5, 4),
            region_code=COUNTY,
        ),
        subject="listing-1",
    )
    async with Harness(settings, engine, kafka_bootstrap) as harness:
        await harness.deliver(wire(assessment), wire(donation), wire(donation))
    score = await scalar(
        engine,
        "SELECT score FROM county_assessments WHERE assessment_id = :a",
        a=assessment.data.assessment_id,
    )
    assert str(score) == "87.500"
    balance = await scalar(
        engine,
        "SELECT balance_fen FROM accounts WHERE kind = 'fund_pool' AND region_code = :r AND "
        "source = 'social' AND year = 2030",
        r=COUNTY,
    )
    assert balance == 123456  # once, though delivered twice
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM funds WHERE region_code = :r AND source = 'social' AND year = "
            "2030",
            r=COUNTY,
        )
        == 1
    )


async def test_poison_messages_go_to_the_dead_letter_topic(settings, engine, kafka_bootstrap):
    bad_region = new_event(
        DonationReceived(
            pledge_id="p-x",
            listing_id="l",
            amount="1.00",
            received_on=date(2030, 1, 1),
            region_code="229999",
        ),
        subject="l",
    )
    household = f"hh-{uuid.uuid4().hex[:8]}"
    async with Harness(settings, engine, kafka_bootstrap) as harness:
        await harness.deliver(b"not json at all", wire(bad_region), wire(registered(household)))
        dead = await read_all(kafka_bootstrap, harness.dead, expect=2)
    errors = [dict(r.headers)["error"].decode() for r in dead]
    assert len(dead) == 2 and errors[0].startswith("undecodable") and "229999" in errors[1]
    assert (
        await scalar(
            engine, "SELECT count(*) FROM household_view WHERE household_id = :h", h=household
        )
        == 1
    )


async def test_an_assessment_without_a_usable_score_is_dead_lettered(
    settings, engine, kafka_bootstrap
):
    """A score that is not a finite percentage (NaN would later fail every award computed over
    the county) never reaches county_assessments."""
    sent = []
    for field, value in (("score", "NaN"), ("score", "150"), ("county_code", "22")):
        envelope = json.loads(wire(assessed()))
        envelope["data"][field] = value
        sent.append((envelope["data"]["assessment_id"], json.dumps(envelope).encode()))
    async with Harness(settings, engine, kafka_bootstrap) as harness:
        await harness.deliver(*(body for _, body in sent))
        dead = await read_all(kafka_bootstrap, harness.dead, expect=3)
    errors = [dict(r.headers)["error"].decode() for r in dead]
    assert len(dead) == 3
    assert "score" in errors[0] and "score" in errors[1] and "county_code" in errors[2]
    for assessment_id, _ in sent:
        assert (
            await scalar(
                engine,
                "SELECT count(*) FROM county_assessments WHERE assessment_id = :a",
                a=assessment_id,
            )
            == 0
        )


async def test_removal_event_raises_the_payment_anomaly(
    settings, engine, kafka_bootstrap, committed_client, make_token
):
    """A household is paid, then the registry removes it (清退): the consumer re-runs the rules."""
    headers = bearer(
        make_token("22", subject=f"msg-{uuid.uuid4().hex[:6]}", roles=["officer", "admin"])
    )
    household = f"hh-{uuid.uuid4().hex[:8]}"
    year = 2040 + uuid.uuid4().int % 50
    async with Harness(settings, engine, kafka_bootstrap) as harness:
        await harness.deliver(wire(registered(household)))
        fund = await committed_client.post(
            "/v1/funds",
            headers=headers,
            json={
                "region_code": COUNTY,
                "source": "county",
                "year": year,
                "name": "x",
                "amount": "100.00",
                "on": f"{year}-01-02",
            },
        )
        assert fund.status_code == 201, fund.text
        paid = await committed_client.post(
            "/v1/household-subsidies",
            headers=headers,
            json={
                "household_id": household,
                "source": "county",
                "year": year,
                "amount": "20.00",
                "purpose": "schooling",
                "on": f"{year}-02-01",
            },
        )
        assert paid.status_code == 201, paid.text
        # The Disbursed event as the relay would publish it, then the registry's removal.
        payload = await scalar(
            engine,
            "SELECT payload::text FROM outbox WHERE key = :k ORDER BY id DESC LIMIT 1",
            k=str(paid.json()["from_account_id"]),
        )
        assert json.loads(payload)["type"] == "fupin.funds.ledger.disbursed.v1"
        await harness.deliver(
            payload.encode(),
            wire(status_changed(household, HouseholdStatus.REMOVED, date(year, 1, 15))),
        )
    evidence = await scalar(
        engine,
        "SELECT evidence::text FROM anomalies WHERE rule = 'payment_to_unregistered' AND "
        "subject_key = :e",
        e=paid.json()["entry_id"],
    )
    assert evidence is not None and household in evidence and "removed" in evidence
    raised = await scalar(
        engine,
        "SELECT count(*) FROM outbox WHERE event_type = "
        "'fupin.funds.supervision.anomaly_raised.v1' AND payload::text LIKE :p",
        p=f"%{paid.json()['entry_id']}%",
    )
    assert raised == 1
