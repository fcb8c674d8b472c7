"""The registry's subscription to team events: cadre pairings (teams.team.v1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.catalog import spec_for_model
from fupin_events.envelope import CloudEvent
from fupin_events.teams import CadrePaired
from fupin_events.topics import Topic, dead_letter_topic
from fupin_kit.app import consumer_sessionmaker
from fupin_kit.inbox import EventConsumer
from fupin_registry.pairing.service import PairingService
from fupin_registry.privacy import Privacy
from fupin_registry.regions.directory import RegionDirectory

CONSUMER_NAME = "registry"  # consumer group and inbox name


def pairing_consumer(
    app: FastAPI,
    *,
    topics: Sequence[str] = (Topic.TEAMS_TEAM.value,),
    group_id: str = CONSUMER_NAME,
    dead_letters: str = dead_letter_topic("registry"),
) -> EventConsumer:
    settings = app.state.settings

    async def on_cadre_paired(session: AsyncSession, event: CloudEvent[Any]) -> None:
        privacy = getattr(app.state, "privacy", None) or Privacy(settings)
        regions = getattr(app.state, "regions", None) or RegionDirectory([])
        service = PairingService(session, privacy=privacy, regions=regions, settings=settings)
        await service.cadre_paired(event)

    return EventConsumer(
        name=group_id,
        group_id=group_id + settings.consumer_group_suffix,
        topics=list(topics),
        handlers={spec_for_model(CadrePaired).type: on_cadre_paired},
        sessionmaker=consumer_sessionmaker(app),
        bootstrap=settings.kafka_bootstrap,
        dead_letter_topic=dead_letters,
    )
