"""Event notifications to DCI subscribers, driven by committed register events.

1. ``registry-dci-notify`` consumes ``registry.household.v1`` (its own consumer group). For each
   event it finds the active subscriptions of active partners to that event type whose
   jurisdiction covers the household's village and whose filter matches, and writes one
   ``dci_notifications`` row per subscription — in the same transaction as the consumer's
   inbox row, so an event redelivered by Kafka yields no second notification, and offsets are
   committed only after that commit.
2. ``NotificationSender`` takes due rows (lease with SKIP LOCKED, so several instances share the
   work), POSTs the signed ``notify`` callback to the subscription's ``sender_uri`` and records
   the outcome. A failure is retried with doubling backoff (``dci_callback_backoff_seconds``,
   ``dci_callback_attempts`` tries in all); a permanent 4xx or the last failed try marks the
   row ``failed`` with the error. A sender that dies mid-delivery leaves its rows leased; they
   come due again when the lease runs out, so delivery is at least once. Rows of a cancelled
   subscription or a deactivated partner are never sent, nor to a sender_uri that no longer
   lies under the partner's current callback prefix.

Notifications carry household-level facts only (identifier, village, status, attribute, size):
no personal data leaves through them; a partner reads details with a (audited) search.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fupin_events.envelope import CloudEvent
from fupin_events.topics import Topic, dead_letter_topic
from fupin_kit.app import consumer_sessionmaker
from fupin_kit.db import session_scope
from fupin_kit.inbox import EventConsumer
from fupin_kit.logging import get_logger
from fupin_registry.config import Settings
from fupin_registry.dci.callbacks import CallbackSender, new_client
from fupin_registry.dci.models import Subscription
from fupin_registry.dci.protocol import PROTOCOL_VERSION, callback_allowed, now_iso
from fupin_registry.dci.query import from_json, matches
from fupin_registry.dci.records import REG_TYPE
from fupin_registry.dci.repository import (
    NotificationRepository,
    SubscriptionRepository,
    household_facts,
)
from fupin_registry.dci.service import EVENT_TYPES
from fupin_registry.dci.signing import RegistrySigner
from fupin_registry.dci.sweep import InterruptedRequestSweep

log = get_logger("fupin.registry.dci.notify")

CONSUMER_NAME = "registry-dci-notify"
KIND_OF = {event_type: kind for kind, event_type in EVENT_TYPES.items()}


async def on_household_event(session: AsyncSession, event: CloudEvent[Any]) -> None:
    kind = KIND_OF[event.type]
    data = event.data
    # Each event carries the status and attribute at its change; older events lack one.
    status = getattr(data, "to_status", None) or getattr(data, "status", None)
    attribute = getattr(data, "attribute", None)
    if status is None or attribute is None:
        now = await household_facts(session, data.household_id)
        status = status or now.status
        attribute = attribute or now.attribute
    facts = {
        "HOUSEHOLD_ID": data.household_id,
        "village_code": data.village_code,
        "status": None if status is None else str(status),
        "attribute": None if attribute is None else str(attribute),
        "member_indexes": list(data.member_indexes),
    }
    listening = await SubscriptionRepository(session).listening(kind, data.village_code, event.time)
    notifications = NotificationRepository(session)
    for subscription in listening:
        if matches(from_json(subscription.filter), facts):
            await notifications.add(
                subscription.code, event.id, notify_message(subscription, event, kind, facts)
            )


def notify_message(
    subscription: Subscription, event: CloudEvent[Any], kind: str, facts: dict[str, Any]
) -> dict[str, Any]:
    data = event.data
    record: dict[str, Any] = {
        "@type": "Group",
        "@id": f"urn:fupin:household:{data.household_id}",
        "group_identifier": [
            {
                "@type": "Identifier",
                "identifier_type": "HOUSEHOLD_ID",
                "identifier_value": data.household_id,
            }
        ],
        "group_type": "household",
        "village_code": data.village_code,
        "poverty_status": facts["status"],
        "household_attribute": facts["attribute"],
        "group_size": data.member_count,
        "event": kind,
        "event_time": event.time.isoformat(),
    }
    if kind == "STATUS_CHANGE":
        record["previous_status"] = None if data.from_status is None else str(data.from_status)
        record["effective_date"] = data.effective_on.isoformat()
        # Not the case's reason: officers' free text (an objection's resolution, who reported
        # what) may name people, and partners read personal data only by an audited search.
    if kind == "UPDATE":
        record["changed"] = list(data.changed)
    payload: dict[str, Any] = {
        "version": "1.0.0",
        "reg_type": REG_TYPE,
        "reg_record_type": "Group",
        "reg_records": record,
    }
    if kind == "REGISTER":
        payload["reg_event_type"] = "REGISTER"
    return {
        "transaction_id": subscription.transaction_id,
        "notify_event": [
            {
                "reference_id": event.id,
                "timestamp": event.time.isoformat(),
                "subscription_code": subscription.code,
                "data": payload,
            }
        ],
    }


def notify_header(settings: Settings, receiver_id: str) -> dict[str, Any]:
    return {
        "version": PROTOCOL_VERSION,
        "message_id": uuid.uuid4().hex,
        "message_ts": now_iso(),
        "action": "notify",
        "status": "succ",
        "total_count": 1,
        "completed_count": 1,
        "sender_id": settings.dci_sender_id,
        "receiver_id": receiver_id,
        "is_msg_encrypted": False,
    }


class NotificationSender:
    """Delivers pending notifications; runs beside the consumers (API process or worker)."""

    name = "registry-dci-notification-sender"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        signer: RegistrySigner,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.signer = signer
        self.batch = 50
        self.lease = timedelta(seconds=settings.dci_callback_timeout_seconds * 2 + 5)

    async def run(self, stop: asyncio.Event) -> None:
        async with new_client(self.settings.dci_callback_timeout_seconds) as client:
            sender = CallbackSender(
                client,
                self.signer,
                attempts=1,
                backoff_seconds=self.settings.dci_callback_backoff_seconds,
            )
            while not stop.is_set():
                try:
                    sent = await self.send_due(sender)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # database unavailable: wait and try again
                    log.warning("dci.notify_loop_error", error=repr(exc))
                    sent = 0
                if sent == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.settings.dci_notify_poll_seconds)

    async def send_due(self, sender: CallbackSender) -> int:
        async with session_scope(self.sessionmaker) as session:
            due = await NotificationRepository(session).lease_due(self.batch, self.lease)
        for notification, subscription, partner in due:
            # The partner's prefix may have changed since it subscribed: the stored sender_uri
            # must still lie under the current one.
            if callback_allowed(partner.callback_url_prefix, subscription.sender_uri):
                delivered, retryable, error = await sender.send_once(
                    subscription.sender_uri,
                    notify_header(self.settings, subscription.sender_id),
                    notification.message,
                )
            else:
                delivered, retryable = False, False
                error = "sender_uri is not under the partner's registered callback prefix"
            attempts = notification.attempts + 1
            async with session_scope(self.sessionmaker) as session:
                repository = NotificationRepository(session)
                if delivered:
                    await repository.delivered(notification.id)
                else:
                    last = not retryable or attempts >= self.settings.dci_callback_attempts
                    backoff = timedelta(
                        seconds=min(
                            3600.0, self.settings.dci_callback_backoff_seconds * 2 ** (attempts - 1)
                        )
                    )
                    await repository.failed(
                        notification.id, error or "failed", None if last else backoff
                    )
        return len(due)


def build_dci_consumers(app: FastAPI) -> list[Any]:
    """The notify consumer, the notification sender and the sweep of interrupted requests, for
    ``consumers.build_consumers``."""
    settings: Settings = app.state.settings
    runtime = getattr(app.state, "dci", None)
    signer = (
        runtime.signer
        if runtime is not None
        else RegistrySigner.from_file(
            settings.dci_signing_key_file,
            sender_id=settings.dci_sender_id,
            lifetime_seconds=settings.dci_signature_max_age_seconds,
            environment=settings.environment,
        )
    )
    consumer = EventConsumer(
        name=CONSUMER_NAME,
        group_id=CONSUMER_NAME + settings.consumer_group_suffix,
        topics=[Topic.REGISTRY_HOUSEHOLD.value],
        handlers={event_type: on_household_event for event_type in KIND_OF},
        sessionmaker=consumer_sessionmaker(app),
        bootstrap=settings.kafka_bootstrap,
        dead_letter_topic=dead_letter_topic("registry"),
    )
    return [
        consumer,
        NotificationSender(consumer_sessionmaker(app), settings, signer),
        InterruptedRequestSweep(app.state.sessionmaker, settings),
    ]
