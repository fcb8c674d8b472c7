from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from fupin_funds.common.auth import CallerDep
from fupin_funds.disbursements.repository import PaymentContext, PaymentRepository
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound


async def load_payment_context(
    project_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    caller: CallerDep,
) -> PaymentContext:
    context = await PaymentRepository(session).context(project_id)
    if context is None:
        raise NotFound("project not found")
    caller.require_region(context.region_code, "project")
    return context


PaymentContextDep = Annotated[PaymentContext, Depends(load_payment_context)]
