"""Events produced by the registry service (建档立卡).

Payloads carry no clear personal data: members appear only as blind-index values (keyed HMAC of
the resident ID number), which other services use to match payments and loans to members.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from fupin_events.envelope import EventData
from fupin_events.values import RegionPrefix, VillageCode


class HouseholdStatus(StrEnum):
    APPLIED = "applied"  # identification case open, not yet registered
    IDENTIFIED = "identified"  # registered poor household (建档立卡贫困户)
    EXITED = "exited"  # 脱贫
    RETURNED = "returned"  # 返贫: back in poverty after an exit
    REMOVED = "removed"  # 清退: wrong entry removed
    NATURAL_DECREASE = "natural_decrease"  # death or migration of the whole household
    REJECTED = "rejected"


class HouseholdAttribute(StrEnum):
    ORDINARY_POOR = "ordinary_poor"  # 一般贫困户
    DIBAO = "dibao"  # 低保户
    WUBAO = "wubao"  # 五保户 / 特困
    DIBAO_POOR = "dibao_poor"  # 低保贫困户


class SupportType(StrEnum):
    DEVELOPMENT = "development"  # 开发式扶贫
    GUARANTEE = "guarantee"  # 兜底保障
    BOTH = "both"


class HouseholdRegistered(EventData):
    household_id: str
    village_code: VillageCode
    household_number: str
    attribute: HouseholdAttribute
    support_type: SupportType
    primary_cause: str
    status: HouseholdStatus
    member_count: int = Field(ge=0, le=100)
    member_indexes: list[str] = Field(default_factory=list, description="blind indexes of members")
    registered_on: date | None = None
    exited_on: date | None = Field(
        None,
        description="the last exit (脱贫) of a household registered already exited or returned"
        " (a county import): registered on registered_on, exited on this day (absent from older"
        " events)",
    )
    year: int = Field(ge=2000, le=2100)
    version: int | None = Field(
        None, ge=1, description="the household's version after this change: orders its events"
    )


class HouseholdUpdated(EventData):
    household_id: str
    village_code: VillageCode
    changed: list[str] = Field(description="names of the fields that changed")
    attribute: HouseholdAttribute
    support_type: SupportType
    member_count: int = Field(ge=0, le=100)
    member_indexes: list[str] = Field(default_factory=list)
    per_capita_net_income: str | None = Field(None, description="latest year, decimal string")
    status: HouseholdStatus | None = Field(
        None, description="the household's status at this change (absent from older events)"
    )
    version: int | None = Field(
        None, ge=1, description="the household's version after this change: orders its events"
    )


class HouseholdStatusChanged(EventData):
    household_id: str
    village_code: VillageCode
    from_status: HouseholdStatus | None
    to_status: HouseholdStatus
    reason: str | None = Field(
        None,
        description="why, as a code: the case's kind and outcome (exit_approved,"
        " identification_rejected, …); an officer's own words stay in the registry, since they"
        " may name people",
    )
    effective_on: date
    case_id: str | None = None
    member_count: int = Field(ge=0, le=100)
    member_indexes: list[str] = Field(default_factory=list)
    attribute: HouseholdAttribute | None = Field(
        None, description="the household's attribute at this change (absent from older events)"
    )
    version: int | None = Field(
        None, ge=1, description="the household's version after this change: orders its events"
    )


class AssistanceMeasure(EventData):
    measure_type: str
    description: str = Field(
        description="what is done; the registry refuses text holding a phone, account or ID"
        " number, and names the cadre by id only"
    )
    responsible_cadre_id: str | None = None


class AssistancePlanChanged(EventData):
    household_id: str
    village_code: VillageCode
    year: int = Field(ge=2000, le=2100)
    measures: list[AssistanceMeasure]


class QuotaSet(EventData):
    region_code: RegionPrefix
    year: int = Field(ge=2000, le=2100)
    quota: int = Field(ge=0, description="number of poor people the region may register")
    parent_code: str | None = None


class FlagRaised(EventData):
    flag_id: str
    household_id: str
    village_code: VillageCode
    kind: str = Field(description="e.g. vehicle, company, public_employee, duplicate_id")
    source: str


class FlagResolved(EventData):
    flag_id: str
    household_id: str
    village_code: VillageCode
    outcome: str = Field(description="confirmed or dismissed")
    reason: str | None = Field(
        None,
        description="why, as a code: household_closed when the household left the register;"
        " none for a reviewer's decision, whose words stay in the registry (they may name people)",
    )
