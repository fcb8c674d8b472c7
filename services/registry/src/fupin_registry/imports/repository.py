"""SQL of the import: jobs, errors, COPY into staging and the set-based merge of a chunk.

The merge of one chunk runs in one transaction: classify the staged households (already
registered → unchanged; a member already active elsewhere, or listed in two households of the
chunk → rejected), then one INSERT … SELECT per target table (households, members, incomes,
history versions, outbox events), then delete the chunk from staging. History snapshots and
event envelopes arrive ready in the staged rows (built by ``pipeline.to_copy`` in the parser
process, with the keys of ``households.snapshot.snapshot_of`` and the envelope of
``fupin_events.envelope.new_event``; tests compare them).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.catalog import spec_for_model
from fupin_events.registry import HouseholdRegistered
from fupin_registry.imports.models import ImportJob, ImportRowError
from fupin_registry.imports.pipeline import HOUSEHOLD_COPY_COLUMNS, MEMBER_COPY_COLUMNS

WORK_MEM = "64MB"
_ANALYZE = (
    "ANALYZE import_staged_households (job_id, chunk, household_id, first_row, village_code,"
    " household_number, outcome), import_staged_members (job_id, chunk, household_id, row_number,"
    " id_index)"
)
MERGE_LOCK = 0x1A9_0127  # one merge at a time: cross-chunk "already registered" stays exact

_STAGED = "job_id = :job AND chunk = :chunk"
_DELETE_MEMBERS = "DELETE FROM import_staged_members WHERE job_id = :job AND chunk = :chunk"
_DELETE_HOUSEHOLDS = "DELETE FROM import_staged_households WHERE job_id = :job AND chunk = :chunk"

_CLASSIFY = f"""
WITH staged AS (
    SELECT household_id, village_code, household_number
      FROM import_staged_households WHERE {_STAGED}
), staged_members AS (
    SELECT household_id, row_number, id_index FROM import_staged_members WHERE {_STAGED}
), verdicts AS (
    SELECT s.household_id, 'unchanged' AS outcome,
           'household ' || s.village_code || '/' || s.household_number || ' is already registered'
               AS reason,
           NULL::int AS reason_row, 1 AS priority
      FROM staged s
      JOIN households h
        ON h.village_code = s.village_code AND h.household_number = s.household_number
    UNION ALL
    SELECT m.household_id, 'rejected',
           'member already registered in household ' || h.village_code || '/' || h.household_number,
           m.row_number, 2
      FROM staged_members m
      JOIN members e ON e.id_index = m.id_index AND e.active
      JOIN households h ON h.id = e.household_id
    UNION ALL
    SELECT m.household_id, 'rejected',
           'this person is also listed in another household at row ' || f.row_number,
           m.row_number, 3
      FROM staged_members m
      JOIN staged_members f
        ON f.id_index = m.id_index AND f.row_number < m.row_number
       AND f.household_id <> m.household_id
), verdict AS (
    SELECT DISTINCT ON (household_id) household_id, outcome, reason, reason_row
      FROM verdicts ORDER BY household_id, priority, reason_row
)
UPDATE import_staged_households s
   SET outcome = v.outcome, reason = v.reason, reason_row = v.reason_row
  FROM verdict v
 WHERE s.job_id = :job AND s.chunk = :chunk AND s.household_id = v.household_id
RETURNING s.household_id, s.outcome, s.reason, s.reason_row, s.member_count
"""  # noqa: S608 - only module constants are interpolated

_INSERT_HOUSEHOLDS = """
INSERT INTO households (id, village_code, household_number, attribute, support_type, primary_cause,
    secondary_causes, identification_standard, phone_enc, bank_account_enc, housing_safety,
    drinking_water_safe, status, year, registered_on, exited_on, version)
SELECT h.household_id, h.village_code, h.household_number, h.attribute, h.support_type,
       h.primary_cause, h.secondary_causes, h.identification_standard, h.phone_enc,
       h.bank_account_enc, h.housing_safety, h.drinking_water_safe, h.status, h.year,
       h.registered_on, h.exited_on, 1
  FROM import_staged_households h
 WHERE h.job_id = :job AND h.chunk = :chunk AND h.outcome IS NULL
 ORDER BY h.first_row
"""  # noqa: S608 - only module constants are interpolated

_INSERT_MEMBERS = """
INSERT INTO members (id, household_id, id_index, id_number_enc, name_enc, sex, birth_date, relation,
    ethnicity, education, school_status, health, disability, labour_ability, migrant_months,
    medical_insurance, pension_insurance, active)
SELECT m.member_id, m.household_id, m.id_index, m.id_number_enc, m.name_enc, m.sex, m.birth_date,
       m.relation, m.ethnicity, m.education, m.school_status, m.health, m.disability,
       m.labour_ability, m.migrant_months, m.medical_insurance, m.pension_insurance, true
  FROM import_staged_members m
  JOIN import_staged_households h
    ON h.job_id = m.job_id AND h.chunk = m.chunk AND h.household_id = m.household_id
 WHERE m.job_id = :job AND m.chunk = :chunk AND h.outcome IS NULL
 ORDER BY m.row_number
"""

_INCOME_VALUES = """CROSS JOIN LATERAL (VALUES
    ('wages', h.wages), ('production', h.production), ('property', h.property),
    ('transfer', h.transfer), ('production_costs', h.production_costs)) AS v(source, amount)"""

_INSERT_INCOMES = f"""
INSERT INTO household_incomes (household_id, year, source, amount)
SELECT h.household_id, h.income_year, v.source, v.amount
  FROM import_staged_households h
  {_INCOME_VALUES}
 WHERE h.job_id = :job AND h.chunk = :chunk AND h.outcome IS NULL AND v.amount IS NOT NULL
"""  # noqa: S608 - only module constants are interpolated

# The history snapshot and the event envelope were built with the chunk (pipeline.to_copy).
_INSERT_VERSIONS = """
INSERT INTO household_versions (household_id, version, village_code, status, actor, action,
    changed, snapshot)
SELECT h.household_id, 1, h.village_code, h.status, CAST(:actor AS text), 'imported', '{}',
       h.snapshot
  FROM import_staged_households h
 WHERE h.job_id = :job AND h.chunk = :chunk AND h.outcome IS NULL
 ORDER BY h.first_row
"""

_INSERT_EVENTS = """
INSERT INTO outbox (event_id, topic, key, event_type, payload)
SELECT h.event_id, CAST(:topic AS text), h.household_id::text, CAST(:event_type AS text), h.event
  FROM import_staged_households h
 WHERE h.job_id = :job AND h.chunk = :chunk AND h.outcome IS NULL
 ORDER BY h.first_row
"""


@dataclass(frozen=True)
class Verdict:
    household_id: uuid.UUID
    outcome: str  # unchanged or rejected
    reason: str
    reason_row: int | None
    member_count: int


@dataclass(frozen=True)
class MergeResult:
    households_created: int
    rows_committed: int
    verdicts: list[Verdict]


class ImportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- jobs -----------------------------------------------------------------------------

    async def add_job(self, job: ImportJob) -> None:
        self.session.add(job)
        await self.session.flush()

    async def get_job(self, job_id: uuid.UUID) -> ImportJob | None:
        return await self.session.get(ImportJob, job_id, populate_existing=True)

    async def list_jobs(
        self, region_filter: Any, *, before: tuple[str, str] | None, limit: int
    ) -> list[ImportJob]:
        query = select(ImportJob).where(region_filter)
        if before is not None:
            query = query.where(
                func.row(ImportJob.created_at, ImportJob.id)
                < func.row(func.cast(before[0], ImportJob.created_at.type), uuid.UUID(before[1]))
            )
        query = query.order_by(ImportJob.created_at.desc(), ImportJob.id.desc()).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def set_job(self, job_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))

    async def add_counts(self, job_id: uuid.UUID, **deltas: int) -> None:
        columns = {name: getattr(ImportJob, name) + delta for name, delta in deltas.items()}
        await self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(**columns, heartbeat_at=func.now(), updated_at=func.now())
        )

    async def village_codes(self) -> frozenset[str]:
        rows = await self.session.execute(text("SELECT code FROM regions WHERE level = 'village'"))
        return frozenset(r[0] for r in rows)

    # --- errors ---------------------------------------------------------------------------

    async def add_errors(
        self, job_id: uuid.UUID, errors: Sequence[tuple[int, str, bytes | None, str]]
    ) -> None:
        if not errors:
            return
        raw = await self._raw()
        await raw.copy_records_to_table(
            "import_errors",
            records=[(job_id, row, column, value, reason) for row, column, value, reason in errors],
            columns=["job_id", "row_number", "column_name", "value_enc", "reason"],
        )

    async def stream_errors(self, job_id: uuid.UUID) -> AsyncIterator[ImportRowError]:
        result = await self.session.stream_scalars(
            select(ImportRowError)
            .where(ImportRowError.job_id == job_id)
            .order_by(ImportRowError.row_number, ImportRowError.id)
            .execution_options(yield_per=2000)
        )
        async for error in result:
            yield error

    # --- merge ----------------------------------------------------------------------------

    async def _raw(self) -> Any:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def lock(self) -> None:
        """Begin the chunk's transaction with the merge lock (before any COPY, which would
        otherwise run outside the transaction on the raw connection)."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MERGE_LOCK})
        # The member aggregates of a 10,000-row chunk are a few MiB: keep them off disk.
        await self.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))

    async def stage(self, households_copy: bytes, members_copy: bytes) -> None:
        raw = await self._raw()
        if households_copy:
            await raw.copy_to_table(
                "import_staged_households",
                source=io.BytesIO(households_copy),
                columns=list(HOUSEHOLD_COPY_COLUMNS),
                format="text",
            )
        if members_copy:
            await raw.copy_to_table(
                "import_staged_members",
                source=io.BytesIO(members_copy),
                columns=list(MEMBER_COPY_COLUMNS),
                format="text",
            )

    async def merge(self, job_id: uuid.UUID, chunk: int, *, actor: str) -> MergeResult:
        """Move one staged chunk into the register; returns what was not inserted and why."""
        spec = spec_for_model(HouseholdRegistered)
        params: dict[str, Any] = {"job": job_id, "chunk": chunk}
        execute = self.session.execute
        # Fresh statistics for the staged chunk, or the planner guesses one row and loops.
        # Statistics of the filter and join columns only (the others cost time and change no
        # plan); without them every estimate is one row and the joins become nested loops.
        await execute(text(_ANALYZE))
        verdicts = [
            Verdict(r.household_id, r.outcome, r.reason, r.reason_row, r.member_count)
            for r in await execute(text(_CLASSIFY), params)
        ]
        created = (await execute(text(_INSERT_HOUSEHOLDS), params)).rowcount
        committed = (await execute(text(_INSERT_MEMBERS), params)).rowcount
        await execute(text(_INSERT_INCOMES), params)
        await execute(text(_INSERT_VERSIONS), {**params, "actor": actor})
        await execute(
            text(_INSERT_EVENTS), {**params, "topic": spec.topic.value, "event_type": spec.type}
        )
        await execute(text(_DELETE_MEMBERS), params)
        await execute(text(_DELETE_HOUSEHOLDS), params)
        return MergeResult(created, committed, verdicts)

    async def discard_chunk(self, job_id: uuid.UUID, chunk: int) -> None:
        params = {"job": job_id, "chunk": chunk}
        await self.session.execute(text(_DELETE_MEMBERS), params)
        await self.session.execute(text(_DELETE_HOUSEHOLDS), params)
