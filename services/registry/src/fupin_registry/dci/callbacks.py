"""Signed callbacks to partners (on-search, on-subscribe, on-unsubscribe, txn-on-status, notify).

Redirects are never followed, so a callback cannot be bounced to an address the partner did not
register.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from fupin_kit.logging import get_logger
from fupin_registry.dci.signing import RegistrySigner

log = get_logger("fupin.registry.dci.callbacks")


@dataclass
class Delivery:
    delivered: bool
    attempts: int
    error: str | None = None


def permanent(status: int) -> bool:
    """A 4xx other than timeout/too-many will not get better by retrying."""
    return 400 <= status < 500 and status not in (408, 425, 429)


class CallbackSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        signer: RegistrySigner,
        *,
        attempts: int,
        backoff_seconds: float,
    ) -> None:
        self.client = client
        self.signer = signer
        self.attempts = attempts
        self.backoff = backoff_seconds

    async def send_once(
        self, url: str, header: dict[str, Any], message: dict[str, Any] | None
    ) -> tuple[bool, bool, str | None]:
        """(delivered, retryable, error). Signed at send time, so each try is fresh."""
        body: dict[str, Any] = {"signature": self.signer.sign(header, message), "header": header}
        if message is not None:
            body["message"] = message
        try:
            response = await self.client.post(url, json=body)
        except httpx.HTTPError as exc:
            return False, True, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return True, False, None
        return False, not permanent(response.status_code), f"HTTP {response.status_code}"

    async def deliver(
        self, url: str, header: dict[str, Any], message: dict[str, Any] | None
    ) -> Delivery:
        """Try up to ``attempts`` times with doubling backoff."""
        error: str | None = None
        for attempt in range(1, self.attempts + 1):
            delivered, retryable, error = await self.send_once(url, header, message)
            if delivered:
                return Delivery(True, attempt)
            log.warning("dci.callback_failed", url=url, attempt=attempt, error=error)
            if not retryable or attempt == self.attempts:
                return Delivery(False, attempt, error)
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        return Delivery(False, self.attempts, error)


def new_client(timeout_seconds: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)
