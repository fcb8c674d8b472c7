"""Value types shared by every service: region codes, resident ID numbers, money, business dates."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import mul
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
REGION_LEVEL_BY_LENGTH = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}
_REGION_PREFIX = re.compile(r"^[0-9]{2}([0-9]{2}([0-9]{2}([0-9]{3}([0-9]{3})?)?)?)?$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII digits only (\d would take ３)


_today: tuple[float, date] = (0.0, date.min)  # (next Shanghai midnight as a timestamp, today)


def business_today() -> date:
    """Today's date in Asia/Shanghai, where the poverty offices work (worked out once a day:
    every ID number validated asks for it)."""
    global _today
    now = time.time()
    if now < _today[0]:
        return _today[1]
    today = datetime.fromtimestamp(now, BUSINESS_TZ).date()
    midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), BUSINESS_TZ)
    _today = (midnight.timestamp(), today)
    return today


# --- region codes ---------------------------------------------------------------------------


def region_level(code: str) -> str:
    """The administrative level of a region code or code prefix (2/4/6/9/12 digits)."""
    level = REGION_LEVEL_BY_LENGTH.get(len(code))
    if level is None or not _REGION_PREFIX.match(code):
        raise ValueError("a region code has 2, 4, 6, 9 or 12 digits")
    return level


def normalize_region(code: str) -> str:
    """Strip the zero padding of a 12-digit statistical code down to its meaningful prefix.

    ``220622000000`` (a county in 12-digit form) becomes ``220622``.
    """
    if len(code) == 12 and code.isdigit():
        for length in (2, 4, 6, 9):
            if code[length:] == "0" * (12 - length):
                return code[:length]
    return code


def in_jurisdiction(region_code: str, jurisdiction: str) -> bool:
    """A region lies in a jurisdiction when the jurisdiction is a prefix of its code."""
    return region_code.startswith(jurisdiction)


def _check_region_prefix(value: str) -> str:
    region_level(value)
    return value


def _check_village(value: str) -> str:
    if len(value) != 12 or not (value.isascii() and value.isdigit()):
        raise ValueError("a village code has exactly 12 digits")
    return value


RegionPrefix = Annotated[
    str,
    Field(min_length=2, max_length=12, pattern=r"^[0-9]+$", examples=["220622"]),
    AfterValidator(_check_region_prefix),
]
CountyCode = Annotated[
    str,
    Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$", examples=["220622"]),
    AfterValidator(_check_region_prefix),
]
VillageCode = Annotated[
    str,
    Field(min_length=12, max_length=12, pattern=r"^[0-9]{12}$", examples=["220622100201"]),
    AfterValidator(_check_village),
]

# --- resident ID numbers (GB 11643) -----------------------------------------------------------


def id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("the check character is computed over 17 ASCII digits")
    return _check_character(first17)


def _weighted_sum(digits: str, weights: tuple[int, ...]) -> int:
    # Over the code points, less the weighted '0's: the same as over int(digit), in C.
    return sum(map(mul, digits.encode("ascii"), weights)) - ord("0") * sum(weights)


# The check character's weighted sum in three parts (area code, birth date, sequence number),
# each looked up: a register or a batch of checks holds few distinct areas and birth dates, and
# a lookup costs a fraction of the sum (this runs for every ID number of every import and bank
# check). The caches are bounded; a part not kept is summed each time.
_AREA_WEIGHTS, _BIRTH_WEIGHTS, _SEQUENCE_WEIGHTS = (
    _ID_WEIGHTS[:6],
    _ID_WEIGHTS[6:14],
    _ID_WEIGHTS[14:],
)
_SEQUENCE_SUMS = {f"{n:03d}": _weighted_sum(f"{n:03d}", _SEQUENCE_WEIGHTS) for n in range(1000)}
_AREA_SUMS: dict[str, int] = {}
_BIRTH_SUMS: dict[str, int] = {}
_PART_SUMS_KEPT = 100_000


def _part_sum(kept: dict[str, int], digits: str, weights: tuple[int, ...]) -> int:
    total = _weighted_sum(digits, weights)
    if len(kept) < _PART_SUMS_KEPT:
        kept[digits] = total
    return total


def _check_character(digits: str) -> str:
    """The check character of 17 ASCII digits (the caller has checked the shape)."""
    area, birth = digits[:6], digits[6:14]
    area_sum = _AREA_SUMS.get(area)
    if area_sum is None:
        area_sum = _part_sum(_AREA_SUMS, area, _AREA_WEIGHTS)
    birth_sum = _BIRTH_SUMS.get(birth)
    if birth_sum is None:
        birth_sum = _part_sum(_BIRTH_SUMS, birth, _BIRTH_WEIGHTS)
    return _ID_CHECK[(area_sum + birth_sum + _SEQUENCE_SUMS[digits[14:17]]) % 11]


def validate_resident_id(value: str) -> str:
    """Validate an 18-character resident ID number: shape, birth date and check character."""
    value = value.strip().upper()
    if not _ID_SHAPE.match(value):
        raise ValueError("a resident ID number has 17 digits and a check digit or X")
    birth_date_of(value)
    if _check_character(value) != value[17]:
        raise ValueError("the check character of the resident ID number is wrong")
    return value


# Parsed birth dates by their 8 digits, for plausible years only (so at most ~73,000 entries):
# parsing costs more than a lookup, and every ID number of every import and check needs it.
_BIRTH_DATES: dict[str, date] = {}


def birth_date_of(resident_id: str) -> date:
    digits = resident_id[6:14]
    born = _BIRTH_DATES.get(digits)
    if born is None:
        try:
            born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError as exc:
            raise ValueError("the birth date in the resident ID number is not a real date") from exc
        if 1900 <= born.year <= 2100:
            _BIRTH_DATES[digits] = born
    if born.year < 1900 or born > business_today():
        raise ValueError("the birth date in the resident ID number is impossible")
    return born


def sex_of(resident_id: str) -> str:
    """GB 11643: the 17th digit is odd for men and even for women."""
    return "male" if int(resident_id[16]) % 2 else "female"


ResidentId = Annotated[
    str,
    Field(min_length=18, max_length=18, examples=["220622198001011237"]),
    AfterValidator(validate_resident_id),
]

# --- business dates ---------------------------------------------------------------------------

_ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DAY_FORM = "a date is written YYYY-MM-DD, e.g. 2016-02-05"


def _iso_day(value: object) -> object:
    """Only YYYY-MM-DD text (or a date the service built): pydantic alone also takes a number
    as Unix seconds in UTC (``0`` is 1970-01-01) and a date-time at midnight, where a business
    date is a day in Asia/Shanghai."""
    if isinstance(value, str):
        if not _ISO_DAY.match(value):
            raise ValueError(DAY_FORM)
        return value
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError(DAY_FORM)


# A calendar day as clients write it (query, path and body): ISO 8601 YYYY-MM-DD only.
Day = Annotated[date, BeforeValidator(_iso_day)]

# --- money ------------------------------------------------------------------------------------

CENT = Decimal("0.01")
# One amount a client may write (12 integer digits: more than any budget line).
MAX_MONEY = Decimal("999999999999.99")
# What a total or balance the service computes may reach: the ledger's bigint of fen. Sums of
# amounts in range exceed MAX_MONEY (a province's trial balance), and are answered as they are.
MAX_TOTAL = Decimal(2**63 - 1) / 100
# Money as text: ASCII digits, an optional minus and at most two decimals — no exponent, sign,
# space, full-width digit or trailing point, so what is stored is what was written.
_MONEY_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]{1,2})?$")


def _parse_money(value: object) -> Decimal:
    if isinstance(value, float):
        raise ValueError("money must be given as a string or integer, never a float")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError('money must be a decimal string such as "1250.00"')
    if isinstance(value, str):
        if not _MONEY_TEXT.match(value):
            if _MONEY_TEXT.match(value.strip()):
                raise ValueError("money must be written without spaces")
            raise ValueError(
                "money is written with ASCII digits, an optional minus and at most two"
                ' decimals, e.g. "1250.00"'
            )
        if len(value) > 20:  # more digits than any amount in range: refused before parsing
            raise ValueError("amount is out of range")
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError("not a decimal amount") from exc
    if not amount.is_finite():
        raise ValueError("money must be finite")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("money has at most two decimal places")
    # copy_abs and comparison use no context: a huge exponent cannot overflow here. A Decimal
    # comes from the service's own arithmetic (never from a client's JSON, which holds strings,
    # integers or floats): a total, bounded by the ledger.
    limit = MAX_TOTAL if isinstance(value, Decimal) else MAX_MONEY
    if amount.copy_abs() > limit:
        raise ValueError("amount is out of range")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


Money = Annotated[
    Decimal,
    BeforeValidator(_parse_money),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$", "examples": ["1250.00"]},
        mode="validation",
    ),
    WithJsonSchema(  # answers: totals and balances may exceed one amount's 12 digits
        {"type": "string", "pattern": r"^-?[0-9]{1,17}\.[0-9]{2}$", "examples": ["1250.00"]},
        mode="serialization",
    ),
]


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValueError("the amount must be greater than zero")
    return amount


PositiveMoney = Annotated[
    Money,
    AfterValidator(_positive),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$",
            "description": "greater than zero",
            "examples": ["1250.00"],
        }
    ),
]

# A score or a share in percent, 0 to 100 with at most three decimals, as text (what an
# assessment publishes and a ``numeric(7, 3)`` column stores).
_PERCENT_TEXT = r"^(100(\.0{1,3})?|[0-9]{1,2}(\.[0-9]{1,3})?)$"
Percent = Annotated[
    str,
    Field(min_length=1, max_length=7, pattern=_PERCENT_TEXT, examples=["87.250"]),
]


def to_fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)
