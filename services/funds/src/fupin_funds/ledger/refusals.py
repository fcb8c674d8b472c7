"""The ledger's refusals as problems, wherever the database raises them.

A posting settles when its transaction commits (migration 0006): a balance that would go negative
or a booking date before the account's last one aborts the commit with a check violation naming
``ledger_sufficient_funds`` or ``ledger_booking_order``, the account in the message and the request
field to blame in the detail. With constraints set immediate (as in tests whose transaction never
commits) the same error comes from the posting statement itself.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from fupin_funds.ledger.exceptions import BackdatedPosting, InsufficientFunds
from fupin_kit.problems import Conflict, ProblemError

SUFFICIENT_FUNDS = "ledger_sufficient_funds"
BOOKING_ORDER = "ledger_booking_order"


def ledger_refusal(exc: BaseException) -> ProblemError | None:
    """The problem behind a settlement refusal (asyncpg's error or SQLAlchemy's wrapping of it),
    or None for any other error."""
    error: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        error = exc.orig.__cause__ if exc.orig is not None and exc.orig.__cause__ else exc.orig
    name = getattr(error, "constraint_name", None)
    if name not in (SUFFICIENT_FUNDS, BOOKING_ORDER):
        return None
    _, _, account = str(getattr(error, "message", "")).partition(":")
    account_id = int(account) if account.isdigit() else 0
    pointer = getattr(error, "detail", None)
    if name == SUFFICIENT_FUNDS:
        return InsufficientFunds(account_id, pointer or "#/body/amount")
    return BackdatedPosting(account_id, pointer or "#/body/on")


# Unique constraints two racing commands can both pass the checks for: the loser's answer.
RACE_LOSERS = {
    "uq_ledger_entries_reverses": "this entry is already reversed",
    "uq_funds_region_source_year": (
        "a fund for this region, source and year was opened by another request at the same time;"
        " retry"
    ),
}


def race_refusal(exc: BaseException) -> ProblemError | None:
    """409 for a unique constraint a concurrent command took first, or None."""
    error: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        error = exc.orig.__cause__ if exc.orig is not None and exc.orig.__cause__ else exc.orig
    detail = RACE_LOSERS.get(str(getattr(error, "constraint_name", "")))
    return None if detail is None else Conflict(detail)
