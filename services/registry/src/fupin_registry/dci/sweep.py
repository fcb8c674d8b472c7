"""Closing asynchronous requests whose processing was lost.

An asynchronous request is processed in a task of the API process after its ACK. A process
that stops (or dies) first leaves the transaction ``pdng`` with nobody to finish it. This job
runs beside the notification sender (in the worker, or in the API process when it runs the
consumers): at start and every ``dci_sweep_interval_seconds`` it marks transactions still
``pdng`` after ``dci_pending_timeout_seconds`` as ``rjct`` (``err.request.timeout``), so
txn/status gives a final answer and the partner knows to send the request again. The timeout
is far above the time any request takes, so a request still being processed by another
replica is not touched.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fupin_kit.db import session_scope
from fupin_kit.logging import get_logger
from fupin_registry.config import Settings
from fupin_registry.dci.repository import TransactionRepository

log = get_logger("fupin.registry.dci.sweep")

INTERRUPTED = "err.request.timeout: processing was interrupted before it completed"


class InterruptedRequestSweep:
    """A background job (``name`` + ``run(stop)``, like the event consumers)."""

    name = "dci-interrupted-sweep"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.timeout = timedelta(seconds=settings.dci_pending_timeout_seconds)
        self.interval = settings.dci_sweep_interval_seconds

    async def sweep(self) -> int:
        async with session_scope(self.sessionmaker) as session:
            failed = await TransactionRepository(session).fail_stale(self.timeout, INTERRUPTED)
        if failed:
            log.warning("dci.interrupted_requests_failed", count=failed)
        return failed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database unavailable: the next round tries again
                log.warning("dci.sweep_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
