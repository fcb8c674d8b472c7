"""Admission control for the money-moving commands (a bulkhead).

Disbursements against one account serialise on its row lock, which each is held from the
balance update until the commit. In one event loop, every extra request in flight adds CPU work
queued ahead of the lock holder's commit, stretching the time the lock is held for everyone.
Letting a bounded number of money commands run at once per process (the rest wait, holding
nothing) keeps that queue short; other requests are not limited.
"""

from __future__ import annotations

import asyncio
import re

from starlette.types import ASGIApp, Receive, Scope, Send

MONEY_COMMANDS = re.compile(
    r"^/v1/(projects/[^/]+/(payments|fundings)|household-subsidies|loans/[^/]+/(subsidies|compensation)"
    r"|risk-compensation/[^/]+/deposits|entries/[^/]+/reversal)$"
)


class MoneyGate:
    """The bulkhead itself, shared by every layer that admits money commands in one app."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # created on the serving loop
            self._semaphore = asyncio.Semaphore(self.limit)
        return self._semaphore


class MoneyCommandAdmission:
    def __init__(self, app: ASGIApp, gate: MoneyGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not MONEY_COMMANDS.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        async with self.gate.semaphore:
            await self.app(scope, receive, send)
