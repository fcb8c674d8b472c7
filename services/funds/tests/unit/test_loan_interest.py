from datetime import date
from decimal import Decimal

import pytest

from fupin_funds.loans.interest import Repayment, compute_subsidy


def test_actual_365_without_repayments():
    # 50,000.00 at 4.35% for 31 days: 5,000,000 × 0.0435 × 31 / 365 = 18,472.60 fen
    # → 18,473 (half up)
    result = compute_subsidy(
        principal_fen=5_000_000,
        repayments=[],
        annual_rate=Decimal("0.0435"),
        share=Decimal("1"),
        period_start=date(2024, 1, 1),
        period_end=date(2024, 2, 1),
    )
    assert result.days == 31 and result.amount_fen == 18_473


def test_repayment_reduces_the_balance_from_its_day_and_share_applies():
    result = compute_subsidy(
        principal_fen=1_000_000,
        repayments=[Repayment(date(2024, 1, 11), 400_000)],
        annual_rate=Decimal("0.05"),
        share=Decimal("0.5"),
        period_start=date(2024, 1, 1),
        period_end=date(2024, 1, 31),
    )
    # 10 days on 10,000.00 and 20 days on 6,000.00 at 5%, half paid by the fund.
    exact = (1_000_000 * 0.05 * 10 / 365 + 600_000 * 0.05 * 20 / 365) * 0.5
    assert result.amount_fen == round(exact)
    assert [s["days"] for s in result.segments] == [10, 20]
    assert [s["balance_fen"] for s in result.segments] == [1_000_000, 600_000]


def test_period_must_end_after_start():
    with pytest.raises(ValueError):
        compute_subsidy(
            principal_fen=1,
            repayments=[],
            annual_rate=Decimal("0.1"),
            share=Decimal(1),
            period_start=date(2024, 1, 2),
            period_end=date(2024, 1, 2),
        )
