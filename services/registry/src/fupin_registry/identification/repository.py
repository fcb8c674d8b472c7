"""SQL over cases, their steps and objections, and the exclusion rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.auth import Caller
from fupin_registry.crosscheck.models import Flag
from fupin_registry.households.models import Member
from fupin_registry.identification.domain import FINAL_STATES
from fupin_registry.identification.models import Case, CaseStep, ExclusionRule, Objection


@dataclass(frozen=True)
class CaseFilter:
    state: str | None = None
    kind: str | None = None
    region: str | None = None
    household_id: uuid.UUID | None = None


class CaseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, case_id: uuid.UUID, *, for_update: bool = False) -> Case | None:
        query = select(Case).where(Case.id == case_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def open_case_of(self, household_id: uuid.UUID) -> Case | None:
        result = await self.session.execute(
            select(Case).where(
                Case.household_id == household_id,
                Case.state.not_in([s.value for s in FINAL_STATES]),
            )
        )
        return result.scalar_one_or_none()

    async def last_closed_on(self, household_id: uuid.UUID) -> date | None:
        """The business date of the last step of the household's closed cases."""
        return await self.session.scalar(
            select(func.max(Case.last_step_on)).where(
                Case.household_id == household_id,
                Case.state.in_([s.value for s in FINAL_STATES]),
            )
        )

    async def add(self, case: Case) -> None:
        self.session.add(case)
        await self.session.flush()

    async def add_step(self, step: CaseStep) -> None:
        self.session.add(step)
        await self.session.flush()

    async def steps(self, case_id: uuid.UUID) -> list[CaseStep]:
        result = await self.session.execute(
            select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.id)
        )
        return list(result.scalars())

    async def objections(self, case_id: uuid.UUID) -> list[Objection]:
        result = await self.session.execute(
            select(Objection)
            .where(Objection.case_id == case_id)
            .order_by(Objection.created_at, Objection.id)
        )
        return list(result.scalars())

    async def objection(self, case_id: uuid.UUID, objection_id: uuid.UUID) -> Objection | None:
        result = await self.session.execute(
            select(Objection)
            .where(Objection.id == objection_id, Objection.case_id == case_id)
            .with_for_update()
        )
        return result.scalar_one_or_none()

    async def add_objection(self, objection: Objection) -> None:
        self.session.add(objection)
        await self.session.flush()

    async def open_objections(self, case_id: uuid.UUID) -> int:
        query = select(func.count()).where(Objection.case_id == case_id, Objection.status == "open")
        return int(await self.session.scalar(query) or 0)

    async def close_open_objections(
        self, case_id: uuid.UUID, resolution: str, actor: str, at: datetime
    ) -> None:
        """Close the case's objections still open (the case has ended without them)."""
        await self.session.execute(
            update(Objection)
            .where(Objection.case_id == case_id, Objection.status == "open")
            .values(status="closed", resolution=resolution, resolved_by=actor, resolved_at=at)
        )

    async def search(
        self,
        where: CaseFilter,
        caller: Caller,
        *,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Case]:
        query = select(Case).where(caller.region_filter(Case.village_code))
        if where.state:
            query = query.where(Case.state == where.state)
        if where.kind:
            query = query.where(Case.kind == where.kind)
        if where.region:
            query = query.where(Case.village_code.startswith(where.region, autoescape=True))
        if where.household_id:
            query = query.where(Case.household_id == where.household_id)
        if after is not None:
            query = query.where(tuple_(Case.created_at, Case.id) > tuple_(*after))
        result = await self.session.execute(query.order_by(Case.created_at, Case.id).limit(limit))
        return list(result.scalars())


class ExclusionRuleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> list[ExclusionRule]:
        return list(
            (
                await self.session.execute(select(ExclusionRule).order_by(ExclusionRule.kind))
            ).scalars()
        )

    async def get(self, kind: str, *, for_update: bool = False) -> ExclusionRule | None:
        """The rule of a kind; ``for_update`` holds the kind until the transaction ends, also
        while it has no rule yet (a row lock would hold nothing then, and two first settings
        would both record that there was none)."""
        if for_update:
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended('exclusion-rule:' || :k, 0))"),
                {"k": kind},
            )
        query = select(ExclusionRule).where(ExclusionRule.kind == kind)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def upsert(
        self, kind: str, effect: str, description: str, updated_by: str
    ) -> ExclusionRule:
        statement = (
            insert(ExclusionRule)
            .values(kind=kind, effect=effect, description=description, updated_by=updated_by)
            .on_conflict_do_update(
                index_elements=["kind"],
                set_={
                    "effect": effect,
                    "description": description,
                    "updated_by": updated_by,
                    "updated_at": func.now(),
                },
            )
            .returning(ExclusionRule)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def dismiss_open_flags(
        self, household_id: uuid.UUID, reason: str, actor: str
    ) -> list[Flag]:
        """Close the household's open flags as dismissed (it left the register: nothing is
        left to review); the flags closed."""
        result = await self.session.execute(
            update(Flag)
            .where(Flag.household_id == household_id, Flag.status == "open")
            .values(
                status="dismissed",
                resolution_reason=reason,
                resolved_by=actor,
                resolved_at=func.now(),
            )
            .returning(Flag)
        )
        return list(result.scalars())

    async def flags_in_force(self, household_id: uuid.UUID) -> list[tuple[str, str | None]]:
        """(kind, effect) of the household's flags that are open or confirmed (a dismissed flag
        no longer counts) and, when a flag names a member, whose member still belongs to the
        household (the car of a son who has left is not the household's); effect is None for
        kinds without a rule."""
        result = await self.session.execute(
            select(Flag.kind, ExclusionRule.effect)
            .outerjoin(ExclusionRule, ExclusionRule.kind == Flag.kind)
            .outerjoin(Member, Member.id == Flag.member_id)
            .where(
                Flag.household_id == household_id,
                Flag.status.in_(("open", "confirmed")),
                or_(
                    Flag.member_id.is_(None),
                    and_(Member.household_id == household_id, Member.left_on.is_(None)),
                ),
            )
            .order_by(Flag.kind)
        )
        return [(row[0], row[1]) for row in result]
