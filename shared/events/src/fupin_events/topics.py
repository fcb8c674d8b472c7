"""Kafka topic names in one place. Partitions and retention live in ``deploy/kafka/topics.tsv``;
a test keeps the two lists equal."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    REGISTRY_HOUSEHOLD = "registry.household.v1"
    REGISTRY_QUOTA = "registry.quota.v1"
    REGISTRY_FLAG = "registry.flag.v1"
    FUNDS_ALLOCATION = "funds.allocation.v1"
    FUNDS_PROJECT = "funds.project.v1"
    FUNDS_LEDGER = "funds.ledger.v1"
    FUNDS_LOAN = "funds.loan.v1"
    FUNDS_SUPERVISION = "funds.supervision.v1"
    TEAMS_TEAM = "teams.team.v1"
    TEAMS_ACTIVITY = "teams.activity.v1"
    EVALUATION_ASSESSMENT = "evaluation.assessment.v1"
    EVALUATION_DISPATCH = "evaluation.dispatch.v1"
    SOCIAL_DONATION = "social.donation.v1"
    REGISTRY_AUDIT = "registry.audit.v1"
    FUNDS_AUDIT = "funds.audit.v1"
    TEAMS_AUDIT = "teams.audit.v1"
    EVALUATION_AUDIT = "evaluation.audit.v1"
    SOCIAL_AUDIT = "social.audit.v1"


SERVICES = ("registry", "funds", "teams", "evaluation", "social")
TOPICS: tuple[str, ...] = tuple(t.value for t in Topic)
DEAD_LETTER_TOPICS: dict[str, str] = {s: f"{s}.deadletter.v1" for s in SERVICES}


def dead_letter_topic(service: str) -> str:
    return DEAD_LETTER_TOPICS[service]


def audit_topic(service: str) -> str:
    """Where ``service`` publishes the anchors of its audit chain (``fupin_events.audit``)."""
    return f"{service}.audit.v1"
