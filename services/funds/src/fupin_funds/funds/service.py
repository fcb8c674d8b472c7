"""Funds and inflows: an appropriation (or a donation received) moves money from the
region's credit-normal appropriation account into its fund pool."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_funds.common.audit import audit
from fupin_funds.common.money import from_fen
from fupin_funds.common.vocabulary import EntryKind
from fupin_funds.funds.models import Fund
from fupin_funds.funds.repository import FundRepository
from fupin_funds.funds.schemas import FundRead
from fupin_funds.ledger.service import Ledger, Transfer, appropriation, fund_pool
from fupin_kit.problems import Conflict


async def open_fund(
    session: AsyncSession, actor: str, region_code: str, source: str, year: int, name: str
) -> Fund:
    repository = FundRepository(session)
    if await repository.find(region_code, source, year) is not None:
        raise Conflict(
            f"region {region_code} already has a {source} fund for {year}; add an appropriation "
            "to it"
        )
    fund = await repository.add(
        Fund(
            id=str(uuid.uuid4()),
            region_code=region_code,
            source=source,
            year=year,
            name=name,
            created_by=actor,
        )
    )
    # The fund's two accounts exist from its opening, so reading a fund never writes.
    ledger = Ledger(session)
    await ledger.account(fund_pool(region_code, source, year))
    await ledger.account(appropriation(region_code, source, year))
    await audit(
        session,
        actor,
        "fund.opened",
        "fund",
        fund.id,
        {"region": region_code, "source": source, "year": year},
    )
    return fund


async def inflow(
    session: AsyncSession,
    fund: Fund,
    amount_fen: int,
    on: date,
    actor: str,
    kind: EntryKind,
    memo: str | None,
) -> Transfer:
    ledger = Ledger(session)
    return await ledger.transfer(
        Transfer(
            kind=kind,
            to_account=await ledger.account(fund_pool(fund.region_code, fund.source, fund.year)),
            from_account=await ledger.account(
                appropriation(fund.region_code, fund.source, fund.year)
            ),
            amount_fen=amount_fen,
            booked_on=on,
            actor=actor,
            memo=memo,
        )
    )


async def fund_read(session: AsyncSession, fund: Fund) -> FundRead:
    """The fund with its balances, read only (a fund opened before its accounts were made at
    opening has none until money first moves: it reads as empty)."""
    ledger = Ledger(session)
    pool = await ledger.existing(fund_pool(fund.region_code, fund.source, fund.year))
    source = await ledger.existing(appropriation(fund.region_code, fund.source, fund.year))
    return FundRead(
        id=fund.id,
        region_code=fund.region_code,
        source=fund.source,
        year=fund.year,
        name=fund.name,
        appropriated=from_fen(source.balance_fen if source else 0),
        pool_account_id=pool.id if pool else None,
        pool_balance=from_fen(pool.balance_fen if pool else 0),
    )
