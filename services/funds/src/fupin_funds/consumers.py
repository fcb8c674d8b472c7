"""Event subscribers of the funds service: decode → inbox → service call.

- registry.household.v1 → the household read model; a status change re-runs the payment rules
  for that household.
- evaluation.assessment.v1 (county assessed) → the assessments that drive performance awards.
- social.donation.v1 (donation received) → an inflow into the region's social fund pool.
- funds.ledger.v1 (our own disbursements) → the anomaly rules for that entry, off the request path.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.catalog import spec_for_model
from fupin_events.envelope import CloudEvent
from fupin_events.evaluation import CountyAssessed
from fupin_events.funds import Disbursed
from fupin_events.registry import HouseholdRegistered, HouseholdStatusChanged, HouseholdUpdated
from fupin_events.social import DonationReceived
from fupin_events.topics import Topic, dead_letter_topic
from fupin_events.values import BUSINESS_TZ, business_today, to_fen
from fupin_funds.allocations.repository import AllocationRepository
from fupin_funds.common.vocabulary import EntryKind, FundSource
from fupin_funds.config import Settings
from fupin_funds.funds.repository import FundRepository
from fupin_funds.funds.service import inflow, open_fund
from fupin_funds.households import service as households
from fupin_funds.regions.repository import RegionRepository
from fupin_funds.supervision.rules import Rule
from fupin_funds.supervision.service import evaluate
from fupin_kit.app import consumer_sessionmaker
from fupin_kit.inbox import EventConsumer, Handler

CONSUMER_ACTOR = "system:consumer"
HOUSEHOLD_RULES = (Rule.PAYMENT_TO_UNREGISTERED, Rule.PAYMENT_AFTER_EXIT_TRANSITION)
PAYMENT_RULES = (
    Rule.PAYMENT_TO_UNREGISTERED,
    Rule.PAYMENT_AFTER_EXIT_TRANSITION,
    Rule.DUPLICATE_PAYMENT,
    Rule.DISBURSED_BEFORE_ANNOUNCEMENT,
    Rule.PROJECT_OVER_BUDGET,
)


def handlers(settings: Settings) -> dict[str, Handler]:
    async def registered(session: AsyncSession, event: CloudEvent[Any]) -> None:
        await households.apply_registered(
            session, event.data, event.time.astimezone(BUSINESS_TZ).date()
        )

    async def updated(session: AsyncSession, event: CloudEvent[Any]) -> None:
        await households.apply_updated(
            session, event.data, event.time.astimezone(BUSINESS_TZ).date()
        )

    async def status_changed(session: AsyncSession, event: CloudEvent[Any]) -> None:
        data: HouseholdStatusChanged = event.data
        await households.apply_status_changed(session, data)
        await evaluate(
            session,
            settings,
            business_today(),
            only=HOUSEHOLD_RULES,
            household_id=data.household_id,
        )

    async def assessed(session: AsyncSession, event: CloudEvent[Any]) -> None:
        data: CountyAssessed = event.data
        await AllocationRepository(session).upsert_assessment(
            {
                "assessment_id": data.assessment_id,
                "county_code": data.county_code,
                "year": data.year,
                "score": Decimal(data.score),
                "grade": data.grade,
                "gdp_excluded": data.gdp_excluded,
                "published_on": data.published_on,
            }
        )

    async def donation(session: AsyncSession, event: CloudEvent[Any]) -> None:
        data: DonationReceived = event.data
        region = await RegionRepository(session).get(data.region_code)
        if region is None:
            raise ValueError(f"donation to unknown region {data.region_code}")
        year = data.received_on.year
        fund = await FundRepository(session).find(data.region_code, FundSource.SOCIAL.value, year)
        if fund is None:
            fund = await open_fund(
                session,
                CONSUMER_ACTOR,
                data.region_code,
                FundSource.SOCIAL.value,
                year,
                "social donations",
            )
        await inflow(
            session,
            fund,
            to_fen(data.amount),
            data.received_on,
            CONSUMER_ACTOR,
            EntryKind.DONATION,
            f"donation {data.pledge_id} for listing {data.listing_id}",
        )

    async def disbursed(session: AsyncSession, event: CloudEvent[Any]) -> None:
        data: Disbursed = event.data
        await evaluate(
            session,
            settings,
            business_today(),
            only=PAYMENT_RULES,
            entry_id=data.entry_id,
            household_id=data.household_id,
            project_id=data.project_id,
        )

    return {
        spec_for_model(HouseholdRegistered).type: registered,
        spec_for_model(HouseholdUpdated).type: updated,
        spec_for_model(HouseholdStatusChanged).type: status_changed,
        spec_for_model(CountyAssessed).type: assessed,
        spec_for_model(DonationReceived).type: donation,
        spec_for_model(Disbursed).type: disbursed,
    }


TOPICS = (
    Topic.REGISTRY_HOUSEHOLD,
    Topic.EVALUATION_ASSESSMENT,
    Topic.SOCIAL_DONATION,
    Topic.FUNDS_LEDGER,
)


def build_consumer(
    settings: Settings,
    sessionmaker: Any,
    topics: Sequence[str] | None = None,
    *,
    group_id: str = "funds",
    dead_letters: str | None = None,
    **options: Any,
) -> EventConsumer:
    """The funds consumer: group "funds", dead letters to funds.deadletter.v1 (tests override)."""
    return EventConsumer(
        name="funds",
        group_id=group_id + settings.consumer_group_suffix,
        topics=list(topics or [t.value for t in TOPICS]),
        handlers=handlers(settings),
        sessionmaker=sessionmaker,
        bootstrap=settings.kafka_bootstrap,
        dead_letter_topic=dead_letters or dead_letter_topic("funds"),
        **options,
    )


def build_consumers(app: FastAPI) -> Sequence[EventConsumer]:
    return [build_consumer(app.state.settings, consumer_sessionmaker(app))]
