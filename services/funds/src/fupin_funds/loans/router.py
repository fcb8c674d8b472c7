from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from fupin_events.values import business_today
from fupin_funds.common.audit import audit_each
from fupin_funds.common.auth import CallerDep
from fupin_funds.common.dates import business_date
from fupin_funds.common.money import from_fen, to_fen
from fupin_funds.common.privacy import PII_READ_SCOPE, Privacy, PrivacyDep
from fupin_funds.common.vocabulary import AccountKind
from fupin_funds.disbursements.router import disburse
from fupin_funds.disbursements.schemas import DisbursementRead
from fupin_funds.ledger.repository import AccountKey
from fupin_funds.ledger.service import Ledger, Transfer
from fupin_funds.loans.dependencies import LoanDep
from fupin_funds.loans.models import Loan, LoanSubsidy
from fupin_funds.loans.repository import LoanRepository
from fupin_funds.loans.schemas import (
    CompensationCreate,
    LoanCreate,
    LoanRead,
    LoanStop,
    OverdueReport,
    RepaymentCreate,
    RiskDepositCreate,
    RiskFundRead,
    SubsidyCreate,
    SubsidyRead,
)
from fupin_funds.loans.service import (
    prepare_compensation,
    prepare_risk_deposit,
    prepare_subsidy,
    register_loan,
    repay,
    report_overdue,
    stop_subsidy,
)
from fupin_funds.regions.repository import RegionRepository
from fupin_kit.auth import Caller, open_to_partners
from fupin_kit.db import SessionDep
from fupin_kit.idempotency import IdempotencyKey, fingerprint, run_idempotent
from fupin_kit.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from fupin_kit.problems import NotFound, problem_responses

router = APIRouter(prefix="/v1/loans", tags=["loans"])
risk = APIRouter(prefix="/v1/risk-compensation", tags=["loans"])
ERRORS = problem_responses(401, 403, 404, 409, 422)
CountyCode = Annotated[str, Path(pattern=r"^[0-9]{6}$")]


def loan_read(loan: Loan, privacy: Privacy, caller: Caller) -> LoanRead:
    return LoanRead(
        id=loan.id,
        bank_id=loan.bank_id,
        bank_loan_ref=loan.bank_loan_ref,
        borrower_id_number=privacy.id_number(loan.borrower_cipher, caller),
        household_id=loan.household_id,
        region_code=loan.region_code,
        amount=from_fen(loan.amount_fen),
        outstanding=from_fen(loan.outstanding_fen),
        compensated=from_fen(loan.compensated_fen),
        term_months=loan.term_months,
        annual_rate=loan.annual_rate,
        start_date=loan.start_date,
        maturity_date=loan.maturity_date,
        purpose=loan.purpose,
        product=loan.product,
        status=loan.status,
        overdue_since=loan.overdue_since,
        subsidy_stopped_on=loan.subsidy_stopped_on,
        subsidy_paid_until=loan.subsidy_paid_until,
        eligibility=loan.eligibility,
    )


def subsidy_read(subsidy: LoanSubsidy) -> SubsidyRead:
    return SubsidyRead(
        id=subsidy.id,
        loan_id=subsidy.loan_id,
        entry_id=subsidy.entry_id,
        period_start=subsidy.period_start,
        period_end=subsidy.period_end,
        days=subsidy.days,
        amount=from_fen(subsidy.amount_fen),
        computation=subsidy.computation,
        reversed_on=subsidy.reversed_on,
    )


def _bank_or_officer(caller: Caller) -> None:
    if caller.client_id is not None:
        caller.require_scope("loans:report")


async def _unmasked(session: SessionDep, caller: Caller, loan_ids: list[str]) -> None:
    """Every loan whose borrower's ID number is shown in clear is in the audit chain, a record
    each (a page of a hundred loans is a hundred records)."""
    if caller.has_scope(PII_READ_SCOPE) and loan_ids:
        await audit_each(
            session,
            caller,
            "pii.read_unmasked",
            "loan",
            loan_ids,
            {"fields": ["borrower_id_number"]},
        )


@router.post(
    "",
    status_code=201,
    responses=ERRORS,
    summary="A bank reports a loan (scope loans:report); checked against the register at its"
    " start date and against the limits",
)
@open_to_partners
async def report_loan(
    body: LoanCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    privacy: PrivacyDep,
    key: IdempotencyKey = None,
) -> LoanRead:
    async def command() -> LoanRead:
        loan = await register_loan(
            session, request.app.state.settings, privacy, caller, body, business_today()
        )
        return loan_read(loan, privacy, caller)

    response = await run_idempotent(
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint(body, caller),
        command=command,
    )
    # The answer (a replay too) shows the borrower's ID number to a bank holding pii:read.
    await _unmasked(session, caller, [json.loads(bytes(response.body))["id"]])
    return response  # type: ignore[return-value]


@router.get("", summary="Loans: a bank sees its own, officers those in their jurisdiction")
@open_to_partners
async def list_loans(
    session: SessionDep,
    caller: CallerDep,
    privacy: PrivacyDep,
    status: Annotated[
        str | None, Query(pattern=r"^(active|overdue|repaid|defaulted|misused)$")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[LoanRead]:
    after = decode_cursor(cursor, 1, (str,))
    rows = await LoanRepository(session).listing(
        caller.region_filter(Loan.region_code),
        caller.client_id,
        status,
        after[0] if after else None,
        limit,
    )
    await _unmasked(session, caller, [loan.id for loan in rows])
    return Page(
        items=[loan_read(x, privacy, caller) for x in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )


@router.get("/{loan_id}", responses=problem_responses(401, 404), summary="A loan")
@open_to_partners
async def read_loan(
    loan: LoanDep, session: SessionDep, caller: CallerDep, privacy: PrivacyDep
) -> LoanRead:
    await _unmasked(session, caller, [loan.id])
    return loan_read(loan, privacy, caller)


def _status_command(path: str, summary: str, schema: type[Any], run: Any, banks: bool) -> None:
    async def endpoint(
        loan: LoanDep,
        body: schema,  # type: ignore[valid-type]
        request: Request,
        session: SessionDep,
        caller: CallerDep,
        privacy: PrivacyDep,
        key: IdempotencyKey = None,
    ) -> LoanRead:
        _bank_or_officer(caller)

        async def command() -> LoanRead:
            return loan_read(
                await run(session, request.app.state.settings, caller, loan, body), privacy, caller
            )

        response = await run_idempotent(
            session,
            caller=caller.actor,
            key=key,
            request_fingerprint=fingerprint([loan.id, path, body], caller),
            command=command,
            status_code=200,
        )
        await _unmasked(session, caller, [loan.id])
        return response  # type: ignore[return-value]

    endpoint.__annotations__["body"] = schema  # a closure variable: give FastAPI the class itself
    endpoint.__name__ = path.replace("-", "_")
    if banks:
        open_to_partners(endpoint)
    router.add_api_route(
        f"/{{loan_id}}/{path}", endpoint, methods=["POST"], summary=summary, responses=ERRORS
    )


async def _repay(
    session: Any, settings: Any, caller: Caller, loan: Loan, body: RepaymentCreate
) -> Loan:
    return await repay(session, caller, loan, to_fen(body.amount), body.repaid_on, business_today())


async def _overdue(
    session: Any, settings: Any, caller: Caller, loan: Loan, body: OverdueReport
) -> Loan:
    return await report_overdue(session, caller, loan, body.overdue_since, business_today())


async def _default(session: Any, settings: Any, caller: Caller, loan: Loan, body: LoanStop) -> Loan:
    on = business_date(body.on, settings)
    return await stop_subsidy(session, caller, loan, "defaulted", on, body.note, business_today())


async def _misuse(session: Any, settings: Any, caller: Caller, loan: Loan, body: LoanStop) -> Loan:
    on = business_date(body.on, settings)
    return await stop_subsidy(session, caller, loan, "misused", on, body.note, business_today())


_status_command("repayments", "Report a repayment", RepaymentCreate, _repay, banks=True)
_status_command("overdue", "Report the loan overdue", OverdueReport, _overdue, banks=True)
_status_command(
    "default", "Report a default: the interest subsidy stops", LoanStop, _default, banks=True
)
_status_command(
    "misuse", "Record misuse of the loan: the interest subsidy stops", LoanStop, _misuse, False
)


@router.post(
    "/{loan_id}/subsidies",
    status_code=201,
    responses=ERRORS,
    response_model=SubsidyRead,
    summary="Pay the interest subsidy of a period (actual/365) through the ledger",
)
async def pay_subsidy(
    loan: LoanDep,
    body: SubsidyCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    settings = request.app.state.settings
    pending: list[Transfer] = []

    async def command() -> SubsidyRead:
        subsidy, transfer = await prepare_subsidy(
            session, settings, caller, loan, body, business_date(body.on, settings)
        )
        pending.append(transfer)
        return subsidy_read(subsidy)

    response = await run_idempotent(
        session,
        caller=caller.actor,
        key=key,
        request_fingerprint=fingerprint([loan.id, body], caller),
        command=command,
    )
    for transfer in pending:
        await Ledger(session).post(transfer)
    return response


@router.get(
    "/{loan_id}/subsidies", responses=problem_responses(401, 404), summary="Interest subsidies paid"
)
@open_to_partners
async def list_subsidies(loan: LoanDep, session: SessionDep) -> list[SubsidyRead]:
    return [subsidy_read(s) for s in await LoanRepository(session).subsidies(loan.id)]


@router.post(
    "/{loan_id}/compensation",
    status_code=201,
    responses=ERRORS,
    response_model=DisbursementRead,
    summary="Compensate the bank for a defaulted loan from the county's risk-compensation fund",
)
async def compensate(
    loan: LoanDep,
    body: CompensationCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> JSONResponse:

    async def prepare() -> tuple[DisbursementRead, Transfer]:
        transfer = await prepare_compensation(
            session,
            caller,
            loan,
            to_fen(body.amount),
            business_date(body.on, request.app.state.settings),
        )
        return _disbursement(transfer), transfer

    return await disburse(session, caller, key, fingerprint([loan.id, body], caller), prepare)


def _disbursement(transfer: Transfer) -> DisbursementRead:
    return DisbursementRead(
        entry_id=transfer.entry_id,
        kind=str(transfer.kind),
        amount=from_fen(transfer.amount_fen),
        from_account_id=transfer.from_account.id,
        to_account_id=transfer.to_account.id,
        booked_on=transfer.booked_on,
        household_id=transfer.household_id,
    )


@risk.get(
    "/{county_code}",
    responses=problem_responses(401, 404),
    summary="A county's risk-compensation fund balance",
)
async def risk_fund(
    county_code: CountyCode, session: SessionDep, caller: CallerDep
) -> RiskFundRead:
    caller.require_region(county_code, "county")
    if await RegionRepository(session).get(county_code) is None:
        raise NotFound("county not found")
    account = await Ledger(session).existing(AccountKey(AccountKind.RISK_COMPENSATION, county_code))
    return RiskFundRead(
        county_code=county_code,
        account_id=None if account is None else account.id,
        balance=from_fen(0 if account is None else account.balance_fen),
    )


@risk.post(
    "/{county_code}/deposits",
    status_code=201,
    responses=ERRORS,
    response_model=DisbursementRead,
    summary="Deposit into the county's risk-compensation fund from a fund pool",
)
async def deposit(
    county_code: CountyCode,
    body: RiskDepositCreate,
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> JSONResponse:

    async def prepare() -> tuple[DisbursementRead, Transfer]:
        on = business_date(body.on, request.app.state.settings)
        transfer = await prepare_risk_deposit(
            session, caller, county_code, body.source.value, body.year, to_fen(body.amount), on
        )
        return _disbursement(transfer), transfer

    return await disburse(session, caller, key, fingerprint([county_code, body], caller), prepare)
