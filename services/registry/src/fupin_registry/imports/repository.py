"""SQL of the import: jobs, errors, and the set-based merge of a chunk.

A job merges under the register's import lock (``merge.import_lock``); each chunk in one
transaction: classify the chunk's households with two set-based lookups (already registered →
unchanged; a member already active in another household, or accepted by a chunk of the job still
in flight → rejected; a person listed in two households of the file, in this chunk, in a chunk in
flight or committed by this job → the later one rejected, naming the row the earlier begins at),
then COPY the remaining households straight into households, members, incomes, history versions
and the outbox. The rows arrive as COPY text built by ``pipeline.to_copy`` in the parser process,
history snapshots and event envelopes included (with the keys of
``households.snapshot.snapshot_of`` and the envelope of ``fupin_events.envelope.new_event``;
tests compare them), so the database parses each value once and nothing passes through an
intermediate table.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import case, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_registry.imports.limits import STORED_REASON_CHARS
from fupin_registry.imports.models import ImportJob, ImportRowError
from fupin_registry.imports.pipeline import COPY_COLUMNS, PreparedChunk
from fupin_registry.imports.reasons import ALREADY_REGISTERED

# An encrypted error value larger than this was stored before values were shortened to a few
# hundred characters (a sealed value of those is well under a kilobyte).
STORED_VALUE_BYTES = 64 * 1024

# One job merges at a time: its verdicts depend on the register and the file only.
MERGE_LOCK = 0x1A9_0127

# Blind index → (village code, household number, first file row) of the household of each person
# a chunk still in flight is inserting.
Pending = Mapping[bytes, tuple[str, str, int]]

# unnest() of the chunk's keys against the unique (village_code, household_number) index.
_REGISTERED_HOUSEHOLDS = """
SELECT s.position - 1 AS position
  FROM unnest(CAST(:villages AS text[]), CAST(:numbers AS text[]))
       WITH ORDINALITY AS s(village_code, household_number, position)
  JOIN households h
    ON h.village_code = s.village_code AND h.household_number = s.household_number
"""

# unnest() of the chunk's blind indexes against the unique index of active members.
_REGISTERED_MEMBERS = """
SELECT s.position - 1 AS position, h.village_code, h.household_number,
       CASE WHEN h.import_job_id = :job THEN h.import_row END AS file_row
  FROM unnest(CAST(:indexes AS bytea[])) WITH ORDINALITY AS s(id_index, position)
  JOIN members e ON e.id_index = s.id_index AND e.active
  JOIN households h ON h.id = e.household_id
"""


# The refusal of a person registered in another household, as a caller without pii:read reads
# it: the household is not named (an officer who may read personal data sees which).
REGISTERED_ELSEWHERE = (
    "this person is already registered in another household; an officer allowed to read"
    " personal data (pii:read) sees which"
)
# How the refusal begins when it names the household (or says it is outside the jurisdiction).
NAMED_REFUSAL = "member already registered in "


def registered_elsewhere(village: str, number: str, jurisdiction: str, named: bool) -> str:
    """Why a person already in household ``village``/``number`` is refused."""
    if not named:
        return REGISTERED_ELSEWHERE
    if village.startswith(jurisdiction):
        return f"{NAMED_REFUSAL}household {village}/{number}"
    return f"{NAMED_REFUSAL}a household outside your jurisdiction"


def listed_in_household_at(row: int) -> str:
    """Why a person also listed in the file's household beginning at ``row`` is refused."""
    return f"this person is also listed in another household of the file, beginning at row {row}"


@dataclass(frozen=True)
class Verdict:
    position: int  # of the household in the chunk
    outcome: str  # unchanged or rejected
    reason: str
    reason_row: int | None


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
        self, region_filter: Any, *, before: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[ImportJob]:
        query = select(ImportJob).where(region_filter)
        if before is not None:
            query = query.where(
                func.row(ImportJob.created_at, ImportJob.id)
                < func.row(
                    literal(before[0], ImportJob.created_at.type),
                    literal(before[1], ImportJob.id.type),
                )
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

    async def stream_errors(self, job_id: uuid.UUID) -> AsyncIterator[Any]:
        """The job's row errors in row order: ``row_number``, ``column_name``, ``value_enc``
        (None when larger than a value the import stores now: such a row, stored before values
        were shortened, is never decrypted whole), ``value_bytes``, ``reason`` (at most its
        first ``STORED_REASON_CHARS`` characters) and ``reason_chars``."""
        size = func.octet_length(ImportRowError.value_enc)
        result = await self.session.stream(
            select(
                ImportRowError.row_number,
                ImportRowError.column_name,
                case((size > STORED_VALUE_BYTES, None), else_=ImportRowError.value_enc).label(
                    "value_enc"
                ),
                size.label("value_bytes"),
                func.left(ImportRowError.reason, STORED_REASON_CHARS).label("reason"),
                func.char_length(ImportRowError.reason).label("reason_chars"),
            )
            .where(ImportRowError.job_id == job_id)
            .order_by(ImportRowError.row_number, ImportRowError.id)
            .execution_options(yield_per=2000)
        )
        async for error in result:
            yield error

    # --- merge ---------------------------------------------------------------------------

    async def _raw(self) -> Any:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def begin_chunk(self, lock_timeout_ms: int) -> None:
        """Begin the chunk's transaction (before any COPY, which would otherwise run outside it
        on the raw connection), waiting at most ``lock_timeout_ms`` for another writer's rows."""
        await self.session.execute(
            text("SELECT set_config('lock_timeout', :ms, true)"), {"ms": f"{lock_timeout_ms}ms"}
        )

    async def classify(
        self,
        chunk: PreparedChunk,
        jurisdiction: str,
        pending: Pending | None = None,
        *,
        names_households: bool = False,
        job_id: uuid.UUID | None = None,
    ) -> list[Verdict]:
        """Why households of the chunk must not be inserted (at most one verdict each).

        Precedence as the report shows it: already registered, then a member active in another
        household — in the register or in ``pending`` (the household's first such row) —, then
        a person listed in another household of the file the job inserts: of this chunk, of a
        chunk in flight (``pending``) or one job ``job_id`` committed, by its row. Which
        household of the register holds a person is named only when ``names_households`` (the
        importer may read personal data) and only inside the importer's ``jurisdiction``:
        otherwise an import of candidate ID numbers would tell where each one is registered.
        """
        verdicts: dict[int, Verdict] = {}
        if not chunk.household_ids:
            return []
        villages = [key[0] for key in chunk.household_keys]
        numbers = [key[1] for key in chunk.household_keys]
        found = await self.session.execute(
            text(_REGISTERED_HOUSEHOLDS), {"villages": villages, "numbers": numbers}
        )
        for (position,) in found:
            village, number = chunk.household_keys[position]
            reason = ALREADY_REGISTERED(village=village, number=number)
            verdicts[position] = Verdict(position, "unchanged", reason, None)
        taken = await self.session.execute(
            text(_REGISTERED_MEMBERS), {"indexes": chunk.member_indexes, "job": job_id}
        )
        candidates: list[tuple[int, int, str]] = []
        for member, village, number, file_row in taken:
            if file_row is not None:
                reason = listed_in_household_at(file_row)
                candidates.append((chunk.member_rows[member] + _LATER, member, reason))
            else:
                reason = registered_elsewhere(village, number, jurisdiction, names_households)
                candidates.append((chunk.member_rows[member], member, reason))
        if pending:
            for member, id_index in enumerate(chunk.member_indexes):
                if (held := pending.get(id_index)) is not None:
                    reason = listed_in_household_at(held[2])
                    candidates.append((chunk.member_rows[member] + _LATER, member, reason))
        for _, member, reason in sorted(candidates):
            position = chunk.member_households[member]
            if position not in verdicts:
                verdicts[position] = Verdict(
                    position, "rejected", reason, chunk.member_rows[member]
                )
        # Then, in file order, a household listing a person an earlier household of the chunk
        # inserts. Only households inserted hold people, as for the chunks before (whose
        # committed or in-flight households are all the register and ``pending`` know), so the
        # verdicts do not depend on where the chunks begin.
        holders: dict[bytes, int] = {}  # person → the household of the chunk inserting them
        indexes = chunk.member_indexes
        for position, group in groupby(
            range(len(indexes)), key=chunk.member_households.__getitem__
        ):
            if position in verdicts:
                continue
            members = list(group)
            clash = next(
                (m for m in members if holders.get(indexes[m], position) != position), None
            )
            if clash is None:
                for member in members:
                    holders.setdefault(indexes[member], position)
                continue
            earlier = chunk.household_rows[holders[indexes[clash]]]
            verdicts[position] = Verdict(
                position, "rejected", listed_in_household_at(earlier), chunk.member_rows[clash]
            )
        return sorted(verdicts.values(), key=lambda v: v.position)

    async def insert(self, chunk: PreparedChunk, left_out: set[int]) -> tuple[int, int]:
        """COPY the chunk's households except ``left_out`` into the register's tables;
        returns (households, members) inserted."""
        raw = await self._raw()
        copied: dict[str, int] = {}
        for table, blob in chunk.copies_without(left_out).items():
            if not blob:
                copied[table] = 0
                continue
            status = await raw.copy_to_table(
                table, source=io.BytesIO(blob), columns=list(COPY_COLUMNS[table]), format="text"
            )
            copied[table] = int(status.split()[-1])
        return copied["households"], copied["members"]


# Sorting key offset: a "listed in another household" reason (of the file) ranks after every
# "already registered" reason (of the register) of the chunk (rows are far below this).
_LATER = 1 << 40
