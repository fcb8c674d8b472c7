"""Import jobs: accept an upload, run it chunk by chunk, report progress and row errors.

A job runs as a background task of the API process. The file is parsed, validated and
encrypted by :mod:`.pipeline` (in child processes, or a thread), and each prepared chunk is
classified and COPYed into the register in its own transaction (:mod:`.merge`: several chunks at
once, committed in file order), so a failure loses only chunks not yet committed and never half
of a household. Merging is
idempotent: a file imported again adds nothing (its households are counted unchanged), which
is also how an interrupted job is resumed — upload the file again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fupin_events.values import business_today
from fupin_kit.auth import Caller
from fupin_kit.db import session_scope
from fupin_kit.logging import get_logger
from fupin_kit.problems import PayloadTooLarge, Unprocessable
from fupin_registry.config import Settings
from fupin_registry.imports.limits import ReadLimits
from fupin_registry.imports.memory import return_free_pages, return_large_buffers
from fupin_registry.imports.merge import ChunkMerger, import_lock
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
from fupin_registry.imports.repository import ImportRepository
from fupin_registry.imports.rows import Rules
from fupin_registry.privacy import PII_READ_SCOPE, Privacy

log = get_logger("fupin.registry.imports")
COPY_BUFFER = 1024 * 1024
ERROR_VALUE_FIELD = "import_error_value"


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
        limits=ReadLimits.of(settings),
        names_households=caller.has_scope(PII_READ_SCOPE),
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
        self.on_chunk = on_chunk  # called for each chunk once committed, in file order
        return_large_buffers()  # a chunk's buffers go back to the system once merged

    async def run(self, job_id: uuid.UUID, config: ProducerConfig, actor: str) -> None:
        source: _ThreadSource | _ProcessSource | None = None
        try:
            await self._set(job_id, state="running", started_at=_now(), heartbeat_at=_now())
            config = dataclasses.replace(config, actor=actor)  # history versions name the actor
            source = (
                _ProcessSource(config, self.settings.import_workers)
                if self.settings.import_workers
                else _ThreadSource(config)
            )
            # The header is read before the register's import lock is awaited: a file the job
            # cannot read fails at once, even while another job merges.
            first = await source.next()
            if isinstance(first, Opened):
                await self._set(
                    job_id, header_row=first.header_row, ignored_columns=first.ignored_columns
                )
                async with import_lock(self.sessionmaker, partial(self._beat, job_id)):
                    await self._merge(job_id, source, config)
            else:
                await self._end(job_id, first, stop_reason=None)
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

    async def _merge(
        self, job_id: uuid.UUID, source: _ThreadSource | _ProcessSource, config: ProducerConfig
    ) -> None:
        merger = ChunkMerger(
            self.sessionmaker,
            job_id,
            config.rules.jurisdiction,
            self.settings.import_merge_connections,
            lambda value: self.privacy.seal(value, ERROR_VALUE_FIELD),
            max_errors=self.settings.import_max_errors,
            lock_timeout_ms=self.settings.import_lock_timeout_seconds * 1000,
            on_committed=self.on_chunk,
            names_households=config.names_households,
        )
        try:
            end: Item | None = None
            while (item := await source.next()) is not None:
                if isinstance(item, PreparedChunk):
                    # The chunks merged since the last one are freed: their pages go back.
                    return_free_pages()
                    if not await merger.merge(item):
                        break
                else:
                    end = item
                    break
            await merger.finish()
        except BaseException:
            await merger.abandon()
            raise
        await self._end(job_id, end, merger.stop_reason)

    async def _end(self, job_id: uuid.UUID, end: Item | None, stop_reason: str | None) -> None:
        """The job's final state from the source's last item or the merge's stop reason."""
        if stop_reason is not None:
            await self._set(job_id, state="failed", failure_reason=stop_reason, finished_at=_now())
        elif isinstance(end, Failed):
            await self._set(job_id, state="failed", failure_reason=end.reason, finished_at=_now())
        elif isinstance(end, Finished):
            await self._set(job_id, state="completed", notes=end.notes, finished_at=_now())
        else:
            await self._set(
                job_id,
                state="failed",
                failure_reason="the file ended unexpectedly",
                finished_at=_now(),
            )

    async def _beat(self, job_id: uuid.UUID) -> None:
        await self._set(job_id, heartbeat_at=_now())

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
