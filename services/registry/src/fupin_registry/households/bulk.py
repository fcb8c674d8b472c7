"""The bulk write path: whole households (rows, history, events) into PostgreSQL with COPY.

Callers build plain rows (:class:`HouseholdRow`, :class:`MemberRow`, ... with the columns'
names, cheaper than ORM objects by an order of magnitude) and the history snapshots with
:func:`fupin_registry.households.snapshot.snapshot_of`, then hand a :class:`RegisterBatch` to
:func:`copy_batch`, in as many chunks as they like, inside one transaction on an asyncpg
connection. Nothing here validates: the caller has already applied the domain rules.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from fupin_events.envelope import EventData, new_event
from fupin_kit.outbox import outbox_row


@dataclass(slots=True)
class HouseholdRow:
    id: uuid.UUID
    village_code: str
    household_number: str
    attribute: str
    support_type: str
    primary_cause: str
    secondary_causes: list[str]
    identification_standard: str
    phone_enc: bytes | None
    bank_account_enc: bytes | None
    housing_safety: str
    drinking_water_safe: bool
    status: str
    year: int
    registered_on: date | None = None
    exited_on: date | None = None
    responsible_cadre_id: str | None = None
    responsible_cadre_name: str | None = None
    cadre_paired_on: date | None = None
    version: int = 1


@dataclass(slots=True)
class MemberRow:
    id: uuid.UUID
    household_id: uuid.UUID
    id_index: bytes
    id_number_enc: bytes
    name_enc: bytes
    sex: str
    birth_date: date
    relation: str
    ethnicity: str
    education: str | None
    school_status: str | None
    health: str
    disability: str | None
    labour_ability: str
    migrant_months: int
    medical_insurance: bool
    pension_insurance: bool
    active: bool = True
    left_on: date | None = None
    left_reason: str | None = None


@dataclass(slots=True)
class IncomeRow:
    household_id: uuid.UUID
    year: int
    source: str
    amount: Decimal


@dataclass(slots=True)
class MeasureRow:
    id: uuid.UUID
    household_id: uuid.UUID
    year: int
    measure_type: str
    description: str
    responsible_cadre_id: str | None = None


HOUSEHOLD_COLUMNS = (
    "id",
    "village_code",
    "household_number",
    "attribute",
    "support_type",
    "primary_cause",
    "secondary_causes",
    "identification_standard",
    "phone_enc",
    "bank_account_enc",
    "housing_safety",
    "drinking_water_safe",
    "status",
    "year",
    "registered_on",
    "exited_on",
    "responsible_cadre_id",
    "responsible_cadre_name",
    "version",
)
MEMBER_COLUMNS = (
    "id",
    "household_id",
    "id_index",
    "id_number_enc",
    "name_enc",
    "sex",
    "birth_date",
    "relation",
    "ethnicity",
    "education",
    "school_status",
    "health",
    "disability",
    "labour_ability",
    "migrant_months",
    "medical_insurance",
    "pension_insurance",
    "active",
    "left_on",
    "left_reason",
)
INCOME_COLUMNS = ("household_id", "year", "source", "amount")
MEASURE_COLUMNS = (
    "id",
    "household_id",
    "year",
    "measure_type",
    "description",
    "responsible_cadre_id",
)
VERSION_COLUMNS = (
    "household_id",
    "version",
    "village_code",
    "status",
    "valid_from",
    "valid_to",
    "effective_on",
    "actor",
    "action",
    "changed",
    "snapshot",
)
OUTBOX_COLUMNS = ("event_id", "topic", "key", "event_type", "payload")


@dataclass
class VersionRow:
    household_id: Any
    version: int
    village_code: str
    status: str
    valid_from: datetime
    valid_to: datetime | None
    effective_on: date
    actor: str
    action: str
    changed: list[str]
    snapshot: dict[str, Any]


@dataclass
class RegisterBatch:
    households: list[HouseholdRow] = field(default_factory=list)
    members: list[MemberRow] = field(default_factory=list)
    incomes: list[IncomeRow] = field(default_factory=list)
    measures: list[MeasureRow] = field(default_factory=list)
    versions: list[VersionRow] = field(default_factory=list)
    events: list[tuple[EventData, str]] = field(default_factory=list)


async def written_by(conn: asyncpg.Connection, actor: str) -> bool:
    """Whether any history row was written by ``actor`` (e.g. the demo generator)."""
    query = "SELECT EXISTS (SELECT 1 FROM household_versions WHERE actor = $1)"
    return bool(await conn.fetchval(query, actor))


def _records(objects: list[Any], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(getattr(o, column) for column in columns) for o in objects]


async def copy_batch(conn: asyncpg.Connection, batch: RegisterBatch) -> dict[str, int]:
    """COPY every part of the batch; returns the row count per table.

    Members are copied in blind-index order (``id_index`` ascending), the order every write of
    members follows (``HouseholdRepository.add_members``), so that a concurrent transaction
    sharing people with the batch waits on the first of them instead of deadlocking with it; a
    transaction written in several calls has that order within each call."""
    versions = [
        (
            v.household_id,
            v.version,
            v.village_code,
            v.status,
            v.valid_from,
            v.valid_to,
            v.effective_on,
            v.actor,
            v.action,
            v.changed,
            json.dumps(v.snapshot, ensure_ascii=False),
        )
        for v in batch.versions
    ]
    events = []
    for data, subject in batch.events:
        row = outbox_row(new_event(data, subject=subject))
        events.append(
            tuple(
                json.dumps(row[c], ensure_ascii=False) if c == "payload" else row[c]
                for c in OUTBOX_COLUMNS
            )
        )
    members = sorted(batch.members, key=lambda member: member.id_index)
    tables = [
        ("households", HOUSEHOLD_COLUMNS, _records(batch.households, HOUSEHOLD_COLUMNS)),
        ("members", MEMBER_COLUMNS, _records(members, MEMBER_COLUMNS)),
        ("household_incomes", INCOME_COLUMNS, _records(batch.incomes, INCOME_COLUMNS)),
        ("assistance_measures", MEASURE_COLUMNS, _records(batch.measures, MEASURE_COLUMNS)),
        ("household_versions", VERSION_COLUMNS, versions),
        ("outbox", OUTBOX_COLUMNS, events),
    ]
    counts = {}
    for table, columns, records in tables:
        if records:
            await conn.copy_records_to_table(table, records=records, columns=list(columns))
        counts[table] = len(records)
    return counts
