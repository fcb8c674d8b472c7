"""Keyset cursors: what was encoded decodes, anything else is a 422 on the cursor, and with the
key's kinds given, values the key column cannot hold are refused before any query."""

import uuid
from datetime import date, datetime

import pytest

from fupin_kit.pagination import BIGINT_MAX, BIGINT_MIN, decode_cursor, encode_cursor
from fupin_kit.problems import ProblemError


def refused(cursor: str, arity: int, kinds=None) -> None:
    with pytest.raises(ProblemError) as caught:
        decode_cursor(cursor, arity, kinds)
    assert caught.value.status == 422
    assert [e.pointer for e in caught.value.errors] == ["#/query/cursor"]


def test_round_trip_without_and_with_kinds():
    key = uuid.uuid4()
    cursor = encode_cursor([12, "abc", str(key), "2024-03-01", "2024-03-01T08:30:00+08:00"])
    assert decode_cursor(cursor, 5) == [
        12,
        "abc",
        str(key),
        "2024-03-01",
        "2024-03-01T08:30:00+08:00",
    ]
    decoded = decode_cursor(cursor, 5, (int, str, uuid.UUID, date, datetime))
    assert decoded == [
        12,
        "abc",
        key,
        date(2024, 3, 1),
        datetime.fromisoformat("2024-03-01T08:30:00+08:00"),
    ]
    assert decode_cursor(None, 1, (int,)) is None


@pytest.mark.parametrize(
    ("values", "kinds"),
    [
        (["abc"], (int,)),
        ([BIGINT_MAX + 1], (int,)),
        ([BIGINT_MIN - 1], (int,)),
        ([10**30], (str,)),
        ([1], (str,)),
        (["a\x00b"], (str,)),
        (["not-a-uuid"], (uuid.UUID,)),
        ([1], (uuid.UUID,)),
        (["2024-02-30"], (date,)),
        ([20240301], (date,)),
        (["yesterday"], (datetime,)),
        # Valid ISO text, but beyond the range of a timestamp once in UTC.
        (["9999-12-31T23:00:00-05:00"], (datetime,)),
        (["0001-01-01T00:00:00+14:00"], (datetime,)),
        ([1, "a"], (int, int)),
    ],
)
def test_values_of_the_wrong_kind_are_refused(values, kinds):
    refused(encode_cursor(values), len(values), kinds)


def test_malformed_cursors_are_refused_with_or_without_kinds():
    for cursor in ("%%%", encode_cursor([1, 2]), "bnVsbA", encode_cursor([True])):
        refused(cursor, 1)
        refused(cursor, 1, (int,))


def test_the_bounds_of_a_bigint_key_are_accepted():
    for value in (BIGINT_MIN, BIGINT_MAX, 0):
        assert decode_cursor(encode_cursor([value]), 1, (int,)) == [value]


def test_a_custom_parser_decides():
    def positive(value):
        if not isinstance(value, int) or value <= 0:
            raise ValueError("not positive")
        return value

    assert decode_cursor(encode_cursor([3]), 1, (positive,)) == [3]
    refused(encode_cursor([-3]), 1, (positive,))
