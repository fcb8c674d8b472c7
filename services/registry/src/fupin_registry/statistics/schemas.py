"""Statistics as the API shows them."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from fupin_events.values import Day
from fupin_registry.vocabulary import HistoryBasis

Level = Literal["province", "city", "county", "township", "village"]
GroupBy = Literal["status", "attribute", "cause"]


class RegisterRow(BaseModel):
    region_code: str
    region_name: str | None
    key: str | None = Field(
        description="the status, attribute or primary cause; null when not grouped"
    )
    households: int
    people: int


class RegisterStatistics(BaseModel):
    region: str
    level: Level
    by: GroupBy | None
    as_of: Day | None
    basis: HistoryBasis | None = Field(description="with `as_of`: how the date was read")
    rows: list[RegisterRow]


class IncidenceRow(BaseModel):
    region_code: str
    region_name: str | None
    poor_people: int
    rural_population: int | None
    incidence: Decimal | None = Field(description="poor people / rural population, 4 decimals")


class IncidenceStatistics(BaseModel):
    region: str
    level: Level
    as_of: Day | None
    basis: HistoryBasis | None = Field(description="with `as_of`: how the date was read")
    poor_statuses: list[str]
    rows: list[IncidenceRow]
