from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from fupin_funds.common.auth import CallerDep
from fupin_funds.funds.models import Fund
from fupin_funds.funds.repository import FundRepository
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound


async def load_fund(
    fund_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    caller: CallerDep,
) -> Fund:
    fund = await FundRepository(session).get(fund_id)
    if fund is None:
        raise NotFound("fund not found")
    caller.require_region(fund.region_code, "fund")
    return fund


FundDep = Annotated[Fund, Depends(load_fund)]
