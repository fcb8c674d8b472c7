from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fupin_funds.common.vocabulary import EntryKind
from fupin_funds.ledger.models import LedgerEntry
from fupin_funds.projects.models import (
    ApprovalAuthority,
    Project,
    ProjectBeneficiary,
    ProjectBudget,
)

PAYMENT_KINDS = (EntryKind.PROJECT_PAYMENT.value, EntryKind.HOUSEHOLD_PAYMENT.value)


def _not_reversed() -> Any:
    reversal = aliased(LedgerEntry)
    return ~select(reversal.id).where(reversal.reverses_entry_id == LedgerEntry.id).exists()


class ProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, project_id: str, *, lock: bool = False) -> Project | None:
        statement = select(Project).where(Project.id == project_id)
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar()

    async def add(
        self, project: Project, budget: Sequence[ProjectBudget], beneficiaries: Sequence[str]
    ) -> Project:
        self.session.add(project)
        await self.session.flush()
        await self.replace_budget(project.id, budget)
        await self.replace_beneficiaries(project.id, beneficiaries)
        return project

    async def replace_budget(self, project_id: str, budget: Sequence[ProjectBudget]) -> None:
        await self.session.execute(
            delete(ProjectBudget).where(ProjectBudget.project_id == project_id)
        )
        self.session.add_all(budget)
        await self.session.flush()

    async def replace_beneficiaries(self, project_id: str, household_ids: Sequence[str]) -> None:
        await self.session.execute(
            delete(ProjectBeneficiary).where(ProjectBeneficiary.project_id == project_id)
        )
        self.session.add_all(
            [ProjectBeneficiary(project_id=project_id, household_id=h) for h in household_ids]
        )
        await self.session.flush()

    async def budget(self, project_id: str) -> list[ProjectBudget]:
        rows = await self.session.execute(
            select(ProjectBudget)
            .where(ProjectBudget.project_id == project_id)
            .order_by(ProjectBudget.source)
        )
        return list(rows.scalars())

    async def beneficiaries(self, project_id: str) -> list[str]:
        rows = await self.session.execute(
            select(ProjectBeneficiary.household_id)
            .where(ProjectBeneficiary.project_id == project_id)
            .order_by(ProjectBeneficiary.household_id)
        )
        return list(rows.scalars())

    async def is_beneficiary(self, project_id: str, household_id: str) -> bool:
        found = await self.session.scalar(
            select(func.count()).where(
                ProjectBeneficiary.project_id == project_id,
                ProjectBeneficiary.household_id == household_id,
            )
        )
        return bool(found)

    async def funded_by_source(self, project_id: str) -> dict[str, int]:
        rows = await self.session.execute(
            select(LedgerEntry.source, func.sum(LedgerEntry.amount_fen))
            .where(
                LedgerEntry.project_id == project_id,
                LedgerEntry.kind == EntryKind.PROJECT_FUNDING.value,
                _not_reversed(),
            )
            .group_by(LedgerEntry.source)
        )
        return {source: int(total) for source, total in rows}

    async def last_booked_on(self, project_id: str) -> date | None:
        """The last day money came to or left the project (entries standing, not reversed)."""
        return await self.session.scalar(  # type: ignore[no-any-return]
            select(func.max(LedgerEntry.booked_on)).where(
                LedgerEntry.project_id == project_id,
                LedgerEntry.kind.in_(
                    (
                        EntryKind.PROJECT_FUNDING.value,
                        EntryKind.PROJECT_PAYMENT.value,
                        EntryKind.HOUSEHOLD_PAYMENT.value,
                    )
                ),
                _not_reversed(),
            )
        )

    async def paid_total(self, project_id: str) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
                LedgerEntry.project_id == project_id,
                LedgerEntry.kind.in_(PAYMENT_KINDS),
                _not_reversed(),
            )
        )
        return int(total or 0)

    async def listing(
        self,
        jurisdiction_filter: Any,
        status: str | None,
        year: int | None,
        after: str | None,
        limit: int,
    ) -> list[Project]:
        statement = select(Project).where(jurisdiction_filter)
        if status is not None:
            statement = statement.where(Project.status == status)
        if year is not None:
            statement = statement.where(Project.year == year)
        if after is not None:
            statement = statement.where(Project.id > after)
        rows = await self.session.execute(statement.order_by(Project.id).limit(limit))
        return list(rows.scalars())

    async def authorities(self) -> list[ApprovalAuthority]:
        rows = await self.session.execute(
            select(ApprovalAuthority).order_by(ApprovalAuthority.level)
        )
        return list(rows.scalars())

    async def authority(self, level: str, *, lock: bool = False) -> ApprovalAuthority | None:
        statement = select(ApprovalAuthority).where(ApprovalAuthority.level == level)
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar()
