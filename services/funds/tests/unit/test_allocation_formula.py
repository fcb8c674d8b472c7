"""Allocation arithmetic: the largest-remainder split in integer fen, and the formula."""

import random
from decimal import Decimal
from fractions import Fraction

import pytest

from fupin_funds.allocations.formula import Child, Factor, FormulaError, compute, largest_remainder


@pytest.mark.parametrize("seed", range(300))
def test_largest_remainder_properties(seed):
    rng = random.Random(seed)
    total = rng.choice([0, 1, 2, 7, 99, 100, 10_001, rng.randrange(0, 10**12)])
    weights = [
        Fraction(rng.randrange(0, 1000), rng.randrange(1, 50)) for _ in range(rng.randrange(1, 40))
    ]
    if sum(weights) == 0:
        weights[0] = Fraction(1)
    parts = largest_remainder(total, weights)
    assert sum(parts) == total  # never creates or loses a fen
    weight_sum = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = total * weight / weight_sum
        assert part >= 0
        assert abs(part - exact) < 1  # each part within one fen of its exact quota
        if weight == 0:
            assert part == 0
    # More weight never means less money.
    order = sorted(range(len(weights)), key=lambda i: weights[i])
    for a, b in zip(order, order[1:], strict=False):
        assert parts[a] <= parts[b] + 1


def test_largest_remainder_known_cases():
    assert largest_remainder(100, [1, 1, 1]) == [34, 33, 33]  # ties go to the earlier position
    assert largest_remainder(10, [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")]) == [5, 3, 2]
    assert largest_remainder(1, [1, 2]) == [0, 1]
    assert largest_remainder(0, [0, 0]) == [0, 0]
    with pytest.raises(ValueError):
        largest_remainder(5, [0, 0])
    with pytest.raises(ValueError):
        largest_remainder(-1, [1])


FACTORS = [
    Factor("poor_population", "direct", Decimal("0.5")),
    Factor("poverty_incidence", "direct", Decimal("0.3")),
    Factor("fiscal_capacity", "inverse", Decimal("0.2")),
]


def child(code, population, incidence, capacity, score=None):
    return Child(
        code,
        {
            "poor_population": Decimal(population),
            "poverty_incidence": Decimal(incidence),
            "fiscal_capacity": Decimal(capacity),
        },
        None if score is None else Decimal(score),
    )


def test_formula_shares_and_award_add_up_exactly():
    children = [
        child("220602", 1000, "10", "2000", "90"),
        child("220605", 3000, "20", "1000", "60"),
        child("220621", 0, "5", "4000"),
    ]
    proposal = compute(1_000_000_01, Decimal("0.20"), FACTORS, children)
    assert proposal.award_fen == 20_000_000  # floor(100,000,001 × 0.2)
    assert proposal.formula_fen == 80_000_001
    assert sum(line.amount_fen for line in proposal.lines) == 1_000_000_01
    assert sum(line.award_fen for line in proposal.lines) == proposal.award_fen
    # Award by score 90:60, none for the county without an assessment.
    assert [line.award_fen for line in proposal.lines] == [12_000_000, 8_000_000, 0]
    # Composite share of the first child, by hand:
    # 0.5·1/4 + 0.3·10/35 + 0.2·(1/2000)/(1/2000+1/1000+1/4000)
    expected = (
        Fraction(1, 2) * Fraction(1, 4)
        + Fraction(3, 10) * Fraction(10, 35)
        + Fraction(1, 5)
        * (Fraction(1, 2000) / (Fraction(1, 2000) + Fraction(1, 1000) + Fraction(1, 4000)))
    )
    line = proposal.lines[0]
    assert abs(line.formula_fen - 80_000_001 * expected) < 1
    assert line.computation["composite_share"] == str(Decimal(round(expected * 10**6)).scaleb(-6))
    assert [f["factor"] for f in line.computation["factors"]] == [
        "poor_population",
        "poverty_incidence",
        "fiscal_capacity",
    ]


def test_without_assessments_the_award_pool_joins_the_formula():
    proposal = compute(
        10_000, Decimal("0.20"), FACTORS, [child("a", 1, "1", "1"), child("b", 1, "1", "1")]
    )
    assert proposal.award_fen == 0 and proposal.formula_fen == 10_000
    assert [line.amount_fen for line in proposal.lines] == [5_000, 5_000]


@pytest.mark.parametrize(
    ("children", "message"),
    [
        ([child("a", 1, "1", "0")], "inverse factor fiscal_capacity must be positive"),
        (
            [child("a", 0, "1", "1"), child("b", 0, "2", "1")],
            "poor_population is zero for every region",
        ),
        (
            [Child("a", {"poor_population": Decimal(1)})],
            "no value of factor poverty_incidence for region a",
        ),
        ([], "no region"),
    ],
)
def test_formula_errors_name_factor_and_region(children, message):
    with pytest.raises(FormulaError, match=message):
        compute(100, Decimal("0.2"), FACTORS, children)
