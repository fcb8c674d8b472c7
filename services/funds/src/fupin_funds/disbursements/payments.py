"""Paying from a project: the hot path of the ledger.

Two statements on a plain asyncpg connection, each its own transaction: the payment context
(project state, notice, open objections, the accounts involved) and then the posting, which also
reserves the ``Idempotency-Key`` with the response a retry replays. The balances and the audit
record settle as that statement commits (ledger migration 0006), so the account's row lock is
held only for the commit. A retry with a used key replays the stored response; the same key with
another request answers 422. The ORM session is opened only for a beneficiary household's checks
(and the county account the county's first payment creates).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fupin_funds.common.dates import business_date
from fupin_funds.config import Settings
from fupin_funds.disbursements.repository import PaymentRepository
from fupin_funds.disbursements.schemas import ProjectPaymentCreate
from fupin_funds.disbursements.service import prepare_project_payment
from fupin_funds.ledger.repository import IdempotentWrite
from fupin_funds.ledger.service import Ledger
from fupin_kit.auth import Caller
from fupin_kit.db import DriverConnections, session_scope
from fupin_kit.idempotency import fingerprint, stored_response_on
from fupin_kit.problems import NotFound, Unprocessable

REPLAYED = {"Idempotent-Replayed": "true"}


async def pay_from_project(
    connections: DriverConnections,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    caller: Caller,
    project_id: str,
    body: ProjectPaymentCreate,
    key: str | None,
) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON body and extra headers of the answer to one payment command."""
    async with connections.acquire() as connection:
        project = await PaymentRepository(connection).context(project_id)
        if project is None:
            raise NotFound("project not found")
        caller.require_region(project.region_code, "project")
        on = business_date(body.on, settings)
        read, transfer = await prepare_project_payment(
            lambda: session_scope(sessionmaker), settings, caller, project, body, on
        )
        response = read.model_dump(mode="json")
        request_hash = fingerprint([project_id, body])
        idempotency = IdempotentWrite(caller.actor, key, request_hash, response) if key else None
        ledger = Ledger.on_connection(connection)
        if await ledger.post(transfer, idempotency=idempotency, settle_at_commit=True):
            return 201, response, {}
        assert key is not None  # only a used key writes nothing
        stored = await stored_response_on(connection, caller=caller.actor, key=key)
    if stored is None or stored.request_hash != request_hash:
        raise Unprocessable(
            "#/header/Idempotency-Key",
            "this Idempotency-Key was already used with a different request",
        )
    return stored.status_code or 201, stored.response, REPLAYED
