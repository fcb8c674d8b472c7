"""Events produced by the funds service (专项扶贫资金)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from fupin_events.envelope import EventData
from fupin_events.values import Money, RegionPrefix


class AllocationLine(EventData):
    region_code: RegionPrefix
    amount: Money


class AllocationApproved(EventData):
    allocation_id: str
    fund_id: str
    source: str
    year: int = Field(ge=2000, le=2100)
    parent_region: RegionPrefix
    total: Money
    lines: list[AllocationLine]


class AllocationPublished(EventData):
    allocation_id: str
    parent_region: RegionPrefix
    notice_ends_on: date


class ProjectEvent(EventData):
    project_id: str
    region_code: RegionPrefix
    project_type: str
    name: str
    budget: Money
    village_codes: list[str] = Field(default_factory=list)


class ProjectApproved(ProjectEvent):
    pass


class ProjectAnnounced(ProjectEvent):
    notice_ends_on: date


class ProjectStarted(ProjectEvent):
    pass


class ProjectCompleted(ProjectEvent):
    pass


class ProjectAccepted(ProjectEvent):
    pass


class Disbursed(EventData):
    entry_id: str
    from_account: str
    to_account: str
    amount: Money
    region_code: RegionPrefix
    project_id: str | None = None
    household_id: str | None = None
    booked_on: date


class SubsidyPaid(EventData):
    entry_id: str
    loan_id: str
    amount: Money
    period_start: date
    period_end: date
    region_code: RegionPrefix


class Reversed(EventData):
    entry_id: str
    reverses_entry_id: str
    amount: Money
    reason: str
    region_code: RegionPrefix


class LoanRegistered(EventData):
    loan_id: str
    bank_id: str
    region_code: RegionPrefix
    household_id: str | None
    amount: Money
    term_months: int = Field(ge=1, le=600)
    product: str
    start_date: date


class LoanRepaid(EventData):
    loan_id: str
    region_code: RegionPrefix
    amount: Money
    repaid_on: date
    fully_repaid: bool


class LoanOverdue(EventData):
    loan_id: str
    region_code: RegionPrefix
    overdue_since: date
    outstanding: Money


class AnomalyRaised(EventData):
    anomaly_id: str
    rule: str
    region_code: RegionPrefix
    evidence: dict[str, str]


class FindingRaised(EventData):
    finding_id: str
    region_code: RegionPrefix
    finding_type: str
    amount: Money | None = None
    deadline: date


class FindingRectified(EventData):
    finding_id: str
    region_code: RegionPrefix
    rectified_on: date
