"""Audit-chain anchors: each service's relay publishes the head of its audit chain.

Every record of a service's audit chain links to the one before it, so an edited or deleted
record breaks the chain, except at its end: deleting the newest records leaves a shorter chain
that still verifies. An anchor copies the head (sequence number and hash) out of the database
into Kafka, where whoever can write to the database cannot reach it; verifying the chain
against the anchors (``fupin-audit verify --anchors``) finds the rows deleted after an anchor.
One model per producing service, so each has its own topic ``<service>.audit.v1`` in the
catalog.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from fupin_events.envelope import EventData


class AuditAnchored(EventData):
    service: str
    chain: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="hash of the chain's first record: which database's chain this anchors",
    )
    seq: int = Field(ge=1, description="sequence number of the chain's newest record")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="that record's chain hash")
    head_occurred_at: datetime = Field(description="when that record was written")


class RegistryAuditAnchored(AuditAnchored):
    pass


class FundsAuditAnchored(AuditAnchored):
    pass


class TeamsAuditAnchored(AuditAnchored):
    pass


class EvaluationAuditAnchored(AuditAnchored):
    pass


class SocialAuditAnchored(AuditAnchored):
    pass


ANCHOR_EVENTS: dict[str, type[AuditAnchored]] = {
    "registry": RegistryAuditAnchored,
    "funds": FundsAuditAnchored,
    "teams": TeamsAuditAnchored,
    "evaluation": EvaluationAuditAnchored,
    "social": SocialAuditAnchored,
}
