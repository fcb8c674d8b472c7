"""Households as the API accepts and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from fupin_events.values import Day, Money, ResidentId, VillageCode
from fupin_kit.free_text import refuse_personal_number
from fupin_registry.households.domain import check_person_name, check_plan_text
from fupin_registry.vocabulary import (
    Education,
    Ethnicity,
    Health,
    HouseholdAttribute,
    HouseholdStatus,
    HousingSafety,
    IdentificationStandard,
    LabourAbility,
    MeasureType,
    MemberDeparture,
    PovertyCause,
    Relation,
    SchoolStatus,
    SupportType,
)

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(check_person_name),
]
Phone = Annotated[str, StringConstraints(pattern=r"^(1[0-9]{10}|0[0-9]{2,3}-?[0-9]{7,8})$")]
BankAccount = Annotated[str, StringConstraints(pattern=r"^[0-9]{12,30}$")]
# Starts with a letter or digit, as in imports: a register export writes a cell starting with
# '-' with a leading quote (spreadsheet programs take it for a formula), and it would not
# import again.
HouseholdNumber = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z-]{0,31}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Year = Annotated[int, Field(ge=2000, le=2100, examples=[2015])]
Amount = Annotated[Money, Field(ge=0)]
Sex = Literal["male", "female"]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberFields(_Input):
    """Fields of a member that may change after registration (not the identity)."""

    name: Name | None = None
    relation: Relation | None = None
    ethnicity: Ethnicity | None = None
    education: Education | None = None
    school_status: SchoolStatus | None = None
    health: Health | None = None
    disability: Annotated[str, StringConstraints(max_length=100)] | None = None
    labour_ability: LabourAbility | None = None
    migrant_months: int | None = Field(None, ge=0, le=12)
    medical_insurance: bool | None = None
    pension_insurance: bool | None = None


class MemberCreate(_Input):
    id_number: ResidentId
    name: Name = Field(examples=["张三"])
    birth_date: Day | None = Field(None, description="optional; must match the ID number")
    sex: Sex | None = Field(None, description="optional; must match the ID number")
    relation: Relation
    ethnicity: Ethnicity = Ethnicity.HAN
    education: Education | None = None
    school_status: SchoolStatus | None = None
    health: Health = Health.HEALTHY
    disability: Annotated[str, StringConstraints(max_length=100)] | None = None
    labour_ability: LabourAbility = LabourAbility.ORDINARY
    migrant_months: int = Field(0, ge=0, le=12)
    medical_insurance: bool = True
    pension_insurance: bool = False


class MemberUpdate(MemberFields):
    pass


class HeadChange(_Input):
    """A new head (户主): a current member takes the role; the former head either stays with
    another relation or leaves the household (death, migration, ...) in the same change."""

    member_id: uuid.UUID = Field(description="the current member who becomes the head")
    former_head_relation: Relation | None = Field(
        None, description="the former head's relation from now on (not head)"
    )
    former_head_departure: MemberDeparture | None = Field(
        None, description="why the former head leaves the household, if they leave"
    )
    on: Day | None = Field(
        None, description="business date of the former head's departure; defaults to today"
    )


class IncomeWrite(_Input):
    """A household's incomes of one year by source, yuan."""

    wages: Amount = Decimal(0)
    production: Amount = Decimal(0)
    property: Amount = Decimal(0)
    transfer: Amount = Decimal(0)
    production_costs: Amount = Decimal(0)


class IncomeYearWrite(IncomeWrite):
    year: Year


PlanText = Annotated[ShortText, AfterValidator(check_plan_text)]


class MeasureWrite(_Input):
    measure_type: MeasureType
    description: PlanText = Field(
        description="what is done; no phone, account or ID number (the plan's events carry it)"
    )
    responsible_cadre_id: (
        Annotated[
            str,
            StringConstraints(min_length=1, max_length=64),
            AfterValidator(refuse_personal_number),
        ]
        | None
    ) = None


class PlanWrite(_Input):
    measures: list[MeasureWrite] = Field(max_length=50)


class HouseholdCreate(_Input):
    village_code: VillageCode
    household_number: HouseholdNumber = Field(examples=["0001"])
    attribute: HouseholdAttribute
    support_type: SupportType
    primary_cause: PovertyCause
    secondary_causes: list[PovertyCause] = Field(default_factory=list, max_length=2)
    identification_standard: IdentificationStandard = IdentificationStandard.NATIONAL
    phone: Phone | None = None
    bank_account: BankAccount | None = None
    housing_safety: HousingSafety = HousingSafety.SAFE
    drinking_water_safe: bool = True
    year: Year | None = Field(None, description="identification year; defaults to this year")
    members: list[MemberCreate] = Field(min_length=1, max_length=100)
    incomes: list[IncomeYearWrite] = Field(default_factory=list, max_length=20)
    plan: list[MeasureWrite] = Field(
        default_factory=list, max_length=50, description="measures for the identification year"
    )


class HouseholdUpdate(_Input):
    """Partial update; fields left out keep their value. Status changes go through cases."""

    attribute: HouseholdAttribute | None = None
    support_type: SupportType | None = None
    primary_cause: PovertyCause | None = None
    secondary_causes: list[PovertyCause] | None = Field(None, max_length=2)
    identification_standard: IdentificationStandard | None = None
    phone: Phone | None = None
    bank_account: BankAccount | None = None
    housing_safety: HousingSafety | None = None
    drinking_water_safe: bool | None = None


class MemberRead(BaseModel):
    id: uuid.UUID
    id_number: str = Field(description="masked unless the caller holds pii:read")
    name: str = Field(description="masked unless the caller holds pii:read")
    sex: Sex
    birth_date: Day | None = Field(
        description="null when personal fields are masked: the masked ID number hides exactly"
        " its eight birth-date digits"
    )
    birth_year: int | None = Field(
        description="null when personal fields are masked: beside the masked ID number the year"
        " leaves only a few dozen possible numbers"
    )
    relation: Relation
    ethnicity: str
    education: Education | None
    school_status: SchoolStatus | None
    health: Health
    disability: str | None
    labour_ability: LabourAbility
    migrant_months: int
    medical_insurance: bool
    pension_insurance: bool


class IncomeYearRead(BaseModel):
    year: int
    wages: Money
    production: Money
    property: Money
    transfer: Money
    production_costs: Money
    net_income: Money
    per_capita_net_income: Money | None


class MeasureRead(BaseModel):
    year: int
    measure_type: MeasureType
    description: str
    responsible_cadre_id: str | None


class CadreRead(BaseModel):
    id: str
    name: str | None
    paired_on: Day | None


class ImportOrigin(BaseModel):
    """Where an imported household came from: ``GET /v1/imports/{job_id}`` and its error report."""

    job_id: uuid.UUID
    row: int = Field(description="the file row the household's rows begin at")


class HouseholdRead(BaseModel):
    id: uuid.UUID
    village_code: str
    village_name: str | None
    household_number: str
    attribute: HouseholdAttribute
    support_type: SupportType
    primary_cause: PovertyCause
    secondary_causes: list[PovertyCause]
    identification_standard: IdentificationStandard
    phone: str | None
    bank_account: str | None
    housing_safety: HousingSafety
    drinking_water_safe: bool
    status: HouseholdStatus
    year: int
    registered_on: Day | None
    exited_on: Day | None
    responsible_cadre: CadreRead | None
    version: int
    member_count: int
    members: list[MemberRead]
    incomes: list[IncomeYearRead]
    plan: list[MeasureRead]
    masked: bool = Field(description="true when personal fields are masked")
    as_of: Day | None = Field(None, description="set when read from history")
    imported_from: ImportOrigin | None = Field(
        None, description="the import job and file row that created it; null if entered by API"
    )


class HouseholdSummary(BaseModel):
    """A search hit: no personal data."""

    id: uuid.UUID
    village_code: str
    household_number: str
    attribute: HouseholdAttribute
    support_type: SupportType
    status: HouseholdStatus
    primary_cause: PovertyCause
    secondary_causes: list[PovertyCause]
    year: int
    registered_on: Day | None
    member_count: int


class AccessEntryRead(BaseModel):
    """One audit record about the household: personal data read in clear, or a bank's
    eligibility check about one of its members (a batch request's check is one entry)."""

    seq: int = Field(description="the record's place in the audit chain")
    occurred_at: datetime
    actor: str = Field(description="who: user:<sub> or client:<client_id>")
    action: str = Field(
        description="pii.read_unmasked, pii.export_unmasked, eligibility.check, quota.override,"
        " audit.read_access_log…"
    )
    object_type: str = Field(description="household, member, case or register (an export)")
    object_id: str = Field(
        description="the household, member or case id; for an eligibility check the member's"
        " blind index (hex), never the ID number; for an export the exported region's code"
    )
    member_id: uuid.UUID | None = Field(
        None, description="the member concerned, when the record is about one"
    )
    details: dict[str, Any] = Field(
        description="as recorded: the fields read in clear, or the check's decision id,"
        " answer, reason code, purpose and consent reference"
    )


class ChangeRead(BaseModel):
    version: int
    action: str
    changed: list[str]
    actor: str
    status: HouseholdStatus
    valid_from: datetime
    valid_to: datetime | None
