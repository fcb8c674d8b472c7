"""The allocation arithmetic (pure): factor formula, performance award, and rounding to fen by the
largest-remainder method, so that the lines always add up to the total exactly.

For each factor f with weight w_f and each child c with value v_fc:
    direct factor:  share_fc = v_fc / Σ_c v_fc
    inverse factor: share_fc = (1 / v_fc) / Σ_c (1 / v_fc)     (e.g. fiscal capacity)
    composite_c     = Σ_f w_f · share_fc / Σ_f w_f
The award pool (total × award share, rounded down to the fen) is split by the children's latest
published assessment scores; when no child has one, the award pool joins the formula pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any


class FormulaError(ValueError):
    def __init__(
        self, message: str, factor: str | None = None, region_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.factor = factor
        self.region_code = region_code


def largest_remainder(total: int, weights: Sequence[Fraction | Decimal | int]) -> list[int]:
    """Split ``total`` (integer fen) in proportion to ``weights``: the parts sum to ``total``
    exactly and each differs from its exact quota by less than one fen. Ties in the remainders
    go to the earlier position, so the result is deterministic."""
    if total < 0:
        raise ValueError("the total must not be negative")
    exact = [Fraction(w) for w in weights]
    if any(w < 0 for w in exact):
        raise ValueError("weights must not be negative")
    weight_sum = sum(exact, Fraction(0))
    if weight_sum == 0:
        if total == 0:
            return [0] * len(exact)
        raise ValueError("at least one weight must be positive")
    quotas = [total * w / weight_sum for w in exact]
    parts = [q.numerator // q.denominator for q in quotas]
    left = total - sum(parts)
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


@dataclass(frozen=True)
class Factor:
    code: str
    direction: str  # direct | inverse
    weight: Decimal


@dataclass(frozen=True)
class Child:
    region_code: str
    values: Mapping[str, Decimal | None]
    award_score: Decimal | None = None
    award_basis: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    region_code: str
    formula_fen: int
    award_fen: int
    computation: dict[str, Any]

    @property
    def amount_fen(self) -> int:
        return self.formula_fen + self.award_fen


@dataclass(frozen=True)
class Proposal:
    total_fen: int
    formula_fen: int
    award_fen: int
    lines: list[Line]


def _fmt(value: Fraction, places: int = 6) -> str:
    scaled = round(value * 10**places)
    return str(Decimal(scaled).scaleb(-places))


def factor_shares(factor: Factor, children: Sequence[Child]) -> list[Fraction]:
    values: list[Fraction] = []
    for child in children:
        raw = child.values.get(factor.code)
        if raw is None:
            raise FormulaError(
                f"no value of factor {factor.code} for region {child.region_code}",
                factor.code,
                child.region_code,
            )
        value = Fraction(raw)
        if value < 0:
            raise FormulaError(
                f"factor {factor.code} is negative for region {child.region_code}",
                factor.code,
                child.region_code,
            )
        if factor.direction == "inverse":
            if value == 0:
                raise FormulaError(
                    f"inverse factor {factor.code} must be positive for region {child.region_code}",
                    factor.code,
                    child.region_code,
                )
            value = 1 / value
        values.append(value)
    total = sum(values, Fraction(0))
    if total == 0:
        raise FormulaError(f"factor {factor.code} is zero for every region", factor.code)
    return [v / total for v in values]


def compute(
    total_fen: int, award_share: Decimal, factors: Sequence[Factor], children: Sequence[Child]
) -> Proposal:
    if not children:
        raise FormulaError("there is no region to allocate to")
    if total_fen <= 0:
        raise FormulaError("the total must be positive")
    active = [f for f in factors if f.weight > 0]
    if not active:
        raise FormulaError("no factor has a positive weight")
    weight_sum = sum((Fraction(f.weight) for f in active), Fraction(0))
    shares = {f.code: factor_shares(f, children) for f in active}
    composite = [
        sum((Fraction(f.weight) * shares[f.code][i] for f in active), Fraction(0)) / weight_sum
        for i in range(len(children))
    ]
    scores = [
        Fraction(c.award_score) if c.award_score is not None and c.award_score > 0 else Fraction(0)
        for c in children
    ]
    has_awards = sum(scores, Fraction(0)) > 0
    award_pool = int(Fraction(total_fen) * Fraction(award_share)) if has_awards else 0
    formula_pool = total_fen - award_pool
    formula_parts = largest_remainder(formula_pool, composite)
    award_parts = largest_remainder(award_pool, scores) if award_pool else [0] * len(children)
    score_sum = sum(scores, Fraction(0))
    lines = []
    for i, child in enumerate(children):
        computation: dict[str, Any] = {
            "factors": [
                {
                    "factor": f.code,
                    "direction": f.direction,
                    "value": str(child.values.get(f.code)),
                    "share": _fmt(shares[f.code][i]),
                    "weight": str(f.weight),
                    "weighted_share": _fmt(Fraction(f.weight) * shares[f.code][i] / weight_sum),
                }
                for f in active
            ],
            "composite_share": _fmt(composite[i]),
            "formula_pool_fen": formula_pool,
            "formula_exact_fen": _fmt(formula_pool * composite[i], 4),
            "formula_fen": formula_parts[i],
            "award_score": None if child.award_score is None else str(child.award_score),
            "award_basis": dict(child.award_basis),
            "award_pool_fen": award_pool,
            "award_share": _fmt(scores[i] / score_sum) if award_pool else "0",
            "award_fen": award_parts[i],
            "amount_fen": formula_parts[i] + award_parts[i],
        }
        lines.append(Line(child.region_code, formula_parts[i], award_parts[i], computation))
    return Proposal(total_fen, formula_pool, award_pool, lines)
