"""Quotas as the API accepts and shows them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class QuotaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Strict: a JSON integer only (not true, 5.0 or "5").
    quota: int = Field(
        ge=0,
        le=100_000_000,
        strict=True,
        description="people the region may register",
        examples=[1200],
    )


class QuotaRead(BaseModel):
    region_code: str = Field(examples=["220622"])
    region_name: str | None = None
    year: int
    quota: int
    parent_code: str | None
    set_by: str
    used: int = Field(description="people counted by the identifications approved that year")
    children_total: int = Field(
        description="sum of the quotas of the nearest regions below that have one"
    )
