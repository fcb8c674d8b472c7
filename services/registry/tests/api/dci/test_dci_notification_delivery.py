"""Notifications stop when access is revoked: a deactivated partner or a cancelled subscription
gets no new notification and none of those already queued; and a queued notification goes out
only while the subscription's sender_uri still lies under the partner's current prefix."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.db import create_sessionmaker
from fupin_registry.dci.models import Notification, Partner, Subscription
from fupin_registry.dci.notify import NotificationSender
from fupin_registry.dci.repository import SubscriptionRepository
from fupin_registry.dci.signing import RegistrySigner


class RecordingSender:
    """Stands in for the callback client: records what would be POSTed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send_once(
        self, url: str, header: dict[str, Any], message: dict[str, Any] | None
    ) -> tuple[bool, bool, str | None]:
        assert message is not None
        self.sent.append((url, message))
        return True, False, None


async def add_subscriber(
    session: AsyncSession, village_prefix: str, *, prefix: str = "https://sr.agency.example/dci/"
) -> tuple[str, str]:
    """A partner with one active STATUS_CHANGE subscription and one queued notification."""
    sender = f"agency-{uuid.uuid4().hex[:8]}.example"
    code = uuid.uuid4().hex
    session.add(
        Partner(
            sender_id=sender,
            name=sender,
            client_id=sender,
            require_signature=False,
            callback_url_prefix=prefix,
        )
    )
    await session.flush()
    session.add(
        Subscription(
            code=code,
            sender_id=sender,
            transaction_id=uuid.uuid4().hex,
            reference_id="ref-1",
            reg_event_type="STATUS_CHANGE",
            filter={"attribute": "region", "op": "eq", "value": village_prefix},
            filter_key=code,
            notify_record_type="Group",
            sender_uri="https://sr.agency.example/dci/notify",
            jurisdiction="22",
        )
    )
    await session.flush()
    session.add(
        Notification(
            subscription_code=code, event_id=uuid.uuid4().hex, message={"notify_event": [code]}
        )
    )
    return sender, code


async def notification_states(engine, codes: list[str]) -> dict[str, tuple[str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT subscription_code, status, last_error FROM dci_notifications"
                " WHERE subscription_code = ANY(:c)"
            ),
            {"c": codes},
        )
        return {r.subscription_code: (r.status, r.last_error) for r in rows}


def sender_for(settings, engine) -> NotificationSender:
    signer = RegistrySigner.from_file(
        None, sender_id="registry.fupin.example", lifetime_seconds=300, environment="test"
    )
    return NotificationSender(create_sessionmaker(engine), settings, signer)


async def test_revoked_partners_and_subscriptions_get_no_notifications(settings, engine):
    village = f"220524{uuid.uuid4().int % 900 + 100}201"
    async with AsyncSession(engine) as session, session.begin():
        _, active = await add_subscriber(session, village[:9])
        deactivated_sender, deactivated = await add_subscriber(session, village[:9])
        _, cancelled = await add_subscriber(session, village[:9])
        await session.execute(
            update(Partner).where(Partner.sender_id == deactivated_sender).values(active=False)
        )
        await SubscriptionRepository(session).cancel([cancelled])

    async with AsyncSession(engine) as session:
        listening = await SubscriptionRepository(session).listening(
            "STATUS_CHANGE", village, datetime.now(UTC)
        )
    codes = {s.code for s in listening}
    assert active in codes and not codes & {deactivated, cancelled}

    recorder = RecordingSender()
    await sender_for(settings, engine).send_due(recorder)  # type: ignore[arg-type]
    assert [m["notify_event"] for _, m in recorder.sent if m["notify_event"][0] in codes] == [
        [active]
    ]
    assert all(m["notify_event"][0] not in (deactivated, cancelled) for _, m in recorder.sent)
    states = await notification_states(engine, [active, deactivated, cancelled])
    assert states[active] == ("delivered", None)
    assert states[deactivated][0] == states[cancelled][0] == "failed"


async def test_a_sender_uri_outside_the_current_prefix_gets_no_notification(settings, engine):
    async with AsyncSession(engine) as session, session.begin():
        sender, code = await add_subscriber(session, "22")
        # the partner moved its callbacks elsewhere after subscribing
        await session.execute(
            update(Partner)
            .where(Partner.sender_id == sender)
            .values(callback_url_prefix="https://sr.agency.example/dci-v2/")
        )

    recorder = RecordingSender()
    await sender_for(settings, engine).send_due(recorder)  # type: ignore[arg-type]
    assert all(m["notify_event"][0] != code for _, m in recorder.sent)
    status, error = (await notification_states(engine, [code]))[code]
    assert status == "failed" and "prefix" in (error or "")


async def test_a_subscription_is_added_once_under_a_generic_plan_too(engine):
    """The partial unique index is matched by its literal predicate: a plan made for any value
    (as PostgreSQL makes after a statement's fifth run, forced here) still finds it."""
    async with AsyncSession(engine) as session, session.begin():
        sender, _ = await add_subscriber(session, "22")
        await session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        repository = SubscriptionRepository(session)
        values = {
            "sender_id": sender,
            "transaction_id": "t-1",
            "reference_id": "r-1",
            "reg_event_type": "REGISTER",
            "filter": {"attribute": "region", "op": "eq", "value": "220102"},
            "filter_key": "220102",
            "notify_record_type": "Group",
            "sender_uri": "https://sr.agency.example/dci/notify",
            "jurisdiction": "22",
        }
        added = [await repository.add({**values, "code": uuid.uuid4().hex}) for _ in range(7)]
        assert added == [True] + [False] * 6
        await session.rollback()
