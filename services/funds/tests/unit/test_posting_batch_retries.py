"""When a group-commit statement fails, its transfers are posted again one by one only if
PostgreSQL refused it; a broken connection leaves the outcome unknown, and retrying could pay
twice."""

import asyncio
from contextlib import asynccontextmanager
from datetime import date

import asyncpg
import pytest

from fupin_funds.common.vocabulary import EntryKind
from fupin_funds.ledger.batches import PostingBatches
from fupin_funds.ledger.repository import AccountRef
from fupin_funds.ledger.service import Transfer

POOL = AccountRef(1, "fund_pool", "220622", "central", 2024, "", "debit", 0)
SUBSIDIES = AccountRef(2, "household_subsidy", "220622", "", 0, "", "debit", 0)


class FailingConnection:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.statements = 0

    async def fetchval(self, *args):
        self.statements += 1
        raise self.error

    @asynccontextmanager
    async def acquire(self):
        yield self


def transfer() -> Transfer:
    return Transfer(
        kind=EntryKind.DIRECT_SUBSIDY,
        to_account=SUBSIDIES,
        from_account=POOL,
        amount_fen=100,
        booked_on=date(2024, 1, 2),
        actor="test",
    )


async def post_three(error: Exception) -> tuple[list, int]:
    connection = FailingConnection(error)
    batches = PostingBatches(lambda: connection, limit=10, flushers=1)
    answers = await asyncio.gather(
        *(batches.post(transfer(), None) for _ in range(3)), return_exceptions=True
    )
    return answers, connection.statements


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.ConnectionDoesNotExistError("gone"),
        asyncpg.InterfaceError("connection closed"),
        ConnectionResetError("reset by peer"),
        TimeoutError(),
    ],
)
async def test_a_broken_connection_fails_the_batch_without_posting_again(error):
    answers, statements = await post_three(error)
    assert statements == 1
    assert all(isinstance(a, type(error)) for a in answers)


@pytest.mark.parametrize("error", [asyncpg.CheckViolationError("refused")])
async def test_a_statement_postgresql_refused_is_posted_again_one_by_one(error):
    answers, statements = await post_three(error)
    assert statements == 1 + 3
    assert all(isinstance(a, asyncpg.CheckViolationError) for a in answers)
