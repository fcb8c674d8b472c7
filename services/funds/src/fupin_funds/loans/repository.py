from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.loans.models import Loan, LoanRepayment, LoanSubsidy


class LoanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, loan_id: str, *, lock: bool = False) -> Loan | None:
        statement = select(Loan).where(Loan.id == loan_id)
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar()

    async def by_bank_ref(self, bank_id: str, bank_loan_ref: str) -> Loan | None:
        return (
            await self.session.execute(
                select(Loan).where(Loan.bank_id == bank_id, Loan.bank_loan_ref == bank_loan_ref)
            )
        ).scalar()

    async def lock_household(self, household_id: str) -> None:
        """Serialise loan registrations for one household until the transaction ends."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('loan-household:' || :h))"),
            {"h": household_id},
        )

    async def household_outstanding(self, household_id: str) -> int:
        """Fen still owed on the household's running loans (active or overdue)."""
        total = await self.session.scalar(
            select(func.coalesce(func.sum(Loan.outstanding_fen), 0)).where(
                Loan.household_id == household_id, Loan.status.in_(("active", "overdue"))
            )
        )
        return int(total or 0)

    async def add(self, loan: Loan) -> Loan:
        self.session.add(loan)
        await self.session.flush()
        return loan

    async def repayments(self, loan_id: str) -> list[LoanRepayment]:
        rows = await self.session.execute(
            select(LoanRepayment)
            .where(LoanRepayment.loan_id == loan_id)
            .order_by(LoanRepayment.repaid_on, LoanRepayment.created_at)
        )
        return list(rows.scalars())

    async def add_repayment(self, repayment: LoanRepayment) -> None:
        self.session.add(repayment)
        await self.session.flush()

    async def subsidies(self, loan_id: str) -> list[LoanSubsidy]:
        rows = await self.session.execute(
            select(LoanSubsidy)
            .where(LoanSubsidy.loan_id == loan_id)
            .order_by(LoanSubsidy.period_start, LoanSubsidy.created_at)
        )
        return list(rows.scalars())

    async def add_subsidy(self, subsidy: LoanSubsidy) -> None:
        self.session.add(subsidy)
        await self.session.flush()

    async def listing(
        self,
        jurisdiction_filter: Any,
        bank_id: str | None,
        status: str | None,
        after: str | None,
        limit: int,
    ) -> list[Loan]:
        statement = select(Loan).where(jurisdiction_filter)
        if bank_id is not None:
            statement = statement.where(Loan.bank_id == bank_id)
        if status is not None:
            statement = statement.where(Loan.status == status)
        if after is not None:
            statement = statement.where(Loan.id > after)
        rows = await self.session.execute(statement.order_by(Loan.id).limit(limit))
        return list(rows.scalars())
