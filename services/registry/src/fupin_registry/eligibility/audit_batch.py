"""Group commit for eligibility audit records.

Every check appends its record to an in-process queue and waits on a future. One writer task
takes everything queued, appends it to the hash chain in a single transaction
(``AuditTrail.append_many`` takes the chain's advisory lock, so other writers and other replicas
interleave safely) and resolves the futures only after the commit. While one flush is in flight
the next batch gathers, so batches grow with load and an answer is never given before its audit
row is durable. If the flush fails, every waiting check fails (503) and nothing is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from fupin_kit.audit import AuditRecord, AuditTrail
from fupin_kit.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fupin_registry.eligibility.exceptions import AuditUnavailable

log = get_logger("fupin.registry.eligibility.audit")


class AuditBatcher:
    def __init__(self, engine: AsyncEngine, *, max_batch: int, max_pending: int) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._queue: deque[tuple[list[AuditRecord], asyncio.Future[None]]] = deque()
        self._pending_rows = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._conn: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="eligibility-audit-writer")

    async def close(self) -> None:
        """Stop taking records, write what is queued, release the connection."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._disconnect()

    async def write(self, records: list[AuditRecord]) -> None:
        """Return once ``records`` are committed to the audit chain (or raise 503)."""
        if self._closing or self._task is None or self._task.done():
            raise AuditUnavailable()
        if self._pending_rows + len(records) > self.max_pending:
            raise AuditUnavailable(
                "too many checks are waiting for their audit records; retry shortly"
            )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((records, done))
        self._pending_rows += len(records)
        self._wake.set()
        await done

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, waiting = self._take()
            try:
                await self._flush(batch)
            except Exception as exc:
                log.error("eligibility.audit_flush_failed", rows=len(batch), error=repr(exc))
                await self._disconnect()
                for future in waiting:
                    if not future.done():
                        future.set_exception(AuditUnavailable())
            else:
                self.flushes += 1
                for future in waiting:
                    if not future.done():
                        future.set_result(None)

    def _take(self) -> tuple[list[AuditRecord], list[asyncio.Future[None]]]:
        batch: list[AuditRecord] = []
        waiting: list[asyncio.Future[None]] = []
        while self._queue and (not batch or len(batch) + len(self._queue[0][0]) <= self.max_batch):
            records, future = self._queue.popleft()
            batch.extend(records)
            waiting.append(future)
        self._pending_rows -= len(batch)
        return batch, waiting

    async def _flush(self, batch: list[AuditRecord]) -> None:
        if self._conn is None:
            self._conn = await self.engine.connect()
        async with self._conn.begin():
            await AuditTrail(self._conn).append_many(batch)

    async def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
