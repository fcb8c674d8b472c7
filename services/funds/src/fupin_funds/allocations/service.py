"""Allocation proposals (formula + award or manual), approval by the owning level, public
notice, release to the children after the notice, and withdrawal on an upheld objection.

Money: approval reserves the total from the parent's fund pool into the allocation's own
account (a conditional debit, so children never receive more than the parent holds); release
moves each line into the child's fund pool."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events import funds as events
from fupin_funds.allocations.formula import Child, Factor, FormulaError, compute
from fupin_funds.allocations.models import Allocation, AllocationLine
from fupin_funds.allocations.repository import AllocationRepository
from fupin_funds.allocations.schemas import AllocationCreate
from fupin_funds.announcements.service import announce, require_gate_open
from fupin_funds.common.audit import audit
from fupin_funds.common.money import from_fen, to_fen
from fupin_funds.common.vocabulary import AccountKind, EntryKind
from fupin_funds.config import Settings
from fupin_funds.funds.models import Fund
from fupin_funds.funds.repository import FundRepository
from fupin_funds.funds.service import open_fund
from fupin_funds.households.repository import HouseholdRepository
from fupin_funds.ledger.repository import AccountKey
from fupin_funds.ledger.service import Ledger, Transfer, fund_pool
from fupin_funds.regions.repository import RegionRepository
from fupin_kit.auth import Caller
from fupin_kit.outbox import add_events
from fupin_kit.problems import Conflict, Forbidden, InvalidTransition, Unprocessable

REGISTRY_FACTORS = {"poor_population"}


def escrow(allocation: Allocation) -> AccountKey:
    return AccountKey(
        AccountKind.ALLOCATION,
        allocation.parent_region,
        allocation.source,
        allocation.year,
        allocation.id,
    )


def require_owner(caller: Caller, allocation: Allocation) -> None:
    """Tiered responsibility (分级负责): the level that holds the money approves its allocation."""
    if caller.jurisdiction != allocation.parent_region:
        raise Forbidden(
            f"allocations of {allocation.parent_region} are decided by that region's office"
        )


async def require_owner_of(session: AsyncSession, caller: Caller, allocation_id: str) -> None:
    allocation = await AllocationRepository(session).get(allocation_id)
    assert allocation is not None  # announced, so it exists
    require_owner(caller, allocation)


def require_status(allocation: Allocation, expected: str, action: str) -> None:
    if allocation.status != expected:
        raise InvalidTransition(
            f"an allocation that is {allocation.status} cannot be {action}",
            current_status=allocation.status,
        )


def _later(on: date, previous: date | None, what: str) -> None:
    if previous is not None and on < previous:
        raise Unprocessable(
            "#/body/on", f"dates out of order: {on} is before the {what} date {previous}"
        )


async def _children(
    session: AsyncSession, fund: Fund, requested: list[str] | None, pointer: str
) -> list[str]:
    children = [r.code for r in await RegionRepository(session).children(fund.region_code)]
    if requested is None:
        if not children:
            raise Unprocessable(
                "#/body/fund_id", f"region {fund.region_code} has no regions below it"
            )
        return children
    allowed, seen = set(children), set()
    for index, code in enumerate(requested):
        if code not in allowed:
            raise Unprocessable(
                f"{pointer}/{index}", f"{code} is not a region directly below {fund.region_code}"
            )
        if code in seen:
            raise Unprocessable(f"{pointer}/{index}", f"{code} is listed twice")
        seen.add(code)
    # In code order, as without a list: a rounding tie goes to the earlier region code,
    # whatever order the request named them in.
    return sorted(requested)


async def _award_scores(
    session: AsyncSession, parent: str, children: list[str]
) -> dict[str, tuple[Decimal | None, dict[str, str]]]:
    """Each child's award score: the mean of the latest published scores of its counties."""
    by_child: dict[str, list[tuple[str, Decimal, int]]] = defaultdict(list)
    for assessment in await AllocationRepository(session).latest_assessments(parent):
        for child in children:
            if assessment.county_code.startswith(child):
                by_child[child].append((assessment.county_code, assessment.score, assessment.year))
    result: dict[str, tuple[Decimal | None, dict[str, str]]] = {}
    for child in children:
        found = by_child.get(child, [])
        if not found:
            result[child] = (None, {})
            continue
        mean = Fraction(sum((Fraction(score) for _, score, _ in found), Fraction(0))) / len(found)
        score = Decimal(mean.numerator) / Decimal(mean.denominator)
        result[child] = (
            score.quantize(Decimal("0.001")),
            {county: f"{score_} ({year})" for county, score_, year in found},
        )
    return result


async def _formula_lines(
    session: AsyncSession, fund: Fund, total_fen: int, award_share: Decimal, children: list[str]
) -> tuple[int, int, list[AllocationLine]]:
    repository = AllocationRepository(session)
    factors = [f for f in await repository.factors() if f.weight > 0]
    values: dict[str, dict[str, Decimal | None]] = {code: {} for code in children}
    for factor in factors:
        if factor.code in REGISTRY_FACTORS:
            counts = await HouseholdRepository(session).poor_population(children)
            found: dict[str, Decimal] = {code: Decimal(count) for code, count in counts.items()}
        else:
            found = await repository.factor_values(factor.code, fund.year, children)
        for code in children:
            values[code][factor.code] = found.get(code)
    scores = await _award_scores(session, fund.region_code, children)
    try:
        proposal = compute(
            total_fen,
            award_share,
            [Factor(f.code, f.direction, f.weight) for f in factors],
            [Child(code, values[code], scores[code][0], scores[code][1]) for code in children],
        )
    except FormulaError as exc:
        pointer = "#/body/children" if exc.region_code else "#/body/total"
        raise Unprocessable(pointer, str(exc)) from exc
    return (
        proposal.formula_fen,
        proposal.award_fen,
        [
            AllocationLine(
                region_code=line.region_code,
                formula_fen=line.formula_fen,
                award_fen=line.award_fen,
                amount_fen=line.amount_fen,
                computation=line.computation,
            )
            for line in proposal.lines
        ],
    )


async def propose(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    fund: Fund,
    body: AllocationCreate,
    on: date,
) -> Allocation:
    caller.require_region_write(fund.region_code)
    award_share = settings.performance_award_share if body.award_share is None else body.award_share
    pool = await Ledger(session).existing(fund_pool(fund.region_code, fund.source, fund.year))
    holds = 0 if pool is None else pool.balance_fen
    if body.lines is not None:
        if body.children is not None:
            raise Unprocessable(
                "#/body/children", "give either children (formula) or lines (manual), not both"
            )
        await _children(session, fund, [line.region_code for line in body.lines], "#/body/lines")
        total_fen = sum(to_fen(line.amount) for line in body.lines)
        if body.total is not None and to_fen(body.total) != total_fen:
            raise Unprocessable(
                "#/body/total",
                f"the lines add up to {from_fen(total_fen)}, not to the total {body.total}",
            )
        mode, formula_fen, award_fen = "manual", total_fen, 0
        lines = [
            AllocationLine(
                region_code=line.region_code,
                formula_fen=to_fen(line.amount),
                award_fen=0,
                amount_fen=to_fen(line.amount),
                computation={"mode": "manual", "amount_fen": to_fen(line.amount)},
            )
            for line in body.lines
        ]
        pointer = "#/body/lines"
    else:
        if body.total is None:
            raise Unprocessable("#/body/total", "give the total to allocate by the formula")
        total_fen = to_fen(body.total)
        children = await _children(session, fund, body.children, "#/body/children")
        mode, pointer = "formula", "#/body/total"
        formula_fen, award_fen, lines = await _formula_lines(
            session, fund, total_fen, award_share, children
        )
    if total_fen > holds:
        raise Unprocessable(
            pointer,
            f"the allocation sums to {from_fen(total_fen)}, above the {from_fen(holds)} the "
            "parent holds",
        )
    allocation = Allocation(
        id=str(uuid.uuid4()),
        fund_id=fund.id,
        parent_region=fund.region_code,
        source=fund.source,
        year=fund.year,
        mode=mode,
        status="proposed",
        total_fen=total_fen,
        formula_fen=formula_fen,
        award_fen=award_fen,
        award_share=award_share if mode == "formula" else Decimal(0),
        proposed_by=caller.actor,
        proposed_on=on,
        version=1,
    )
    for line in lines:
        line.allocation_id = allocation.id
    await AllocationRepository(session).add(allocation, lines)
    await audit(
        session,
        caller,
        "allocation.proposed",
        "allocation",
        allocation.id,
        {"total": str(from_fen(total_fen)), "mode": mode, "lines": len(lines)},
    )
    return allocation


async def approve(
    session: AsyncSession, settings: Settings, caller: Caller, allocation: Allocation, on: date
) -> Allocation:
    require_owner(caller, allocation)
    require_status(allocation, "proposed", "approved")
    _later(on, allocation.proposed_on, "proposal")
    ledger = Ledger(session)
    await ledger.transfer(
        Transfer(
            kind=EntryKind.ALLOCATION_RESERVE,
            to_account=await ledger.account(escrow(allocation)),
            from_account=await ledger.account(
                fund_pool(allocation.parent_region, allocation.source, allocation.year)
            ),
            amount_fen=allocation.total_fen,
            booked_on=on,
            actor=caller.actor,
            allocation_id=allocation.id,
        ),
        # The amount reserved is the allocation's total, fixed at the proposal: the request
        # element to blame is the allocation itself.
        amount_pointer="#/path/allocation_id",
    )
    lines = await AllocationRepository(session).lines(allocation.id)
    announcement = await announce(
        session,
        subject_type="allocation",
        subject_id=allocation.id,
        region_code=allocation.parent_region,
        title=f"allocation of {allocation.source} funds {allocation.year}"
        f" from {allocation.parent_region}",
        summary="; ".join(f"{line.region_code}: {from_fen(line.amount_fen)}" for line in lines),
        starts_on=on,
        notice_days=settings.notice_days,
    )
    allocation.status, allocation.approved_by, allocation.approved_on = "approved", caller.actor, on
    allocation.notice_ends_on = announcement.ends_on
    allocation.version += 1
    await session.flush()
    await add_events(
        session,
        [
            (
                events.AllocationApproved(
                    allocation_id=allocation.id,
                    fund_id=allocation.fund_id,
                    source=allocation.source,
                    year=allocation.year,
                    parent_region=allocation.parent_region,
                    total=from_fen(allocation.total_fen),
                    lines=[
                        events.AllocationLine(
                            region_code=line.region_code, amount=from_fen(line.amount_fen)
                        )
                        for line in lines
                    ],
                ),
                allocation.parent_region,
            ),
            (
                events.AllocationPublished(
                    allocation_id=allocation.id,
                    parent_region=allocation.parent_region,
                    notice_ends_on=announcement.ends_on,
                ),
                allocation.parent_region,
            ),
        ],
    )
    await audit(
        session, caller, "allocation.approved", "allocation", allocation.id, {"on": on.isoformat()}
    )
    return allocation


async def release(
    session: AsyncSession, caller: Caller, allocation: Allocation, on: date
) -> Allocation:
    require_owner(caller, allocation)
    require_status(allocation, "approved", "released")
    _later(on, allocation.approved_on, "approval")
    await require_gate_open(session, "allocation", allocation.id, on)
    ledger = Ledger(session)
    held = await ledger.account(escrow(allocation))
    parent_fund = await FundRepository(session).get(allocation.fund_id)
    assert parent_fund is not None
    for line in await AllocationRepository(session).lines(allocation.id):
        if line.amount_fen == 0:
            # A largest-remainder split can leave a child 0.00: nothing moves, no entry is
            # written (entries are for positive amounts only) and no fund is opened for it.
            continue
        funds = FundRepository(session)
        if await funds.find(line.region_code, allocation.source, allocation.year) is None:
            await open_fund(
                session,
                caller.actor,
                line.region_code,
                allocation.source,
                allocation.year,
                parent_fund.name,
            )
        await ledger.transfer(
            Transfer(
                kind=EntryKind.ALLOCATION_RELEASE,
                to_account=await ledger.account(
                    fund_pool(line.region_code, allocation.source, allocation.year)
                ),
                from_account=held,
                amount_fen=line.amount_fen,
                booked_on=on,
                actor=caller.actor,
                allocation_id=allocation.id,
            )
        )
    allocation.status, allocation.released_on = "released", on
    allocation.version += 1
    await session.flush()
    await audit(
        session, caller, "allocation.released", "allocation", allocation.id, {"on": on.isoformat()}
    )
    return allocation


async def reject(
    session: AsyncSession, caller: Caller, allocation: Allocation, note: str | None, on: date
) -> Allocation:
    require_owner(caller, allocation)
    require_status(allocation, "proposed", "rejected")
    _later(on, allocation.proposed_on, "proposal")
    if not note or not note.strip():
        raise Unprocessable("#/body/note", "a rejection needs a reason")
    allocation.status, allocation.rejected_reason = "rejected", note
    allocation.version += 1
    await session.flush()
    await audit(
        session,
        caller,
        "allocation.rejected",
        "allocation",
        allocation.id,
        {"reason": note, "on": on.isoformat()},
    )
    return allocation


async def withdraw_allocation(
    session: AsyncSession, caller: Caller, allocation_id: str, on: date, reason: str
) -> None:
    """An upheld objection: the reserved money goes back to the parent's pool."""
    allocation = await AllocationRepository(session).get(allocation_id, lock=True)
    assert allocation is not None
    if allocation.status == "released":
        # A release is not reversed: its money is in the receiving regions' pools.
        raise Conflict(
            "the allocation has been released and its money is in the receiving pools, which "
            "an objection cannot take back: dismiss the objection with the reason and record "
            "the matter as a supervision finding (POST /v1/findings) for rectification"
        )
    require_status(allocation, "approved", "withdrawn")
    ledger = Ledger(session)
    await ledger.transfer(
        Transfer(
            kind=EntryKind.ALLOCATION_RETURN,
            to_account=await ledger.account(
                fund_pool(allocation.parent_region, allocation.source, allocation.year)
            ),
            from_account=await ledger.account(escrow(allocation)),
            amount_fen=allocation.total_fen,
            booked_on=on,
            actor=caller.actor,
            allocation_id=allocation.id,
            memo=reason,
        )
    )
    allocation.status, allocation.rejected_reason = "rejected", f"objection upheld: {reason}"
    allocation.version += 1
    await session.flush()
    await audit(
        session, caller, "allocation.withdrawn", "allocation", allocation.id, {"on": on.isoformat()}
    )
