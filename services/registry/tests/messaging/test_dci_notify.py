"""DCI notifications driven by committed register events on the real Kafka broker: the
``registry-dci-notify`` consumer matches subscriptions (jurisdiction, event type, filter), writes
one notification per subscription and event (redeliveries add none), and the sender POSTs the
signed ``notify`` callback, retrying after a failure. The body is validated against the spec."""

import asyncio
import base64
import hashlib
import json
import random
import uuid
from datetime import UTC, date, datetime
from importlib import resources

import uvicorn
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.envelope import new_event
from fupin_events.registry import HouseholdRegistered, HouseholdStatusChanged, HouseholdUpdated
from fupin_events.topics import Topic
from fupin_kit.relay import make_producer
from fupin_kit.testing.plugin import api_client
from fupin_registry.dci.models import Partner, Subscription
from fupin_registry.dci.notify import KIND_OF, build_dci_consumers, notify_header, notify_message
from fupin_registry.dci.query import parse_query, to_json
from fupin_registry.main import create_app

TOPIC = Topic.REGISTRY_HOUSEHOLD.value


def notify_validator() -> Draft202012Validator:
    spec = yaml.safe_load(
        resources.files("fupin_registry.dci")
        .joinpath("spec/social_api_v1.0.0.yaml")
        .read_text("utf-8")
    )
    registry = Registry().with_resource(
        "urn:dci", Resource(contents=spec, specification=DRAFT202012)
    )
    pointer = "#/paths/~1registry~1notify/post/requestBody/content/application~1json/schema"
    return Draft202012Validator({"$ref": "urn:dci" + pointer}, registry=registry)


def signature_ok(jwks: dict, body: dict) -> bool:
    params = {}
    for part in body["signature"].removeprefix("Signature:").split(", "):
        key, _, value = part.strip().partition("=")
        params[key] = value.strip('"')
    [jwk] = [k for k in jwks["keys"] if k["kid"] == params["kidId"].split("|")[1]]
    document = {"header": body["header"], "message": body["message"]}
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    digest = base64.b64encode(hashlib.blake2b(canonical, digest_size=64).digest()).decode()
    stamps = f"(created): {params['created']}\n(expires): {params['expires']}"
    material = f"{stamps}\ndigest: BLAKE-512={digest}"
    try:
        Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "==")).verify(
            base64.b64decode(params["signature"]), material.encode()
        )
    except Exception:
        return False
    return True


async def start_receiver(received: list, failures: list[int]):
    app = FastAPI()

    @app.post("/callback")
    async def callback(request: Request) -> JSONResponse:
        if failures[0] > 0:
            failures[0] -= 1
            return JSONResponse({"errors": [{"code": "err.service.unavailable"}]}, 503)
        received.append(await request.json())
        return JSONResponse({"message": {"ack_status": "ACK"}})

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


async def position_group_at_end(bootstrap: str, group: str) -> None:
    """A fresh consumer group starts after what the topic already holds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([TOPIC])
    finally:
        await admin.close()
    partitions = [TopicPartition(TOPIC, p["partition"]) for p in described["partitions"]]
    assert partitions, f"{TOPIC} is missing on the broker"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        await consumer.commit({tp: await consumer.position(tp) for tp in partitions})
    finally:
        await consumer.stop()


def status_changed(household_id: str, village: str, to_status: str = "returned") -> bytes:
    data = HouseholdStatusChanged(
        household_id=household_id,
        village_code=village,
        from_status="exited",
        to_status=to_status,
        reason="income fell below the line",
        effective_on=date(2020, 3, 1),
        member_count=3,
        member_indexes=["ab" * 32],
    )
    return new_event(data, subject=household_id).model_dump_json().encode()


def registered(household_id: str, village: str) -> bytes:
    data = HouseholdRegistered(
        household_id=household_id,
        village_code=village,
        household_number="001",
        attribute="dibao",
        support_type="guarantee",
        primary_cause="illness",
        status="identified",
        member_count=2,
        year=2016,
    )
    return new_event(data, subject=household_id).model_dump_json().encode()


async def test_committed_events_become_signed_notifications(settings, engine, kafka_bootstrap):
    received: list[dict] = []
    failures = [1]  # the first delivery attempt fails: the sender must retry
    server, server_task, port = await start_receiver(received, failures)
    tuned = settings.model_copy(
        update={"dci_callback_backoff_seconds": 0.2, "dci_notify_poll_seconds": 0.1}
    )
    app = create_app(tuned)
    township = f"220524{random.randrange(100, 1000)}"
    code, outsider_code = uuid.uuid4().hex, uuid.uuid4().hex
    stop = asyncio.Event()
    tasks: list[asyncio.Task] = []
    try:
        async with api_client(app) as client:
            async with AsyncSession(engine) as session, session.begin():
                suffix = uuid.uuid4().hex[:8]
                for sender, jurisdiction, sub_code in (
                    (f"civil-{suffix}", "22", code),
                    (f"other-{suffix}", "220281", outsider_code),
                ):
                    session.add(
                        Partner(
                            sender_id=sender,
                            name=sender,
                            client_id=sender,
                            require_signature=False,
                            callback_url_prefix=f"http://127.0.0.1:{port}/",
                        )
                    )
                    await session.flush()
                    node = parse_query(
                        "predicate",
                        [
                            {
                                "expression1": {
                                    "attribute_name": "region",
                                    "operator": "eq",
                                    "attribute_value": township,
                                }
                            }
                        ],
                    )
                    session.add(
                        Subscription(
                            code=sub_code,
                            sender_id=sender,
                            transaction_id=f"txn-{suffix}",
                            reference_id="ref-1",
                            reg_event_type="STATUS_CHANGE",
                            filter=to_json(node),
                            filter_key=sub_code,
                            notify_record_type="Group",
                            sender_uri=f"http://127.0.0.1:{port}/callback",
                            jurisdiction=jurisdiction,
                        )
                    )
            consumer, sender, _sweep = build_dci_consumers(app)
            consumer.group_id = f"registry-dci-notify-test-{uuid.uuid4().hex[:8]}"
            await position_group_at_end(kafka_bootstrap, consumer.group_id)
            tasks = [asyncio.create_task(consumer.run(stop)), asyncio.create_task(sender.run(stop))]

            matching_id = str(uuid.uuid4())
            matching = status_changed(matching_id, f"{township}201")
            producer = make_producer(kafka_bootstrap)
            await producer.start()
            try:
                for value, key in [
                    (matching, matching_id),
                    (matching, matching_id),  # redelivered: no second notification
                    (status_changed(str(uuid.uuid4()), "220524999201"), "x"),  # another township
                    (
                        registered(str(uuid.uuid4()), f"{township}202"),
                        "y",
                    ),  # an event type not subscribed
                ]:
                    await producer.send_and_wait(TOPIC, value=value, key=key.encode())
            finally:
                await producer.stop()

            deadline = asyncio.get_running_loop().time() + 30
            while not received and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # anything more would arrive now
            assert len(received) == 1, received
            [body] = received
            errors = list(notify_validator().iter_errors(body))
            assert not errors, [e.message for e in errors[:3]]
            assert signature_ok((await client.get("/.well-known/jwks.json")).json(), body)
            assert body["header"]["action"] == "notify"
            [event] = body["message"]["notify_event"]
            assert event["subscription_code"] == code
            record = event["data"]["reg_records"]
            assert record["group_identifier"][0]["identifier_value"] == matching_id
            assert (
                record["poverty_status"],
                record["previous_status"],
                record["village_code"],
            ) == ("returned", "exited", f"{township}201")
            assert "member_indexes" not in json.dumps(body) and "ab" * 32 not in json.dumps(body)
            # The case's free text stays in the province: it may name people.
            assert "income fell below the line" not in json.dumps(body, ensure_ascii=False)
            datetime.fromisoformat(event["timestamp"]).astimezone(UTC)

            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT subscription_code, status, attempts FROM dci_notifications"
                            " WHERE subscription_code = ANY(:c)"
                        ),
                        {"c": [code, outsider_code]},
                    )
                ).all()
            assert [(r.subscription_code, r.status, r.attempts) for r in rows] == [
                (code, "delivered", 2)
            ]
    finally:
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=15)
        server.should_exit = True
        await server_task


def test_every_event_type_makes_a_spec_valid_notification(settings):
    """REGISTER, UPDATE and STATUS_CHANGE bodies, as the sender POSTs them."""
    household_id, village = str(uuid.uuid4()), "220524101201"
    subscription = Subscription(code=uuid.uuid4().hex, transaction_id="txn-1")
    events = [
        HouseholdRegistered(
            household_id=household_id,
            village_code=village,
            household_number="001",
            attribute="dibao",
            support_type="guarantee",
            primary_cause="illness",
            status="identified",
            member_count=2,
            year=2016,
        ),
        HouseholdUpdated(
            household_id=household_id,
            village_code=village,
            changed=["support_type", "member_count"],
            attribute="ordinary_poor",
            support_type="development",
            member_count=3,
        ),
        HouseholdStatusChanged(
            household_id=household_id,
            village_code=village,
            from_status="identified",
            to_status="exited",
            reason="income above the line",
            effective_on=date(2020, 3, 1),
            member_count=3,
        ),
    ]
    validator = notify_validator()
    kinds = []
    for data in events:
        event = new_event(data, subject=household_id)
        kind = KIND_OF[event.type]
        kinds.append(kind)
        status = getattr(data, "to_status", None) or getattr(data, "status", None)
        facts = {
            "status": None if status is None else str(status),
            "attribute": str(getattr(data, "attribute", "dibao")),
        }
        body = {
            "signature": "Signature: unsigned",
            "header": notify_header(settings, "agency.example"),
            "message": notify_message(subscription, event, kind, facts),
        }
        errors = list(validator.iter_errors(body))
        assert not errors, (kind, [e.message for e in errors[:3]])
        record = body["message"]["notify_event"][0]["data"]["reg_records"]
        assert record["event"] == kind and record["village_code"] == village
    assert kinds == ["REGISTER", "UPDATE", "STATUS_CHANGE"]
