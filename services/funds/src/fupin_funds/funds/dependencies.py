from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.common.auth import CallerDep
from fupin_funds.funds.models import Fund
from fupin_funds.funds.repository import FundRepository
from fupin_kit.auth import Caller
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound


async def find_fund(
    fund_id: str, session: AsyncSession, caller: Caller, pointer: str = "#/path/fund_id"
) -> Fund:
    """A fund of the caller's jurisdiction; one outside it is not found, as one that does not
    exist (404 naming ``pointer``: where the request gave the id)."""
    fund = await FundRepository(session).get(fund_id)
    if fund is None:
        raise NotFound("fund not found", pointer=pointer)
    caller.require_region(fund.region_code, "fund", pointer)
    return fund


async def load_fund(
    fund_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    caller: CallerDep,
) -> Fund:
    return await find_fund(fund_id, session, caller)


FundDep = Annotated[Fund, Depends(load_fund)]
