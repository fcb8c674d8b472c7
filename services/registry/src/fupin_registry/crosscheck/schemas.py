"""Reference lists, flags and comparison reports as the API accepts and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fupin_events.values import Day
from fupin_registry.imports.rows import CONTROL_CHARACTERS


def plain_text(value: str | None) -> str | None:
    """A form field's text: control characters (NUL above all, which the database refuses)
    are refused here, naming the field, as the body guard refuses them in JSON bodies."""
    if value is not None and CONTROL_CHARACTERS.search(value):
        raise ValueError("control characters (such as NUL) are not allowed")
    return value


class ListKind(StrEnum):
    VEHICLES = "vehicles"  # 车辆登记 (公安交管)
    COMPANIES = "companies"  # 工商注册 (市场监管)
    PUBLIC_EMPLOYEES = "public_employees"  # 财政供养人员
    URBAN_HOUSING = "urban_housing"  # 城镇购房 (住建)
    DEATHS = "deaths"  # 死亡登记 (公安、民政)
    DIBAO = "dibao"  # 农村低保名单 (民政)


# The flag a match raises, by list kind (the exclusion rules use the same names).
FLAG_KIND = {
    ListKind.VEHICLES: "vehicle",
    ListKind.COMPANIES: "company",
    ListKind.PUBLIC_EMPLOYEES: "public_employee",
    ListKind.URBAN_HOUSING: "urban_housing",
    ListKind.DEATHS: "death",
}
# The flag of a person on the member lists of two live households, and its source (a rule).
DUPLICATE_FLAG_KIND = "duplicate_id"
DUPLICATE_FLAG_SOURCE = "rule:duplicate_id"


class DuplicateFlagsRaised(BaseModel):
    flags_raised: int = Field(description="households newly flagged `duplicate_id`")


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class RowProblem(BaseModel):
    row: int
    reason: str


class ReferenceListRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: ListKind
    agency: str
    uploaded_by: str
    jurisdiction: str = Field(description="the region the list covers (its uploader's)")
    row_count: int = Field(description="entries stored (valid ID numbers)")
    match_count: int = Field(description="flags raised by this list")
    created_at: datetime


class ReferenceListUploaded(ReferenceListRead):
    rejected_rows: int
    problems: list[RowProblem] = Field(description="the first 100 rejected rows")


class FlagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    household_id: uuid.UUID
    member_id: uuid.UUID | None
    village_code: str
    kind: str
    source: str
    status: str
    resolution_reason: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    follow_up_case_id: uuid.UUID | None
    created_at: datetime


class FlagPage(BaseModel):
    items: list[FlagRead]
    next_cursor: str | None = None


class FlagConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason | None = Field(None, description="why the match is right; kept on the case")
    died_on: Day | None = Field(
        None, description="death flags: business date of the death; defaults to today"
    )
    new_head_member_id: uuid.UUID | None = Field(
        None,
        description="death flags: the member who becomes the head when the deceased was the head"
        " and others remain",
    )


class FlagDismiss(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description="why the match does not apply (e.g. a farm vehicle)")


class HouseholdRef(BaseModel):
    household_id: uuid.UUID
    village_code: str
    household_number: str
    status: str
    attribute: str
    member_active: bool


class DuplicateHolder(BaseModel):
    """A household whose member list holds the person: named inside your jurisdiction; outside
    it, only its status is shown."""

    household_id: uuid.UUID | None = None
    village_code: str | None = None
    household_number: str | None = None
    status: str
    attribute: str | None = None
    member_active: bool
    outside_jurisdiction: bool = False


class DuplicateId(BaseModel):
    id_index: str = Field(description="blind index of the ID number (not the number itself)")
    households: list[DuplicateHolder]


class DuplicateReport(BaseModel):
    items: list[DuplicateId]
    next_cursor: str | None = None


class DibaoEntry(BaseModel):
    household_ref: str | None = Field(description="the civil-affairs household number")
    village_code: str | None
    people: int
    register_households: list[HouseholdRef] = Field(
        description="register households of these people (attribute not dibao), if any"
    )


class RegisterDibaoHousehold(BaseModel):
    household_id: uuid.UUID
    village_code: str
    household_number: str
    attribute: str


class DibaoReport(BaseModel):
    list_id: uuid.UUID
    region: str = Field(
        description="the region compared: your jurisdiction, or the list's when it lies inside it"
    )
    missing_from_register: list[DibaoEntry] = Field(
        description=(
            "dibao households none of whose people is in a registered household (identified,"
            " exited or returned); an applicant household they are in is listed with its status"
        )
    )
    registered_without_dibao_attribute: list[DibaoEntry] = Field(
        description="dibao households registered with an attribute other than dibao / dibao-poor"
    )
    registered_outside_region: int = Field(
        0,
        description=(
            "dibao households of the region whose people are registered only in a household"
            " outside it (counted, not named: the register there is another jurisdiction's)"
        ),
    )
    missing_from_dibao_list: list[RegisterDibaoHousehold] = Field(
        description="register households marked dibao / dibao-poor with nobody on the dibao list"
    )
    truncated: bool = Field(description="true when a section was cut at the row limit")
