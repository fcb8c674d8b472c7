"""Money in requests and responses: Decimal with two places on the wire, integer fen inside."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator

from fupin_events.values import Money, from_fen, to_fen


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("the amount must be positive")
    return value


PositiveMoney = Annotated[Money, AfterValidator(_positive)]

__all__ = ["Money", "PositiveMoney", "from_fen", "to_fen"]
