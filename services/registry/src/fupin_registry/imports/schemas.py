"""Import jobs as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fupin_registry.imports.limits import listed


class ImportJobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    state: Literal["queued", "running", "completed", "failed"]
    region_code: str = Field(description="the jurisdiction the rows were imported into")
    file_name: str
    file_kind: Literal["csv", "xlsx", "xls"]
    encoding: str | None = Field(description="detected text encoding of a CSV file")
    file_bytes: int
    failure_reason: str | None
    header_row: int | None = Field(description="the row holding the template headers")
    ignored_columns: list[str] = Field(description="headers that are not in the template")
    notes: list[str] = Field(description="merged cells, formulas and other remarks about the file")
    rows_read: int = Field(description="non-empty data rows read so far")
    rows_empty: int = Field(description="empty rows skipped")
    rows_valid: int = Field(description="rows that passed validation (with their household)")
    rows_rejected: int = Field(description="rows not imported; see the error report")
    rows_committed: int = Field(description="member rows written to the register")
    rows_unchanged: int = Field(description="rows of households already registered")
    households_created: int
    households_unchanged: int
    chunks_committed: int
    error_count: int
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    errors_csv: str = Field(description="row-level error report (row, column, value, reason)")
    errors_xlsx: str


def job_read(job: object) -> ImportJobRead:
    data = {name: getattr(job, name) for name in ImportJobRead.model_fields if hasattr(job, name)}
    # Already shortened when stored; a job stored before that is listed shortened too.
    data["ignored_columns"] = listed(data.get("ignored_columns") or [])
    base = f"/v1/imports/{data['id']}/errors"
    return ImportJobRead(**data, errors_csv=base + ".csv", errors_xlsx=base + ".xlsx")


class ImportJobPage(BaseModel):
    items: list[ImportJobRead]
    next_cursor: str | None = None
