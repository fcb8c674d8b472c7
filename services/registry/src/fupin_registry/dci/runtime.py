"""The DCI runtime, started and stopped with the app: signing key, gateway, callback client and
the asynchronous requests in flight (requests whose processing a stopped process lost are
closed by ``dci.sweep``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from fupin_kit.logging import get_logger
from fupin_kit.problems import TooManyRequests
from fupin_kit.ratelimit import EngineBuckets, TokenBucketLimiter
from fupin_registry.config import Settings
from fupin_registry.dci.callbacks import CallbackSender, new_client
from fupin_registry.dci.protocol import DCI_PATH_PREFIX, DciRefusal, Gateway
from fupin_registry.dci.signing import RegistrySigner

log = get_logger("fupin.registry.dci")


@dataclass
class DciRuntime:
    settings: Settings
    signer: RegistrySigner
    gateway: Gateway
    client: httpx.AsyncClient
    callbacks: CallbackSender
    limiter: TokenBucketLimiter  # per partner, one token per value a message tests
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def charge(self, sender_id: str, values: int) -> None:
        """Take the values a message tests from its partner's bucket, or refuse it (429 with
        Retry-After; a message testing more than a full bucket holds is refused outright): a
        partner cannot, for instance, guess birth dates through UIN searches at full speed."""
        if values > self.limiter.burst:
            raise DciRefusal(
                "err.request.bad",
                f"this message tests {values} values;"
                f" one message may test at most {self.limiter.burst:g}",
            )
        try:
            await self.limiter.charge(sender_id, values)
        except TooManyRequests as refused:
            raise DciRefusal(
                "err.request.too_many_requests",
                refused.detail or "too many requests",
                http_status=429,
                retry_after=int((refused.headers or {}).get("Retry-After", "1")),
            ) from None

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run an asynchronous request after its ACK; kept referenced until done."""
        task = asyncio.create_task(self._guarded(work, name), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except Exception as exc:
            log.exception("dci.async_request_failed", task=name, error=repr(exc))

    async def drain(self, grace_seconds: float = 30.0) -> None:
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=grace_seconds)
            for task in pending:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


def check_limits(settings: Settings) -> None:
    """A bucket that cannot hold one full message would refuse it forever: found at start."""
    if settings.dci_rate_burst < settings.dci_max_requests_per_message:
        raise ValueError(
            "dci_rate_burst must allow one full message (>= dci_max_requests_per_message)"
        )


async def start_dci(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    check_limits(settings)
    signer = RegistrySigner.from_file(
        settings.dci_signing_key_file,
        sender_id=settings.dci_sender_id,
        lifetime_seconds=settings.dci_signature_max_age_seconds,
        environment=settings.environment,
    )
    client = new_client(settings.dci_callback_timeout_seconds)
    app.state.dci = DciRuntime(
        settings=settings,
        signer=signer,
        gateway=Gateway(settings, signer),
        client=client,
        callbacks=CallbackSender(
            client,
            signer,
            attempts=settings.dci_callback_attempts,
            backoff_seconds=settings.dci_callback_backoff_seconds,
        ),
        limiter=TokenBucketLimiter(
            EngineBuckets(app.state.engine),
            "dci",
            settings.dci_rate_per_second,
            settings.dci_rate_burst,
            "values",
            settings.rate_limit_lease_seconds,
        ),
    )
    # The kit's body guard answers on the DCI paths in the DCI envelopes.
    app.state.guard_responders = {
        **(getattr(app.state, "guard_responders", None) or {}),
        DCI_PATH_PREFIX: app.state.dci.gateway.guard_answer,
    }


async def stop_dci(app: FastAPI) -> None:
    runtime: DciRuntime | None = getattr(app.state, "dci", None)
    if runtime is None:
        return
    await runtime.drain()
    await runtime.client.aclose()
    app.state.dci = None
