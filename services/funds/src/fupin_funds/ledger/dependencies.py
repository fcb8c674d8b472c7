from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from fupin_funds.common.auth import CallerDep
from fupin_funds.ledger.models import LedgerEntry
from fupin_funds.ledger.repository import AccountRef, LedgerRepository
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound


async def load_account(
    account_id: Annotated[int, Path(ge=1, le=2**62)], session: SessionDep, caller: CallerDep
) -> AccountRef:
    account = await LedgerRepository(session).by_id(account_id)
    if account is None:
        raise NotFound("account not found")
    caller.require_region(account.region_code, "account")
    return account


async def load_entry(
    entry_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    caller: CallerDep,
) -> LedgerEntry:
    entry = await LedgerRepository(session).entry(entry_id)
    if entry is None or not (caller.sees(entry.debit_region) or caller.sees(entry.credit_region)):
        raise NotFound("entry not found")
    return entry


AccountDep = Annotated[AccountRef, Depends(load_account)]
EntryDep = Annotated[LedgerEntry, Depends(load_entry)]
