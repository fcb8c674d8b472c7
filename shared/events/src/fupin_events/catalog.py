"""The catalog: every event type, its payload model, its topic and its producer."""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass

from fupin_events import audit, evaluation, funds, registry, social, teams
from fupin_events.envelope import EventData
from fupin_events.topics import Topic

SCHEMA_BASE = "https://fupin.example/schemas/events"


@dataclass(frozen=True)
class EventSpec:
    type: str
    model: builtins.type[EventData]  # the field ``type`` hides the builtin in this class
    topic: Topic

    @property
    def producer(self) -> str:
        return self.topic.value.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.type.removeprefix("fupin.").removesuffix(".v1")

    @property
    def dataschema(self) -> str:
        return f"{SCHEMA_BASE}/{self.name}.json"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _spec(model: type[EventData], topic: Topic, action: str | None = None) -> EventSpec:
    service, entity, _ = topic.value.split(".")
    verb = action or _snake(model.__name__)
    return EventSpec(type=f"fupin.{service}.{entity}.{verb}.v1", model=model, topic=topic)


_SPECS = [
    _spec(registry.HouseholdRegistered, Topic.REGISTRY_HOUSEHOLD, "registered"),
    _spec(registry.HouseholdUpdated, Topic.REGISTRY_HOUSEHOLD, "updated"),
    _spec(registry.HouseholdStatusChanged, Topic.REGISTRY_HOUSEHOLD, "status_changed"),
    _spec(registry.AssistancePlanChanged, Topic.REGISTRY_HOUSEHOLD, "assistance_plan_changed"),
    _spec(registry.QuotaSet, Topic.REGISTRY_QUOTA, "set"),
    _spec(registry.FlagRaised, Topic.REGISTRY_FLAG, "raised"),
    _spec(registry.FlagResolved, Topic.REGISTRY_FLAG, "resolved"),
    _spec(funds.AllocationApproved, Topic.FUNDS_ALLOCATION, "approved"),
    _spec(funds.AllocationPublished, Topic.FUNDS_ALLOCATION, "published"),
    _spec(funds.ProjectApproved, Topic.FUNDS_PROJECT, "approved"),
    _spec(funds.ProjectAnnounced, Topic.FUNDS_PROJECT, "announced"),
    _spec(funds.ProjectStarted, Topic.FUNDS_PROJECT, "started"),
    _spec(funds.ProjectCompleted, Topic.FUNDS_PROJECT, "completed"),
    _spec(funds.ProjectAccepted, Topic.FUNDS_PROJECT, "accepted"),
    _spec(funds.Disbursed, Topic.FUNDS_LEDGER, "disbursed"),
    _spec(funds.SubsidyPaid, Topic.FUNDS_LEDGER, "subsidy_paid"),
    _spec(funds.Reversed, Topic.FUNDS_LEDGER, "reversed"),
    _spec(funds.LoanRegistered, Topic.FUNDS_LOAN, "registered"),
    _spec(funds.LoanRepaid, Topic.FUNDS_LOAN, "repaid"),
    _spec(funds.LoanOverdue, Topic.FUNDS_LOAN, "overdue"),
    _spec(funds.AnomalyRaised, Topic.FUNDS_SUPERVISION, "anomaly_raised"),
    _spec(funds.FindingRaised, Topic.FUNDS_SUPERVISION, "finding_raised"),
    _spec(funds.FindingRectified, Topic.FUNDS_SUPERVISION, "finding_rectified"),
    _spec(teams.TeamStationed, Topic.TEAMS_TEAM, "stationed"),
    _spec(teams.TeamRotated, Topic.TEAMS_TEAM, "rotated"),
    _spec(teams.TeamEnded, Topic.TEAMS_TEAM, "ended"),
    _spec(teams.CadrePaired, Topic.TEAMS_TEAM, "cadre_paired"),
    _spec(teams.VisitLogged, Topic.TEAMS_ACTIVITY, "visit_logged"),
    _spec(teams.TaskProgressed, Topic.TEAMS_ACTIVITY, "task_progressed"),
    _spec(teams.AssessmentCompleted, Topic.TEAMS_ACTIVITY, "assessment_completed"),
    _spec(evaluation.CountyAssessed, Topic.EVALUATION_ASSESSMENT, "county_assessed"),
    _spec(evaluation.CountyExitApproved, Topic.EVALUATION_ASSESSMENT, "county_exit_approved"),
    _spec(evaluation.ReportSubmitted, Topic.EVALUATION_DISPATCH, "report_submitted"),
    _spec(evaluation.ReportOverdue, Topic.EVALUATION_DISPATCH, "report_overdue"),
    _spec(social.DonationPledged, Topic.SOCIAL_DONATION, "pledged"),
    _spec(social.DonationReceived, Topic.SOCIAL_DONATION, "received"),
    _spec(social.DonationAllocated, Topic.SOCIAL_DONATION, "allocated"),
    _spec(audit.RegistryAuditAnchored, Topic.REGISTRY_AUDIT, "anchored"),
    _spec(audit.FundsAuditAnchored, Topic.FUNDS_AUDIT, "anchored"),
    _spec(audit.TeamsAuditAnchored, Topic.TEAMS_AUDIT, "anchored"),
    _spec(audit.EvaluationAuditAnchored, Topic.EVALUATION_AUDIT, "anchored"),
    _spec(audit.SocialAuditAnchored, Topic.SOCIAL_AUDIT, "anchored"),
]

CATALOG: dict[str, EventSpec] = {s.type: s for s in _SPECS}
_BY_MODEL: dict[type[EventData], EventSpec] = {s.model: s for s in _SPECS}


def spec_for_type(event_type: str) -> EventSpec:
    return CATALOG[event_type]


def spec_for_model(model: type[EventData]) -> EventSpec:
    return _BY_MODEL[model]
