"""Interest subsidy arithmetic (pure).

Day count: actual/365 fixed (the denominator is configuration). The principal outstanding at the
start of a day accrues that day's interest; a repayment made on day d reduces the balance from
day d on. For a period [start, end) (end exclusive):

    interest = Σ over the segments between repayments of  balance × annual rate × days / 365
    subsidy  = interest × subsidy share, rounded half up to the fen once per period

The subsidy stops on the day the loan defaults or is found misused: days from then on earn none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class Repayment:
    repaid_on: date
    amount_fen: int


@dataclass(frozen=True)
class SubsidyComputation:
    period_start: date
    period_end: date  # exclusive, after clipping to maturity and to the stop date
    days: int
    amount_fen: int
    segments: list[dict[str, Any]]


def round_fen(value: Fraction) -> int:
    return int(
        (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    )


def outstanding_on(principal_fen: int, repayments: Sequence[Repayment], day: date) -> int:
    return principal_fen - sum(r.amount_fen for r in repayments if r.repaid_on <= day)


def compute_subsidy(
    *,
    principal_fen: int,
    repayments: Sequence[Repayment],
    annual_rate: Decimal,
    share: Decimal,
    period_start: date,
    period_end: date,
    days_in_year: int = 365,
) -> SubsidyComputation:
    if period_end <= period_start:
        raise ValueError("the period must end after it starts")
    cuts = sorted(
        {
            period_start,
            period_end,
            *(r.repaid_on for r in repayments if period_start < r.repaid_on < period_end),
        }
    )
    total = Fraction(0)
    segments = []
    for begin, end in zip(cuts, cuts[1:], strict=False):
        balance = outstanding_on(principal_fen, repayments, begin)
        days = (end - begin).days
        interest = Fraction(balance) * Fraction(annual_rate) * days / days_in_year
        total += interest
        segments.append(
            {
                "from": begin.isoformat(),
                "to": end.isoformat(),
                "days": days,
                "balance_fen": balance,
                "interest_fen": str(Decimal(interest.numerator) / Decimal(interest.denominator))[
                    :20
                ],
            }
        )
    amount = round_fen(total * Fraction(share))
    return SubsidyComputation(
        period_start, period_end, (period_end - period_start).days, amount, segments
    )
