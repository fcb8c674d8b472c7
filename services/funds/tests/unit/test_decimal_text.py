"""Decimals that are not money are written with exactly their column's places, one way."""

from decimal import Decimal

import pytest
from pydantic import TypeAdapter

from fupin_funds.common.decimals import FactorValueNumber, Rate, Share


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        (FactorValueNumber, "5", "5.000000"),
        (FactorValueNumber, "-0", "0.000000"),  # the database keeps no sign on zero
        (FactorValueNumber, "-0.0000004", "0.000000"),
        (Rate, "0.0435", "0.043500"),
        (Rate, "1E+2", "100.000000"),
        (Share, "0.00005", "0.0001"),  # half away from zero, as PostgreSQL rounds
    ],
)
def test_a_decimal_is_written_as_its_column_holds_it(kind, value, text):
    assert TypeAdapter(kind).dump_python(Decimal(value), mode="json") == text
