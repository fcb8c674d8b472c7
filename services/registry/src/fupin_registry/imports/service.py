"""Import jobs: accept an upload, run it chunk by chunk, report progress and row errors.

A job runs as a background task of the API process. The file is parsed, validated and
encrypted by :mod:`.pipeline` (in a child process, or a thread), and each prepared chunk is
classified and COPYed into the register in its own transaction (:meth:`ImportRunner.commit_chunk`),
so a failure loses at most the chunk in progress and never half of a household. Merging is
idempotent: a file imported again adds nothing (its households are counted unchanged), which
is also how an interrupted job is resumed — upload the file again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fupin_events.values import business_today
from fupin_kit.auth import Caller
from fupin_kit.db import session_scope
from fupin_kit.logging import get_logger
from fupin_kit.problems import PayloadTooLarge, Unprocessable
from fupin_registry.config import Settings
from fupin_registry.imports.columns import BY_FIELD
from fupin_registry.imports.models import ImportJob
from fupin_registry.imports.pipeline import (
    Failed,
    Finished,
    Item,
    Opened,
    PreparedChunk,
    ProducerConfig,
    ProducerProcess,
    produce,
)
from fupin_registry.imports.readers import UnreadableFile, sniff
from fupin_registry.imports.repository import ImportRepository, MergeResult
from fupin_registry.imports.rows import RowError, Rules
from fupin_registry.privacy import Privacy

log = get_logger("fupin.registry.imports")
COPY_BUFFER = 1024 * 1024
ERROR_VALUE_FIELD = "import_error_value"
ID_HEADER = BY_FIELD["id_number"].header


async def save_upload(source: BinaryIO, target: Path, limit: int) -> int:
    """Copy the uploaded file to the job's place in bounded memory; 413 beyond ``limit``."""
    target.parent.mkdir(parents=True, exist_ok=True)

    def copy() -> int:
        size = 0
        with target.open("wb") as out:
            while block := source.read(COPY_BUFFER):
                size += len(block)
                if size > limit:
                    raise PayloadTooLarge(f"the file exceeds {limit} bytes")
                out.write(block)
        return size

    try:
        return await asyncio.to_thread(copy)
    except BaseException:
        await asyncio.to_thread(target.unlink, missing_ok=True)
        raise


async def create_job(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    caller: Caller,
    upload: BinaryIO,
    file_name: str,
) -> tuple[ImportJob, ProducerConfig]:
    """Store the upload, check that it is a spreadsheet, and record a queued job (committed)."""
    job_id = uuid.uuid4()
    path = settings.import_dir / f"{job_id}.upload"
    size = await save_upload(upload, path, settings.import_max_file_bytes)
    try:
        facts = await asyncio.to_thread(sniff, path, file_name)
    except UnreadableFile as exc:
        path.unlink(missing_ok=True)
        raise Unprocessable("#/body/file", str(exc)) from exc
    job = ImportJob(
        id=job_id,
        region_code=caller.jurisdiction,
        created_by=caller.actor,
        file_name=file_name[:255],
        file_kind=facts.kind,
        encoding=facts.encoding,
        file_bytes=size,
        state="queued",
    )
    async with session_scope(sessionmaker) as session:
        repository = ImportRepository(session)
        await repository.add_job(job)
        villages = await repository.village_codes()
    rules = Rules(
        villages=villages,
        jurisdiction=caller.jurisdiction,
        max_income=settings.max_household_income,
        max_members=settings.max_household_members,
        earliest_year=settings.earliest_register_year,
        today=business_today(),
    )
    config = ProducerConfig(
        job_id=str(job_id),
        path=str(path),
        facts=facts,
        rules=rules,
        chunk_rows=settings.import_chunk_rows,
        calamine_max_bytes=settings.import_calamine_max_bytes,
        pii_keys=settings.pii_keys,
        blind_index_key=settings.blind_index_key,
    )
    return job, config


class _ThreadSource:
    def __init__(self, config: ProducerConfig) -> None:
        self._items = produce(config)

    async def next(self) -> Item | None:
        return await asyncio.to_thread(next, self._items, None)

    def close(self) -> None:
        self._items.close()


class _ProcessSource:
    def __init__(self, config: ProducerConfig, workers: int) -> None:
        self._process = ProducerProcess(config, workers)

    async def next(self) -> Item | None:
        return await asyncio.to_thread(self._process.next)

    def close(self) -> None:
        self._process.close()


@dataclass
class ChunkOutcome:
    created: int
    committed: int
    unchanged_households: int
    unchanged_rows: int
    rejected_rows: int
    errors: int


class ImportRunner:
    """Runs one job to its end; every state change is committed as it happens."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        privacy: Privacy,
        *,
        on_chunk: Callable[[PreparedChunk], Awaitable[None]] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.privacy = privacy
        self.on_chunk = on_chunk

    async def run(self, job_id: uuid.UUID, config: ProducerConfig, actor: str) -> None:
        source: _ThreadSource | _ProcessSource | None = None
        errors_kept = 0
        try:
            await self._set(job_id, state="running", started_at=_now(), heartbeat_at=_now())
            config = dataclasses.replace(config, actor=actor)  # history versions name the actor
            source = (
                _ProcessSource(config, self.settings.import_workers)
                if self.settings.import_workers
                else _ThreadSource(config)
            )
            while (item := await source.next()) is not None:
                if isinstance(item, Failed):
                    await self._set(
                        job_id, state="failed", failure_reason=item.reason, finished_at=_now()
                    )
                    return
                if isinstance(item, Opened):
                    await self._set(
                        job_id, header_row=item.header_row, ignored_columns=item.ignored_columns
                    )
                elif isinstance(item, PreparedChunk):
                    outcome = await self.commit_chunk(job_id, item)
                    errors_kept += outcome.errors
                    if self.on_chunk is not None:
                        await self.on_chunk(item)
                    if errors_kept > self.settings.import_max_errors:
                        await self._set(
                            job_id,
                            state="failed",
                            finished_at=_now(),
                            failure_reason=f"more than {self.settings.import_max_errors} errors;"
                            " is this the right file? Rows committed so far are kept",
                        )
                        return
                elif isinstance(item, Finished):
                    await self._set(job_id, state="completed", notes=item.notes, finished_at=_now())
                    return
            await self._set(
                job_id,
                state="failed",
                failure_reason="the file ended unexpectedly",
                finished_at=_now(),
            )
        except Exception as exc:
            log.exception("import.failed", job_id=str(job_id))
            await self._set(
                job_id,
                state="failed",
                finished_at=_now(),
                failure_reason=f"the import stopped: {type(exc).__name__};"
                " rows committed so far are kept",
            )
        finally:
            if source is not None:
                source.close()
            await asyncio.to_thread(Path(config.path).unlink, missing_ok=True)

    async def commit_chunk(self, job_id: uuid.UUID, chunk: PreparedChunk) -> ChunkOutcome:
        """Classify, copy and count one chunk in one transaction (retried once on a race).

        The chunk's history versions name the actor the job was started with (``run``)."""
        for attempt in (1, 2):
            try:
                async with session_scope(self.sessionmaker) as session:
                    return await self._commit(ImportRepository(session), job_id, chunk)
            except (IntegrityError, asyncpg.IntegrityConstraintViolationError):
                # Someone registered one of these people or households between classification
                # and insert (outside the import lock): classify again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _commit(
        self, repository: ImportRepository, job_id: uuid.UUID, chunk: PreparedChunk
    ) -> ChunkOutcome:
        await repository.lock()
        verdicts = await repository.classify(chunk)
        created, committed = await repository.insert(chunk, {v.position for v in verdicts})
        result = MergeResult(created, committed, verdicts)
        outcome, sql_errors = self._outcome(result, chunk)
        errors = chunk.errors + sql_errors
        await repository.add_errors(
            job_id,
            [
                (
                    e.row,
                    e.column,
                    self.privacy.seal(e.value, ERROR_VALUE_FIELD) if e.value else None,
                    e.reason,
                )
                for e in errors
            ],
        )
        await repository.add_counts(
            job_id,
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

    @staticmethod
    def _outcome(result: MergeResult, chunk: PreparedChunk) -> tuple[ChunkOutcome, list[RowError]]:
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
                    errors.append(
                        RowError(
                            row,
                            "",
                            "",
                            f"not imported: the household's row {verdict.reason_row} has errors",
                        )
                    )
        outcome = ChunkOutcome(
            created=result.households_created,
            committed=result.rows_committed,
            unchanged_households=unchanged_households,
            unchanged_rows=unchanged_rows,
            rejected_rows=rejected_rows,
            errors=0,
        )
        return outcome, errors

    async def _set(self, job_id: uuid.UUID, **values: Any) -> None:
        async with session_scope(self.sessionmaker) as session:
            await ImportRepository(session).set_job(job_id, **values, updated_at=_now())


def _now() -> datetime:
    return datetime.now(UTC)


def is_stale(job: ImportJob, settings: Settings) -> bool:
    if job.state not in ("queued", "running"):
        return False
    last = job.heartbeat_at or job.created_at
    return last is not None and _now() - last > timedelta(seconds=settings.import_stale_seconds)


__all__ = ["ImportRunner", "create_job", "is_stale"]
