"""The merge of a job's chunks: one job at a time, several chunks of it at once, in file order.

A job holds the register's import lock (a session advisory lock on a connection of its own) from
its first chunk to its end, so two jobs never interleave and a file's verdicts depend on the
register and on the file alone. Within the job, up to ``import_merge_connections`` chunks are
merged concurrently, each in its own transaction:

* chunk *n* is **classified** after chunk *n − 1*: a person accepted by a chunk still in flight
  counts as registered for the later chunks (the same verdict the register would give once that
  chunk commits), so no two transactions of the job insert the same key;
* the chunks' **COPYs** run side by side, on as many database backends;
* chunk *n* **commits** only after chunk *n − 1* committed, and not at all if it failed or the
  job stopped: what is committed is always the file up to some chunk, as with one connection;
* a chunk **classified again** (another writer registered one of its households or people
  between classification and COPY) keeps every verdict of its first classification and can
  only leave more households out, so it never inserts a person a later chunk in flight is
  inserting. The people it no longer inserts still count as in flight for every later
  classification; a chunk that refused a household because of one of them rolls back and is
  classified again once every chunk before it has committed, against the register (the oldest
  chunk wanting such a person gets them) and the people later chunks in flight are inserting
  (taken: their rows wait uncommitted); classifications run one at a time, so no two chunks in
  flight ever want the same person.

A sessionmaker bound to a single connection (the API tests' rolled-back transaction) runs one
chunk at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from fupin_kit.db import session_scope
from fupin_registry.imports.columns import BY_FIELD
from fupin_registry.imports.pipeline import PreparedChunk
from fupin_registry.imports.repository import (
    MERGE_LOCK,
    ImportRepository,
    MergeResult,
    Pending,
    Verdict,
)
from fupin_registry.imports.rows import RowError

ID_HEADER = BY_FIELD["id_number"].header
LOCK_POLL_SECONDS = 0.5
LOCK_HEARTBEAT_SECONDS = 10.0

# Encrypts a rejected cell's value for the error report (None for an empty value).
SealValue = Callable[[str], bytes | None]


@dataclass
class ChunkOutcome:
    created: int
    committed: int
    unchanged_households: int
    unchanged_rows: int
    rejected_rows: int
    errors: int


class Abandoned(Exception):
    """A chunk rolled back because an earlier chunk of the job failed or the job stopped."""


class _Stale(Exception):
    """An earlier chunk changed the people it inserts after this chunk was classified."""


@dataclass
class _Attempt:
    """What a chunk's attempts decided, for the next one."""

    verdicts: list[Verdict] = field(default_factory=list)  # of the latest classification
    kept: list[Verdict] | None = None  # verdicts a classification after a conflict must keep
    relied_on: set[bytes] = field(default_factory=set)  # its people found in flight elsewhere
    conflicted: bool = False  # a COPY met another writer's rows once already
    stale: bool = False  # classified again because someone it refused for was dropped


def concurrency(sessionmaker: async_sessionmaker[AsyncSession], wanted: int) -> int:
    """Chunks merged at once: one where every session shares a single connection."""
    return wanted if isinstance(sessionmaker.kw.get("bind"), AsyncEngine) else 1


@contextlib.asynccontextmanager
async def import_lock(
    sessionmaker: async_sessionmaker[AsyncSession], heartbeat: Callable[[], Awaitable[None]]
) -> AsyncIterator[None]:
    """Hold the register's import lock for the body; while another job holds it, wait and keep
    the job's heartbeat fresh (a waiting job is not an interrupted one)."""
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine | AsyncConnection):
        raise TypeError("the import needs a sessionmaker bound to an engine or a connection")
    owned = isinstance(bind, AsyncEngine)
    opened = bind.connect() if isinstance(bind, AsyncEngine) else contextlib.nullcontext(bind)
    async with opened as connection:
        waited = 0.0
        while True:
            taken = (
                await connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": MERGE_LOCK}
                )
            ).scalar_one()
            if owned:
                await connection.commit()  # a session lock outlives the transaction
            if taken:
                break
            await asyncio.sleep(LOCK_POLL_SECONDS)
            waited += LOCK_POLL_SECONDS
            if waited >= LOCK_HEARTBEAT_SECONDS:
                waited = 0.0
                await heartbeat()
        try:
            yield
        finally:
            try:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MERGE_LOCK}
                )
                if owned:
                    await connection.commit()
            except BaseException:
                if owned:
                    # The lock ends with the backend: never hand a locked connection back.
                    await connection.invalidate()
                raise


class ChunkMerger:
    """Merges the chunks it is given (in file order) on up to ``connections`` transactions."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        job_id: uuid.UUID,
        jurisdiction: str,
        connections: int,
        seal_error_value: SealValue,
        *,
        max_errors: int,
        lock_timeout_ms: int,
        on_committed: Callable[[PreparedChunk], Awaitable[None]] | None = None,
        names_households: bool = False,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.job_id = job_id
        self.jurisdiction = jurisdiction  # the importer's: a verdict names no household beyond it
        # Whether a verdict may name the household holding a person: only for an importer who
        # may read personal data, or the import would tell anyone where an ID number is.
        self.names_households = names_households
        self.connections = concurrency(sessionmaker, connections)
        self.seal_error_value = seal_error_value
        self.max_errors = max_errors
        self.lock_timeout_ms = lock_timeout_ms
        self.on_committed = on_committed
        self.errors_kept = 0
        self.stop_reason: str | None = None
        self._failed = False  # a chunk raised: later chunks roll back, none are started
        self._slots = asyncio.Semaphore(self.connections)
        self._tasks: list[asyncio.Task[None]] = []
        self._classified: asyncio.Future[None] | None = None  # of the latest chunk given
        self._committed: asyncio.Future[None] | None = None
        # The people each uncommitted chunk is inserting. A chunk leaves only once its commit
        # has returned, and a classification copies this before its lookups run, so every
        # person is seen either here or by the lookups.
        self._in_flight: dict[int, Pending] = {}
        # People a chunk classified again no longer inserts, with the household they were in:
        # in flight for every later classification (so no chunk takes one while another that
        # refused for it may still want it), and a chunk that refused for one classifies again.
        self._dropped: dict[bytes, tuple[str, str, int]] = {}
        self._classifying = asyncio.Lock()

    async def merge(self, chunk: PreparedChunk) -> bool:
        """Start merging ``chunk`` once a connection is free; False once the job has stopped
        (an error limit reached or a chunk failed): give no more chunks then."""
        await self._slots.acquire()
        if self.stopped:
            self._slots.release()
            return False
        loop = asyncio.get_running_loop()
        classified, committed = loop.create_future(), loop.create_future()
        task = asyncio.create_task(
            self._run(chunk, self._classified, self._committed, classified, committed)
        )
        self._classified, self._committed = classified, committed
        self._tasks.append(task)
        return True

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None or self._failed

    async def finish(self) -> None:
        """Wait for every chunk given; re-raise the first failure (in file order)."""
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Abandoned):
                raise result

    async def abandon(self) -> None:
        """Roll back every chunk not yet committed (the job is failing)."""
        self.stop_reason = self.stop_reason or "abandoned"
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(
        self,
        chunk: PreparedChunk,
        previous_classified: asyncio.Future[None] | None,
        previous_committed: asyncio.Future[None] | None,
        classified: asyncio.Future[None],
        committed: asyncio.Future[None],
    ) -> None:
        try:
            outcome = await self._commit_with_retry(
                chunk, previous_classified, previous_committed, classified
            )
            self.errors_kept += outcome.errors
            if self.errors_kept > self.max_errors and self.stop_reason is None:
                self.stop_reason = (
                    f"more than {self.max_errors} errors; is this the right file?"
                    " Rows committed so far are kept"
                )
            if self.on_committed is not None:
                await self.on_committed(chunk)
            committed.set_result(None)
        except BaseException as exc:
            self._failed = True
            for future in (classified, committed):
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Abandoned) else Abandoned())
                    future.exception()  # retrieved: a later chunk may never await it
            raise
        finally:
            self._in_flight.pop(chunk.number, None)
            self._slots.release()

    async def _commit_with_retry(
        self,
        chunk: PreparedChunk,
        previous_classified: asyncio.Future[None] | None,
        previous_committed: asyncio.Future[None] | None,
        classified: asyncio.Future[None],
    ) -> ChunkOutcome:
        attempt = _Attempt()
        while True:
            try:
                async with session_scope(self.sessionmaker) as session:
                    return await self._commit(
                        ImportRepository(session),
                        chunk,
                        previous_classified,
                        previous_committed,
                        classified,
                        attempt,
                    )
            except (IntegrityError, asyncpg.IntegrityConstraintViolationError):
                # Someone outside the import registered one of these people or households
                # between classification and COPY: classify again, once.
                if attempt.conflicted:
                    raise
                attempt.conflicted = True
                attempt.kept = attempt.verdicts
            except _Stale:
                # An earlier chunk classified again no longer inserts someone this chunk
                # refused for; every chunk before it has committed, so the register decides.
                attempt.kept = None
                attempt.stale = True

    async def _commit(
        self,
        repository: ImportRepository,
        chunk: PreparedChunk,
        previous_classified: asyncio.Future[None] | None,
        previous_committed: asyncio.Future[None] | None,
        classified: asyncio.Future[None],
        attempt: _Attempt,
    ) -> ChunkOutcome:
        if previous_classified is not None:
            await previous_classified
        # Begins the transaction before any COPY (which runs on the raw connection) and bounds
        # any wait on another writer's rows.
        await repository.begin_chunk(self.lock_timeout_ms)
        verdicts = await self._classify(repository, chunk, attempt)
        left_out = {v.position for v in verdicts}
        if not classified.done():
            classified.set_result(None)
        created, rows_committed = await repository.insert(chunk, left_out)
        outcome, sql_errors = chunk_outcome(MergeResult(created, rows_committed, verdicts), chunk)
        errors = chunk.errors + sql_errors
        await repository.add_errors(
            self.job_id,
            [
                (e.row, e.column, self.seal_error_value(e.value) if e.value else None, e.reason)
                for e in errors
            ],
        )
        if previous_committed is not None:
            await previous_committed
        if self.stop_reason is not None:
            raise Abandoned()
        if not attempt.relied_on.isdisjoint(self._dropped):
            raise _Stale()
        # Last, so that the job's row is locked only by the chunk whose turn it is to commit.
        await repository.add_counts(
            self.job_id,
            rows_read=chunk.rows_read,
            rows_empty=chunk.rows_empty,
            rows_valid=chunk.rows_valid,
            rows_rejected=chunk.rows_rejected + outcome.rejected_rows,
            rows_committed=outcome.committed,
            rows_unchanged=outcome.unchanged_rows,
            households_created=outcome.created,
            households_unchanged=outcome.unchanged_households,
            chunks_committed=1,
            error_count=len(errors),
        )
        outcome.errors = len(errors)
        return outcome

    async def _classify(
        self, repository: ImportRepository, chunk: PreparedChunk, attempt: _Attempt
    ) -> list[Verdict]:
        """The chunk's verdicts, against the register and the people other chunks of the job
        hold in flight; records the people this chunk now inserts (and those it dropped)."""
        # One classification at a time: each sees what every other one decided (a chunk
        # classified again runs beside the later chunks' first classifications).
        async with self._classifying:
            pending: dict[bytes, tuple[str, str, int]] = {}
            if attempt.stale:
                # Every chunk before this one has committed: the register decides, dropped people
                # included; the people later chunks in flight are inserting count as taken (their
                # rows are not committed, and a COPY of the same person would wait on them).
                for number, people in self._in_flight.items():
                    if number > chunk.number:
                        pending.update(people)
            else:
                pending.update(self._dropped)
                # Earlier chunks only: a chunk classified again must not yield to later ones.
                for number, people in self._in_flight.items():
                    if number < chunk.number:
                        pending.update(people)
            attempt.relied_on = {index for index in chunk.member_indexes if index in pending}
            verdicts = await repository.classify(
                chunk,
                self.jurisdiction,
                pending,
                names_households=self.names_households,
                job_id=self.job_id,
            )
            if attempt.kept is not None:
                verdicts = _keeping(attempt.kept, verdicts)
            attempt.verdicts = verdicts
            left_out = {v.position for v in verdicts}
            keys, rows = chunk.household_keys, chunk.household_rows
            people = {
                index: (*keys[position], rows[position])
                for index, position in zip(
                    chunk.member_indexes, chunk.member_households, strict=True
                )
                if position not in left_out
            }
            if (before := self._in_flight.get(chunk.number)) is not None:
                for index in before.keys() - people.keys():
                    self._dropped.setdefault(index, before[index])
            self._in_flight[chunk.number] = people
        return verdicts


def _keeping(kept: list[Verdict], verdicts: list[Verdict]) -> list[Verdict]:
    """The first classification's verdicts, and the new ones for households it let in: a chunk
    classified again only ever leaves more out (later chunks in flight avoid its people)."""
    decided = {v.position: v for v in kept}
    for verdict in verdicts:
        decided.setdefault(verdict.position, verdict)
    return sorted(decided.values(), key=lambda v: v.position)


def chunk_outcome(result: MergeResult, chunk: PreparedChunk) -> tuple[ChunkOutcome, list[RowError]]:
    """Counts of a merged chunk and the row errors of the households the register refused."""
    errors: list[RowError] = []
    unchanged_households = unchanged_rows = rejected_rows = 0
    rows_of = chunk.rows_by_household() if result.verdicts else []
    for verdict in result.verdicts:
        rows = rows_of[verdict.position]
        if verdict.outcome == "unchanged":
            unchanged_households += 1
            unchanged_rows += len(rows)
            continue
        rejected_rows += len(rows)
        for row in rows:
            if row == verdict.reason_row:
                errors.append(RowError(row, ID_HEADER, "", verdict.reason))
            else:
                reason = f"not imported: the household's row {verdict.reason_row} has errors"
                errors.append(RowError(row, "", "", reason))
    outcome = ChunkOutcome(
        created=result.households_created,
        committed=result.rows_committed,
        unchanged_households=unchanged_households,
        unchanged_rows=unchanged_rows,
        rejected_rows=rejected_rows,
        errors=0,
    )
    return outcome, errors
