"""Helpers for the kit's tests against the real broker."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from sample_app import Widget
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from fupin_events.envelope import CloudEvent, new_event
from fupin_events.registry import QuotaSet
from fupin_kit.models import OutboxEvent
from fupin_kit.outbox import outbox_row

REPO = Path(__file__).resolve().parents[3]


def quota_event(marker: str, seq: int, subject: str) -> CloudEvent:
    return new_event(
        QuotaSet(region_code="220622", year=2000 + seq % 100, quota=seq, parent_code=marker),
        subject=subject,
    )


async def write_outbox(
    engine: AsyncEngine, topic: str, events: list[CloudEvent], *, commit: bool = True
) -> None:
    async with engine.connect() as conn:
        tx = await conn.begin()
        rows = [{**outbox_row(e), "topic": topic} for e in events]
        await conn.execute(insert(OutboxEvent), rows)
        await (tx.commit() if commit else tx.rollback())


async def count_effects(engine: AsyncEngine, marker: str) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text("SELECT count(*) FROM widgets WHERE owner_id = :m"), {"m": marker}
            )
        )


async def record_effect(session: AsyncSession, event: CloudEvent) -> None:
    """A deliberately non-idempotent effect: a new row per call. Only the inbox keeps it single."""
    session.add(
        Widget(
            id=str(uuid.uuid4()),
            region_code=event.data.region_code,
            owner_id=event.data.parent_code,
            amount=str(event.data.quota),
        )
    )
    await session.flush()


def broker(command: str, port: int, state_dir: Path) -> None:
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_CONTROLLER_PORT": str(port + 1),
        "KAFKA_STATE_DIR": str(state_dir),
    }
    subprocess.run(
        [str(REPO / "deploy" / "kafka" / "broker"), command], env=env, check=True, timeout=180
    )


__all__ = ["select", "broker", "count_effects", "quota_event", "record_effect", "write_outbox"]
