"""Transactional outbox: events are rows written in the same transaction as the change.

Nothing is published from a request handler; the relay (``fupin_kit.relay``) publishes
committed rows in id order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.catalog import spec_for_model
from fupin_events.envelope import CloudEvent, EventData, new_event
from fupin_kit.models import OutboxEvent


def outbox_row(event: CloudEvent[Any]) -> dict[str, Any]:
    spec = spec_for_model(type(event.data))
    return {
        "event_id": event.id,
        "topic": spec.topic.value,
        "key": event.subject,
        "event_type": event.type,
        "payload": event.model_dump(mode="json"),
    }


async def add_event(session: AsyncSession, data: EventData, *, subject: str) -> CloudEvent[Any]:
    """Record an event inside the caller's transaction; it is published only if that commits."""
    event = new_event(data, subject=subject)
    await session.execute(insert(OutboxEvent).values(outbox_row(event)))
    return event


async def add_events(session: AsyncSession, events: Iterable[tuple[EventData, str]]) -> int:
    rows = [outbox_row(new_event(data, subject=subject)) for data, subject in events]
    if rows:
        await session.execute(insert(OutboxEvent), rows)
    return len(rows)
