"""Subsidised loans: registration checked against the register at the start date and the loan
limits, repayments, overdue and default reports, interest subsidies paid through the ledger,
and the county risk-compensation fund."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events import funds as events
from fupin_events.values import birth_date_of
from fupin_funds.common.audit import audit
from fupin_funds.common.dates import add_months
from fupin_funds.common.money import from_fen, to_fen
from fupin_funds.common.privacy import Privacy
from fupin_funds.common.vocabulary import AccountKind, EntryKind
from fupin_funds.config import Settings
from fupin_funds.households.eligibility import Verdict
from fupin_funds.households.repository import HouseholdRepository
from fupin_funds.households.service import verdict_at
from fupin_funds.ledger.models import LedgerEntry
from fupin_funds.ledger.service import Ledger, Transfer, county_account, fund_pool
from fupin_funds.loans.interest import Repayment, compute_subsidy
from fupin_funds.loans.models import Loan, LoanRepayment, LoanSubsidy
from fupin_funds.loans.repository import LoanRepository
from fupin_funds.loans.schemas import LoanCreate, SubsidyCreate
from fupin_kit.auth import Caller
from fupin_kit.outbox import add_event
from fupin_kit.problems import Conflict, InvalidTransition, Unprocessable

STOPPED = frozenset({"defaulted", "misused"})


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_limits(settings: Settings, body: LoanCreate) -> None:
    if body.amount > settings.loan_max_amount:
        raise Unprocessable(
            "#/body/amount", f"a subsidised loan is at most {settings.loan_max_amount} yuan"
        )
    if body.term_months > settings.loan_max_term_months:
        raise Unprocessable(
            "#/body/term_months",
            f"a subsidised loan runs at most {settings.loan_max_term_months} months",
        )
    if body.annual_rate > settings.loan_max_annual_rate:
        raise Unprocessable(
            "#/body/annual_rate", f"the annual rate may not exceed {settings.loan_max_annual_rate}"
        )


async def check_borrower(
    session: AsyncSession,
    settings: Settings,
    member_index: str,
    id_number: str,
    start: date,
    jurisdiction: str,
) -> tuple[str, str, Verdict]:
    """The borrower is of working age and a member of a household eligible on the start date.
    Only households in the bank's ``jurisdiction`` count: one outside it answers as no household
    at all, so a bank learns nothing (status, village) about people it does not serve."""
    pointer = "#/body/borrower_id_number"
    age = age_on(birth_date_of(id_number), start)
    if not settings.borrower_min_age <= age <= settings.borrower_max_age:
        raise Unprocessable(
            pointer,
            f"the borrower is {age} on the start date; subsidised loans are for ages "
            f"{settings.borrower_min_age} to {settings.borrower_max_age}",
        )
    households = [
        h
        for h in await HouseholdRepository(session).by_member_index(member_index)
        if h.village_code.startswith(jurisdiction)
    ]
    if not households:
        raise Unprocessable(
            pointer,
            "the borrower is not a member of any household in the register within your"
            " jurisdiction",
        )
    verdicts = [
        (h, await verdict_at(session, h, start, settings.exit_transition_months))
        for h in households
    ]
    for household, verdict in verdicts:
        if verdict.eligible:
            return household.household_id, household.village_code, verdict
    raise Unprocessable(
        pointer, f"the borrower's household is not eligible on {start}: {verdicts[0][1].reason}"
    )


async def register_loan(
    session: AsyncSession,
    settings: Settings,
    privacy: Privacy,
    caller: Caller,
    body: LoanCreate,
    today: date,
) -> Loan:
    caller.require_scope("loans:report")
    bank_id = caller.client_id or caller.subject
    check_limits(settings, body)
    if body.start_date > today:
        raise Unprocessable(
            "#/body/start_date", "dates out of order: the loan starts in the future"
        )
    repository = LoanRepository(session)
    if await repository.by_bank_ref(bank_id, body.bank_loan_ref) is not None:
        raise Conflict(f"loan {body.bank_loan_ref} of {bank_id} is already registered")
    member_index = privacy.index.hex(body.borrower_id_number)
    household_id, village_code, verdict = await check_borrower(
        session,
        settings,
        member_index,
        body.borrower_id_number,
        body.start_date,
        caller.jurisdiction,
    )
    caller.require_region_write(village_code)
    amount = to_fen(body.amount)
    # The line of credit is the household's (扶贫小额信贷: up to 50,000 yuan a household):
    # registrations for one household are serialised so two banks cannot both pass the check.
    await repository.lock_household(household_id)
    owed = await repository.household_outstanding(household_id)
    ceiling = to_fen(settings.loan_household_max_amount)
    if owed + amount > ceiling:
        raise Unprocessable(
            "#/body/amount",
            # Not how much: a bank learns no more of another bank's loans than that they exist.
            "with this loan the household's running subsidised loans would exceed"
            f" {settings.loan_household_max_amount} yuan",
        )
    loan = await repository.add(
        Loan(
            id=str(uuid.uuid4()),
            bank_id=bank_id,
            bank_loan_ref=body.bank_loan_ref,
            borrower_index=member_index,
            borrower_cipher=privacy.seal(body.borrower_id_number, "borrower_id_number"),
            household_id=household_id,
            region_code=village_code,
            amount_fen=amount,
            outstanding_fen=amount,
            term_months=body.term_months,
            annual_rate=body.annual_rate,
            start_date=body.start_date,
            maturity_date=add_months(body.start_date, body.term_months),
            purpose=body.purpose,
            product=body.product.value,
            status="active",
            eligibility={
                "checked_on": body.start_date.isoformat(),
                "household_status": verdict.status or "",
                "transition_months": settings.exit_transition_months,
            },
            version=1,
        )
    )
    await add_event(
        session,
        events.LoanRegistered(
            loan_id=loan.id,
            bank_id=bank_id,
            region_code=village_code,
            household_id=household_id,
            amount=body.amount,
            term_months=body.term_months,
            product=loan.product,
            start_date=body.start_date,
        ),
        subject=loan.id,
    )
    await audit(
        session,
        caller,
        "loan.registered_after_eligibility_check",
        "loan",
        loan.id,
        {
            "household_id": household_id,
            "status_on_start": verdict.status or "",
            "amount": str(body.amount),
        },
    )
    return loan


def check_after_paid_subsidy(loan: Loan, day: date, pointer: str, what: str) -> None:
    """A paid subsidy period was computed on the balance and status of its days: nothing may
    change them afterwards (the subsidy is paid until ``subsidy_paid_until``, exclusive)."""
    if loan.subsidy_paid_until is not None and day < loan.subsidy_paid_until:
        raise Unprocessable(
            pointer,
            f"dates out of order: {what} falls in a period whose interest subsidy is already"
            f" paid (paid until {loan.subsidy_paid_until}); report it on or after that day",
        )


async def repay(
    session: AsyncSession,
    caller: Caller,
    loan: Loan,
    amount_fen: int,
    repaid_on: date,
    today: date,
) -> Loan:
    if loan.status in ("repaid", "defaulted", "misused"):
        raise InvalidTransition(f"the loan is {loan.status}")
    if repaid_on < loan.start_date:
        raise Unprocessable(
            "#/body/repaid_on", "dates out of order: the repayment precedes the loan's start"
        )
    if repaid_on > today:
        raise Unprocessable("#/body/repaid_on", "the repayment date is in the future")
    check_after_paid_subsidy(loan, repaid_on, "#/body/repaid_on", "the repayment")
    previous = await LoanRepository(session).repayments(loan.id)
    if previous and repaid_on < previous[-1].repaid_on:
        raise Unprocessable(
            "#/body/repaid_on",
            f"dates out of order: a repayment on {previous[-1].repaid_on} is already reported",
        )
    if amount_fen > loan.outstanding_fen:
        raise Unprocessable(
            "#/body/amount", f"only {from_fen(loan.outstanding_fen)} is outstanding"
        )
    await LoanRepository(session).add_repayment(
        LoanRepayment(
            id=str(uuid.uuid4()), loan_id=loan.id, amount_fen=amount_fen, repaid_on=repaid_on
        )
    )
    loan.outstanding_fen -= amount_fen
    if loan.outstanding_fen == 0:
        loan.status = "repaid"
    elif loan.status == "overdue":
        loan.status, loan.overdue_since = "active", None
    loan.version += 1
    await session.flush()
    await add_event(
        session,
        events.LoanRepaid(
            loan_id=loan.id,
            region_code=loan.region_code,
            amount=from_fen(amount_fen),
            repaid_on=repaid_on,
            fully_repaid=loan.outstanding_fen == 0,
        ),
        subject=loan.id,
    )
    await audit(
        session,
        caller,
        "loan.repaid",
        "loan",
        loan.id,
        {"amount": str(from_fen(amount_fen)), "on": repaid_on.isoformat()},
    )
    return loan


async def report_overdue(
    session: AsyncSession, caller: Caller, loan: Loan, since: date, today: date
) -> Loan:
    if loan.status != "active":
        raise InvalidTransition(f"a loan that is {loan.status} cannot become overdue")
    if since < loan.start_date:
        raise Unprocessable(
            "#/body/overdue_since", "dates out of order: overdue before the loan started"
        )
    if since > today:
        raise Unprocessable("#/body/overdue_since", "the overdue date is in the future")
    loan.status, loan.overdue_since = "overdue", since
    loan.version += 1
    await session.flush()
    await add_event(
        session,
        events.LoanOverdue(
            loan_id=loan.id,
            region_code=loan.region_code,
            overdue_since=since,
            outstanding=from_fen(loan.outstanding_fen),
        ),
        subject=loan.id,
    )
    await audit(session, caller, "loan.overdue", "loan", loan.id, {"since": since.isoformat()})
    return loan


async def stop_subsidy(
    session: AsyncSession,
    caller: Caller,
    loan: Loan,
    status: str,
    on: date,
    note: str | None,
    today: date,
) -> Loan:
    """Default (reported by the bank or an officer) or misuse (found by an officer)."""
    if loan.status in STOPPED or loan.status == "repaid":
        raise InvalidTransition(f"the loan is already {loan.status}")
    if on < loan.start_date:
        raise Unprocessable("#/body/on", "dates out of order: before the loan started")
    what = "the default" if status == "defaulted" else "the misuse"
    if on > today:
        raise Unprocessable("#/body/on", f"{what} is dated in the future")
    check_after_paid_subsidy(loan, on, "#/body/on", what)
    loan.status, loan.subsidy_stopped_on = status, on
    loan.version += 1
    await session.flush()
    await audit(
        session,
        caller,
        f"loan.{status}",
        "loan",
        loan.id,
        {"on": on.isoformat(), "note": note or ""},
    )
    return loan


async def prepare_subsidy(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    loan: Loan,
    body: SubsidyCreate,
    on: date,
) -> tuple[LoanSubsidy, Transfer]:
    # The subsidy is paid from the county's fund pool: only the county's office (or above) pays.
    caller.require_region_write(loan.region_code[:6])
    if body.period_end <= body.period_start:
        raise Unprocessable(
            "#/body/period_end", "dates out of order: the period ends before it starts"
        )
    if body.period_start < loan.start_date:
        raise Unprocessable("#/body/period_start", f"the loan starts on {loan.start_date}")
    household = await HouseholdRepository(session).get(loan.household_id)
    if household is not None and household.removed_on is not None:
        # A wrong entry was never eligible: its loan earns no subsidy for any period.
        raise Conflict(
            "no subsidy is due: the borrower's household was removed from the register as a"
            f" wrong entry on {household.removed_on}"
        )
    repository = LoanRepository(session)
    if loan.subsidy_paid_until is not None and body.period_start < loan.subsidy_paid_until:
        raise Conflict(
            f"the subsidy is paid until {loan.subsidy_paid_until}; periods may not overlap"
        )
    end = min(body.period_end, loan.maturity_date)
    if loan.subsidy_stopped_on is not None:
        end = min(end, loan.subsidy_stopped_on)
    if end <= body.period_start:
        reason = (
            f"stopped on {loan.subsidy_stopped_on} ({loan.status})"
            if loan.subsidy_stopped_on
            else "ended at maturity"
        )
        raise Conflict(f"no subsidy is due for this period: the subsidy {reason}")
    resume = await next_period_start(repository, loan)
    if resume is not None and body.period_start != resume:
        raise Conflict(
            f"the next period starts on {resume}, where the periods paid (and not reversed) end:"
            " a reversed period is paid again before any later one"
        )
    if end > on:
        raise Unprocessable(
            "#/body/period_end",
            f"the subsidy is paid in arrears: the period may not end after the day it is paid"
            f" ({on}); the last day it may cover is the day before",
        )
    repayments = [
        Repayment(r.repaid_on, r.amount_fen) for r in await repository.repayments(loan.id)
    ]
    computed = compute_subsidy(
        principal_fen=loan.amount_fen,
        repayments=repayments,
        annual_rate=loan.annual_rate,
        share=settings.loan_subsidy_share,
        period_start=body.period_start,
        period_end=end,
        days_in_year=settings.loan_subsidy_days_in_year,
    )
    if computed.amount_fen <= 0:
        raise Conflict("no subsidy is due for this period (nothing outstanding)")
    source = body.source.value if body.source else settings.loan_subsidy_source
    year = body.year or body.period_start.year
    county = loan.region_code[:6]
    ledger = Ledger(session)
    pool = await ledger.existing(fund_pool(county, source, year))
    if pool is None:
        raise Unprocessable("#/body/source", f"county {county} holds no {source} fund for {year}")
    transfer = Transfer(
        kind=EntryKind.LOAN_SUBSIDY,
        to_account=await ledger.account(county_account(AccountKind.LOAN_SUBSIDY, county)),
        from_account=pool,
        amount_fen=computed.amount_fen,
        booked_on=on,
        actor=caller.actor,
        loan_id=loan.id,
        household_id=loan.household_id,
        memo=f"interest subsidy {body.period_start} to {end}",
    )
    ledger.stage(transfer)
    subsidy = LoanSubsidy(
        id=str(uuid.uuid4()),
        loan_id=loan.id,
        period_start=body.period_start,
        period_end=end,
        days=computed.days,
        amount_fen=computed.amount_fen,
        entry_id=transfer.entry_id,
        computation={
            "day_count": f"actual/{settings.loan_subsidy_days_in_year}",
            "annual_rate": str(loan.annual_rate),
            "share": str(settings.loan_subsidy_share),
            "segments": computed.segments,
        },
    )
    await repository.add_subsidy(subsidy)
    loan.subsidy_paid_until = end
    loan.version += 1
    await session.flush()
    await add_event(
        session,
        events.SubsidyPaid(
            entry_id=transfer.entry_id,
            loan_id=loan.id,
            amount=from_fen(computed.amount_fen),
            period_start=body.period_start,
            period_end=end,
            region_code=loan.region_code,
        ),
        subject=str(pool.id),
    )
    return subsidy, transfer


async def next_period_start(repository: LoanRepository, loan: Loan) -> date | None:
    """Where the next subsidy period must start once a period has been reversed: the end of the
    periods still paid, or the start of the first period when every one was reversed. None while
    no period has been reversed since the last paid one (paying resumes after any gap then)."""
    subsidies = await repository.subsidies(loan.id)
    if not subsidies or subsidies[-1].reversed_on is None:
        return None
    paid = [s for s in subsidies if s.reversed_on is None]
    return paid[-1].period_end if paid else subsidies[0].period_start


async def prepare_risk_deposit(
    session: AsyncSession,
    caller: Caller,
    county: str,
    source: str,
    year: int,
    amount_fen: int,
    on: date,
) -> Transfer:
    caller.require_region_write(county)
    ledger = Ledger(session)
    pool = await ledger.existing(fund_pool(county, source, year))
    if pool is None:
        raise Unprocessable("#/body/source", f"county {county} holds no {source} fund for {year}")
    transfer = Transfer(
        kind=EntryKind.RISK_DEPOSIT,
        to_account=await ledger.account(county_account(AccountKind.RISK_COMPENSATION, county)),
        from_account=pool,
        amount_fen=amount_fen,
        booked_on=on,
        actor=caller.actor,
        memo="risk compensation deposit",
    )
    ledger.stage(transfer)
    await audit(
        session,
        caller,
        "risk_fund.deposit",
        "risk_fund",
        county,
        {"amount": str(from_fen(amount_fen))},
    )
    return transfer


async def prepare_compensation(
    session: AsyncSession, caller: Caller, loan: Loan, amount_fen: int, on: date
) -> Transfer:
    # Paid from the county's risk-compensation fund: only the county's office (or above) pays.
    caller.require_region_write(loan.region_code[:6])
    if loan.status != "defaulted":
        raise InvalidTransition("risk compensation is paid only on defaulted loans")
    remaining = loan.outstanding_fen - loan.compensated_fen
    if amount_fen > remaining:
        raise Unprocessable(
            "#/body/amount",
            f"{from_fen(loan.outstanding_fen)} is outstanding and {from_fen(loan.compensated_fen)}"
            f" is already compensated: at most {from_fen(remaining)} may be paid",
        )
    ledger = Ledger(session)
    county = loan.region_code[:6]
    fund = await ledger.existing(county_account(AccountKind.RISK_COMPENSATION, county))
    if fund is None:
        raise Unprocessable("#/body/amount", f"county {county} has no risk-compensation fund")
    transfer = Transfer(
        kind=EntryKind.RISK_COMPENSATION,
        to_account=await ledger.account(county_account(AccountKind.BANK_SETTLEMENT, county)),
        from_account=fund,
        amount_fen=amount_fen,
        booked_on=on,
        actor=caller.actor,
        loan_id=loan.id,
        memo=f"risk compensation to {loan.bank_id}",
    )
    ledger.stage(transfer)
    loan.compensated_fen += amount_fen
    loan.version += 1
    await session.flush()
    await audit(
        session, caller, "loan.compensated", "loan", loan.id, {"amount": str(from_fen(amount_fen))}
    )
    return transfer


# Ledger entries of a loan's own workflow, which a reversal must also undo on the loan.
LOAN_PAYMENTS = frozenset({EntryKind.LOAN_SUBSIDY, EntryKind.RISK_COMPENSATION})


async def undo_loan_payment(
    session: AsyncSession, caller: Caller, entry: LedgerEntry, on: date
) -> None:
    """Before ``entry`` (an interest subsidy or a risk compensation) is reversed: take it off its
    loan, under the loan's lock, as the payment commands do.

    Only a loan's latest paid subsidy period is reversed, so the paid periods stay one run from
    which ``subsidy_paid_until`` follows: reversing it moves ``subsidy_paid_until`` back to the
    end of the period before, and a repayment, default or misuse may then be reported inside the
    reversed period, which is paid again on the corrected record (how a subsidy paid for
    misused days is recovered). A compensation reversed lowers the loan's compensated total.
    """
    assert entry.loan_id is not None
    repository = LoanRepository(session)
    loan = await repository.get(entry.loan_id, lock=True)
    assert loan is not None
    if entry.kind == EntryKind.LOAN_SUBSIDY:
        subsidies = await repository.subsidies(loan.id)
        subsidy = next(s for s in subsidies if s.entry_id == entry.id)
        if subsidy.reversed_on is not None:
            # Reversed by a request that held the loan's lock while this one waited for it.
            raise Conflict("this entry is already reversed")
        paid = [s for s in subsidies if s.reversed_on is None]
        latest = paid[-1]
        if subsidy is not latest:
            raise Conflict(
                f"only the latest paid subsidy period of a loan is reversed: reverse the period"
                f" {latest.period_start} to {latest.period_end} (entry {latest.entry_id}) first"
            )
        subsidy.reversed_on = on
        loan.subsidy_paid_until = paid[-2].period_end if len(paid) > 1 else None
        details = {"period_start": subsidy.period_start.isoformat(), "entry_id": entry.id}
        action = "loan.subsidy_reversed"
    else:
        loan.compensated_fen -= entry.amount_fen
        details = {"amount": str(from_fen(entry.amount_fen)), "entry_id": entry.id}
        action = "loan.compensation_reversed"
    loan.version += 1
    await session.flush()
    await audit(session, caller, action, "loan", loan.id, details)
