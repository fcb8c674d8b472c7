"""Decimals that are not money (loan rates, award shares, factor weights and values) on the wire:
a string with exactly the places of the column that stores them. A command's answer (built from
the request's value), its replay and every later read (built from the stored value) then write
the same number the same way: ``"0.043500"``, never ``"0.0435"`` in one and ``"0.043500"`` in
another, nor ``"1E+2"``. Money has its own type (``common.money``, two places)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import PlainSerializer


def _fixed(places: int) -> PlainSerializer:
    quantum = Decimal(1).scaleb(-places)

    def text(value: Decimal) -> str:
        # Rounded as PostgreSQL rounds a numeric to its scale (half away from zero); zero has
        # no sign there, so "-0" sent is "0.000000" answered, as every later read answers it.
        rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
        return f"{rounded if rounded else rounded.copy_abs():.{places}f}"

    return PlainSerializer(text, return_type=str, when_used="json")


Rate = Annotated[Decimal, _fixed(6)]  # loans.annual_rate: numeric(8, 6)
Share = Annotated[Decimal, _fixed(4)]  # allocations.award_share: numeric(5, 4)
Weight = Annotated[Decimal, _fixed(6)]  # allocation_factors.weight: numeric(9, 6)
FactorValueNumber = Annotated[Decimal, _fixed(6)]  # factor_values.value: numeric(20, 6)

__all__ = ["FactorValueNumber", "Rate", "Share", "Weight"]
