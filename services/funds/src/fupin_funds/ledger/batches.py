"""Group commit for the hottest postings: payments that arrive together are posted together.

Payments against one account serialise on its row lock, and each transaction pays a commit and a
WAL flush of its own. ``PostingBatches`` queues the transfers of concurrent requests in this
process and posts each queue in ONE statement (``ledger_post_batch``, migrations 0007, 0011) that
commits by itself: the accounts are locked once, every transfer is checked against the running
balances, the accepted ones are written set-based and the refused ones write nothing. Each
request gets its own answer (``Posted``); batching itself is ``fupin_kit.batching.Coalescer``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from prometheus_client import Histogram
from pydantic_core import to_json

from fupin_funds.ledger.exceptions import BackdatedPosting, InsufficientFunds
from fupin_funds.ledger.repository import IdempotentWrite, post_batch
from fupin_funds.ledger.service import Transfer
from fupin_kit.batching import Coalescer
from fupin_kit.problems import ProblemError

BATCH_SIZE = Histogram(
    "fupin_ledger_batch_postings",
    "Transfers posted per group-commit statement",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


class Connections(Protocol):
    def acquire(self) -> Any: ...


@dataclass(frozen=True)
class Posted:
    """One transfer's answer: posted, its key already used (replay it), or refused."""

    # None: posted; "used"; "insufficient:<account>"; "backdated:<account>"; "closed:<status>"
    # (the project named no longer takes payments: it moved on after the request read it)
    outcome: str | None

    @property
    def posted(self) -> bool:
        return self.outcome is None

    @property
    def key_used(self) -> bool:
        return self.outcome == "used"

    @property
    def project_status(self) -> str | None:
        """The status of the project named, when that refused the transfer."""
        if self.outcome is None or not self.outcome.startswith("closed:"):
            return None
        return self.outcome.partition(":")[2]

    def refusal(self, amount_pointer: str, date_pointer: str) -> ProblemError:
        assert self.outcome is not None and not self.key_used and self.project_status is None
        reason, _, account = self.outcome.partition(":")
        if reason == "insufficient":
            return InsufficientFunds(int(account), amount_pointer)
        if reason == "backdated":
            return BackdatedPosting(int(account), date_pointer)
        raise RuntimeError(f"ledger_post_batch refused a transfer: {self.outcome}")


def _row(transfer: Transfer, idempotency: IdempotentWrite | None) -> tuple[Any, ...]:
    """One transfer as a row of ``post_batch``'s JSON document (``ledger_post_batch``'s column
    order)."""
    assert len(transfer.events) <= 1, "a batched transfer carries at most one event"
    (_, debit_delta), (_, credit_delta) = transfer.deltas()
    event = transfer.events[0] if transfer.events else None
    return (
        *(idempotency.parameters() if idempotency else (None, None, None, None)),
        *transfer.entry_values(),
        debit_delta,
        credit_delta,
        *(
            (
                str(event["event_id"]),
                str(event["topic"]),
                str(event["key"]),
                str(event["event_type"]),
                event["payload"],  # a JSON object in the document: encoded once, with the rows
            )
            if event
            else (None,) * 5
        ),
        *transfer.audit_values(),
    )


def _refused_by_the_database(error: Exception) -> bool:
    """Whether a failed batch statement surely committed nothing, so that its transfers may be
    posted again one by one: PostgreSQL refused it. A broken connection leaves the outcome
    unknown (the commit may have happened), so those transfers fail instead of paying twice."""
    return isinstance(error, asyncpg.PostgresError) and not isinstance(
        error,
        asyncpg.PostgresConnectionError,  # a PostgresError too in asyncpg
    )


class PostingBatches:
    """Per process: transfers queued by concurrent requests, posted a batch per statement."""

    def __init__(self, connections: Callable[[], Connections], limit: int, flushers: int) -> None:
        self._connections = connections
        self._batches: Coalescer[tuple[Any, ...], Posted] = Coalescer(
            self._post,
            limit=limit,
            in_flight=flushers,
            observe=BATCH_SIZE.observe,
            retry_alone=_refused_by_the_database,
        )

    async def post(self, transfer: Transfer, idempotency: IdempotentWrite | None) -> Posted:
        return await self._batches.submit(_row(transfer, idempotency))

    async def _post(self, rows: Sequence[tuple[Any, ...]]) -> list[Posted]:
        async with self._connections().acquire() as connection:
            outcomes = await post_batch(connection, to_json(rows).decode())
        return [Posted(outcome) for outcome in outcomes]
