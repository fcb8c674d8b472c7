"""Prepare disbursements: every check and write that takes no contended lock. The router posts the
balances last (``Ledger.post``), right before the request's transaction commits."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events import funds as events
from fupin_funds.announcements.exceptions import AnnouncementGateClosed
from fupin_funds.announcements.gate import check_gate
from fupin_funds.announcements.service import require_gate_open
from fupin_funds.common.money import from_fen, to_fen
from fupin_funds.common.vocabulary import AccountKind, EntryKind
from fupin_funds.config import Settings
from fupin_funds.disbursements.repository import PaymentContext
from fupin_funds.disbursements.schemas import (
    DirectSubsidyCreate,
    DisbursementRead,
    ProjectFundingCreate,
    ProjectPaymentCreate,
)
from fupin_funds.households.models import HouseholdView
from fupin_funds.households.repository import HouseholdRepository
from fupin_funds.households.service import verdict_at
from fupin_funds.ledger.exceptions import InsufficientFunds
from fupin_funds.ledger.repository import AccountKey
from fupin_funds.ledger.service import Ledger, Transfer, county_account, fund_pool
from fupin_funds.projects.lifecycle import MONEY_STATES
from fupin_funds.projects.models import Project
from fupin_funds.projects.repository import ProjectRepository
from fupin_kit.auth import Caller
from fupin_kit.problems import Unprocessable


def project_account(project: Project) -> AccountKey:
    return AccountKey(AccountKind.PROJECT, project.region_code, "", 0, project.id)


def require_money_state(status: str) -> None:
    if status not in MONEY_STATES:
        raise AnnouncementGateClosed(
            f"the project is {status}; money moves only to announced projects"
        )


async def _project_gate(session: AsyncSession, project: Project, on: date) -> None:
    require_money_state(project.status)
    await require_gate_open(session, "project", project.id, on)


async def eligible_household(
    session: AsyncSession,
    settings: Settings,
    household_id: str,
    on: date,
    pointer: str = "#/body/household_id",
) -> HouseholdView:
    household = await HouseholdRepository(session).get(household_id)
    if household is None:
        raise Unprocessable(pointer, f"household {household_id} is unknown to the register")
    verdict = await verdict_at(session, household, on, settings.exit_transition_months)
    if not verdict.eligible:
        raise Unprocessable(
            pointer, f"household {household_id} may not be paid on {on}: {verdict.reason}"
        )
    return household


def _pool_region(requested: str | None, default: str, member: str) -> str:
    region = requested or default
    if not member.startswith(region):
        raise Unprocessable(
            "#/body/pool_region",
            f"region {region} does not hold {member}; name it or a region above it",
        )
    return region


def disbursed(transfer: Transfer, region_code: str) -> tuple[events.Disbursed, str]:
    return (
        events.Disbursed(
            entry_id=transfer.entry_id,
            from_account=str(transfer.from_account.id),
            to_account=str(transfer.to_account.id),
            amount=from_fen(transfer.amount_fen),
            region_code=region_code,
            project_id=transfer.project_id,
            household_id=transfer.household_id,
            booked_on=transfer.booked_on,
        ),
        str(transfer.from_account.id),
    )


def _read(transfer: Transfer) -> DisbursementRead:
    return DisbursementRead(
        entry_id=transfer.entry_id,
        kind=str(transfer.kind),
        amount=from_fen(transfer.amount_fen),
        from_account_id=transfer.from_account.id,
        to_account_id=transfer.to_account.id,
        booked_on=transfer.booked_on,
        project_id=transfer.project_id,
        household_id=transfer.household_id,
    )


async def prepare_project_funding(
    session: AsyncSession, caller: Caller, project: Project, body: ProjectFundingCreate, on: date
) -> tuple[DisbursementRead, Transfer]:
    """Fund pool → project account, within the project's budget for that source."""
    caller.require_region_write(project.region_code)
    await _project_gate(session, project, on)
    repository = ProjectRepository(session)
    budget = {b.source: b.amount_fen for b in await repository.budget(project.id)}
    source = body.source.value
    if source not in budget:
        raise Unprocessable("#/body/source", f"the project has no {source} budget")
    funded = (await repository.funded_by_source(project.id)).get(source, 0)
    amount = to_fen(body.amount)
    if funded + amount > budget[source]:
        raise Unprocessable(
            "#/body/amount",
            f"exceeds the project's remaining {source} budget of "
            f"{from_fen(budget[source] - funded)}",
        )
    pool_region = _pool_region(body.pool_region, project.region_code[:6], project.region_code)
    caller.require_region_write(pool_region)
    ledger = Ledger(session)
    pool = await ledger.existing(fund_pool(pool_region, source, body.year or project.year))
    if pool is None:
        raise Unprocessable(
            "#/body/source",
            f"region {pool_region} holds no {source} fund for {body.year or project.year}",
        )
    transfer = Transfer(
        kind=EntryKind.PROJECT_FUNDING,
        to_account=await ledger.account(project_account(project)),
        from_account=pool,
        amount_fen=amount,
        booked_on=on,
        actor=caller.actor,
        project_id=project.id,
        memo=body.memo,
    )
    ledger.stage(transfer, [disbursed(transfer, project.region_code)])
    return _read(transfer), transfer


async def prepare_project_payment(
    open_session: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    settings: Settings,
    caller: Caller,
    project: PaymentContext,
    body: ProjectPaymentCreate,
    on: date,
) -> tuple[DisbursementRead, Transfer]:
    """Project account → household subsidies (a beneficiary) or bank settlement (a payee). The
    ORM session is opened only for what the payment context does not hold: a beneficiary's
    checks, and the county account the county's first payment creates."""
    caller.require_region_write(project.region_code)
    require_money_state(project.status)
    check_gate(project.notice_ends_on, project.objections, on)
    if body.household_id is not None and body.payee is not None:
        raise Unprocessable(
            "#/body/payee", "a payment goes to a beneficiary household or to a payee, not both"
        )
    if body.household_id is not None:
        kind, to_account = EntryKind.HOUSEHOLD_PAYMENT, project.household_subsidy
        target = county_account(AccountKind.HOUSEHOLD_SUBSIDY, project.region_code)
    else:
        if body.payee is None:
            raise Unprocessable("#/body/payee", "name the payee, or pay a beneficiary household")
        kind, to_account = EntryKind.PROJECT_PAYMENT, project.bank_settlement
        target = county_account(AccountKind.BANK_SETTLEMENT, project.region_code)
    source = project.account
    if source is None:
        raise InsufficientFunds(None)
    if body.household_id is not None or to_account is None:
        async with open_session() as session:
            if body.household_id is not None:
                if not await ProjectRepository(session).is_beneficiary(
                    project.project_id, body.household_id
                ):
                    raise Unprocessable(
                        "#/body/household_id",
                        f"household {body.household_id} is not a beneficiary of this project",
                    )
                await eligible_household(session, settings, body.household_id, on)
            if to_account is None:
                to_account = await Ledger(session).account(target)
    transfer = Transfer(
        kind=kind,
        to_account=to_account,
        from_account=source,
        amount_fen=to_fen(body.amount),
        booked_on=on,
        actor=caller.actor,
        project_id=project.project_id,
        household_id=body.household_id,
        memo=body.memo or body.payee,
        source=project.source,
        year=project.year,
    )
    Ledger.stage(transfer, [disbursed(transfer, project.region_code)])
    return _read(transfer), transfer


async def prepare_direct_subsidy(
    session: AsyncSession, settings: Settings, caller: Caller, body: DirectSubsidyCreate, on: date
) -> tuple[DisbursementRead, Transfer]:
    """Fund pool → household subsidies, paid straight to an eligible household."""
    household = await HouseholdRepository(session).get(body.household_id)
    if household is None or not caller.sees(household.village_code):
        raise Unprocessable(
            "#/body/household_id", f"household {body.household_id} is unknown to the register"
        )
    caller.require_region_write(household.village_code)
    await eligible_household(session, settings, body.household_id, on)
    pool_region = _pool_region(body.pool_region, household.village_code[:6], household.village_code)
    caller.require_region_write(pool_region)
    ledger = Ledger(session)
    pool = await ledger.existing(fund_pool(pool_region, body.source.value, body.year))
    if pool is None:
        raise Unprocessable(
            "#/body/source",
            f"region {pool_region} holds no {body.source.value} fund for {body.year}",
        )
    transfer = Transfer(
        kind=EntryKind.DIRECT_SUBSIDY,
        to_account=await ledger.account(
            county_account(AccountKind.HOUSEHOLD_SUBSIDY, household.village_code)
        ),
        from_account=pool,
        amount_fen=to_fen(body.amount),
        booked_on=on,
        actor=caller.actor,
        household_id=household.household_id,
        memo=body.purpose,
    )
    ledger.stage(transfer, [disbursed(transfer, household.village_code)])
    return _read(transfer), transfer
