"""Paying from a project: the hot path of the ledger.

Payments arriving together share one read of their payment contexts (project state, notice, open
objections, the accounts involved: ``PaymentContexts``) and then one group-commit statement for
their postings (``fupin_funds.ledger.batches``), which also reserves each ``Idempotency-Key``
with the response a retry replays. Both run on plain asyncpg connections. A retry with a used
key replays the stored response; the same key with another request answers 422. The ORM session
is opened only for a beneficiary household's checks (and the county account the county's first
payment creates).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fupin_funds.common.dates import business_date
from fupin_funds.config import Settings
from fupin_funds.disbursements.repository import PaymentContext, PaymentRepository
from fupin_funds.disbursements.schemas import ProjectPaymentCreate
from fupin_funds.disbursements.service import prepare_project_payment, require_money_state
from fupin_funds.ledger.batches import PostingBatches
from fupin_funds.ledger.repository import IdempotentWrite
from fupin_kit.auth import Caller
from fupin_kit.batching import Coalescer
from fupin_kit.db import DriverConnections, session_scope
from fupin_kit.idempotency import (
    REUSED_KEY,
    StoredResponse,
    fingerprint,
    same_request,
    stored_response_on,
)
from fupin_kit.problems import NotFound, ProblemError, Unprocessable

REPLAYED = {"Idempotent-Replayed": "true"}


class PaymentContexts:
    """Per process: the payment contexts that concurrent requests ask for, read in one
    statement. A request always joins a read that starts after it arrived."""

    def __init__(self, connections: Callable[[], DriverConnections], limit: int) -> None:
        self._connections = connections
        self._reads: Coalescer[str, PaymentContext | None] = Coalescer(self._read, limit=limit)

    async def get(self, project_id: str) -> PaymentContext | None:
        return await self._reads.submit(project_id)

    async def _read(self, project_ids: Sequence[str]) -> list[PaymentContext | None]:
        async with self._connections().acquire() as connection:
            return await PaymentRepository(connection).contexts(project_ids)


async def pay_from_project(
    connections: DriverConnections,
    contexts: PaymentContexts,
    batches: PostingBatches,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    caller: Caller,
    project_id: str,
    body: ProjectPaymentCreate,
    key: str | None,
) -> tuple[int, str, dict[str, str]]:
    """Status, JSON text and extra headers of the answer to one payment command."""
    project = await contexts.get(project_id)
    if project is None:
        raise NotFound("project not found")
    caller.require_region(project.region_code, "project")
    request_hash = fingerprint([project_id, body], caller)
    try:
        on = business_date(body.on, settings)
        read, transfer = await prepare_project_payment(
            lambda: session_scope(sessionmaker), settings, caller, project, body, on
        )
    except ProblemError:
        # A retry of a payment that went through may meet a project that has moved on (started,
        # accepted, closed) or another business day: it still gets the answer it was given.
        # Only a refused request pays for this look-up; the accepted ones never do.
        if key is None:
            raise
        stored = await _stored(connections, caller, key)
        if stored is None:
            raise
        return _replayed(stored, request_hash)
    response = read.model_dump_json()
    idempotency = IdempotentWrite(caller.actor, key, request_hash, response) if key else None
    posted = await batches.post(transfer, idempotency)
    if posted.posted:
        return 201, response, {}
    if posted.project_status is not None:
        # The project moved on (accepted, evaluated) between its read and the posting.
        require_money_state(posted.project_status)
    if not posted.key_used:
        raise posted.refusal("#/body/amount", "#/body/on")
    assert key is not None  # only a used key writes nothing
    return _replayed(await _stored(connections, caller, key), request_hash)


async def _stored(
    connections: DriverConnections, caller: Caller, key: str
) -> StoredResponse | None:
    async with connections.acquire() as connection:
        return await stored_response_on(connection, caller=caller.actor, key=key)


def _replayed(stored: StoredResponse | None, request_hash: str) -> tuple[int, str, dict[str, str]]:
    """The stored answer replayed; the same key with another request (or none stored) is 422."""
    if stored is None or not same_request(stored.request_hash, request_hash):
        raise Unprocessable(
            "#/header/Idempotency-Key",
            REUSED_KEY,
        )
    return stored.status_code or 201, json.dumps(stored.response), REPLAYED
