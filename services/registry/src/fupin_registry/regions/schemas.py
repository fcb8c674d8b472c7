"""Region reference data as the API shows it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RegionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(examples=["220622100201"])
    name: str = Field(examples=["那尔轰村委会"])
    level: str = Field(
        examples=["village"], description="province, city, county, township or village"
    )
    parent_code: str | None = Field(None, examples=["220622100"])
    rural_population: int | None = Field(None, description="rural population (reference data)")


class RuralPopulationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: a JSON integer only (not true, 5.0 or "5"), as a quota.
    rural_population: int = Field(ge=0, le=50_000_000, strict=True, examples=[1830])
