from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from fupin_funds.common.auth import CallerDep
from fupin_funds.loans.models import Loan
from fupin_funds.loans.repository import LoanRepository
from fupin_kit.db import SessionDep
from fupin_kit.problems import NotFound


async def load_loan(
    loan_id: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    caller: CallerDep,
) -> Loan:
    """Officers see loans in their jurisdiction; a bank sees only its own loans."""
    loan = await LoanRepository(session).get(loan_id, lock=True)
    if loan is None or not caller.sees(loan.region_code):
        raise NotFound("loan not found")
    if caller.client_id is not None and loan.bank_id != caller.client_id:
        raise NotFound("loan not found")
    return loan


LoanDep = Annotated[Loan, Depends(load_loan)]
