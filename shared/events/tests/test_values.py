"""Value types: resident ID numbers (GB 11643), region codes, money."""

from datetime import date
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from fupin_events.values import (
    Day,
    Money,
    RegionPrefix,
    ResidentId,
    VillageCode,
    birth_date_of,
    from_fen,
    id_check_character,
    in_jurisdiction,
    normalize_region,
    region_level,
    sex_of,
    to_fen,
)

ids = TypeAdapter(ResidentId)
money = TypeAdapter(Money)


def test_check_character_matches_the_standard_example():
    # The worked example of GB 11643-1999: 11010519491231002X
    assert id_check_character("11010519491231002") == "X"
    assert ids.validate_python("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    "bad",
    [
        "11010519491231002Y",
        "110105194912310021",
        "1101051949123100",
        "110105194902300026",
        "11010529991231002X",
        "abcdefghijklmnopqr",
        "１１０１０５１９４９１２３１００２X",  # full-width digits are not an ID number
    ],
)
def test_bad_resident_ids_are_refused(bad):
    with pytest.raises(ValidationError):
        ids.validate_python(bad)


def test_birth_date_and_sex_derive_from_the_number():
    assert birth_date_of("11010519491231002X") == date(1949, 12, 31)
    assert sex_of("11010519491231002X") == "female"  # 17th digit 2 is even
    assert sex_of("220622198001011237") == "male"


def test_region_codes_and_jurisdiction():
    assert region_level("22") == "province" and region_level("220622100201") == "village"
    assert normalize_region("220622000000") == "220622"
    assert in_jurisdiction("220622100201", "220622") and not in_jurisdiction(
        "220581100201", "220622"
    )
    with pytest.raises(ValidationError):
        TypeAdapter(RegionPrefix).validate_python("2206221")
    with pytest.raises(ValidationError):
        TypeAdapter(VillageCode).validate_python("220622")
    for full_width in ("２２０６２２１００２０１", "２２"):  # codes are ASCII digits only
        with pytest.raises(ValidationError):
            TypeAdapter(VillageCode if len(full_width) == 12 else RegionPrefix).validate_python(
                full_width
            )


@pytest.mark.parametrize("kept", [100_000, 1, 0], ids=["cached", "cache-full", "no-cache"])
def test_check_character_agrees_with_the_digit_by_digit_definition(monkeypatch, kept):
    from fupin_events import values

    # The area and birth-date parts are looked up when kept and summed when not: the same.
    monkeypatch.setattr(values, "_PART_SUMS_KEPT", kept)
    monkeypatch.setattr(values, "_AREA_SUMS", {})
    monkeypatch.setattr(values, "_BIRTH_SUMS", {})
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    numbers = [f"{number:017d}" for number in range(0, 10**17, 7_654_321_987_653)]
    for _ in range(2):
        for first17 in numbers:
            total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
            assert id_check_character(first17) == "10X98765432"[total % 11]
    assert len(values._AREA_SUMS) == min(kept, len({n[:6] for n in numbers}))
    assert len(values._BIRTH_SUMS) == min(kept, len({n[6:14] for n in numbers}))
    with pytest.raises(ValueError):
        id_check_character("１" * 17)


def test_money_is_decimal_with_two_places_never_float():
    assert money.validate_python("12.5") == Decimal("12.50")
    assert money.dump_json(Decimal("3")) == b'"3.00"'
    for bad in (1.5, "1.234", "NaN", "Infinity", "1e400", True):
        with pytest.raises(ValidationError):
            money.validate_python(bad)
    assert to_fen(Decimal("12.34")) == 1234 and from_fen(1234) == Decimal("12.34")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e999999999", "ASCII digits"),  # an exponent the decimal context cannot hold
        ("1e3", "ASCII digits"),
        ("１００", "ASCII digits"),  # full-width digits
        ("+100", "ASCII digits"),
        ("100.", "ASCII digits"),
        (" 100", "without spaces"),
        ("1" * 30, "out of range"),
    ],
)
def test_money_text_is_plain_decimal_digits(text, reason):
    with pytest.raises(ValidationError, match=reason):
        money.validate_python(text)


def test_money_out_of_range_never_overflows_the_decimal_context():
    for huge in (Decimal("1e999999999"), -(10**30)):
        with pytest.raises(ValidationError, match="out of range"):
            money.validate_python(huge)
    assert money.validate_python("-999999999999.99") == Decimal("-999999999999.99")


def test_business_today_turns_at_shanghai_midnight(monkeypatch):
    import time
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from fupin_events import values

    midnight = datetime(2026, 3, 1, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    monkeypatch.setattr(values, "_today", (0.0, date.min))
    monkeypatch.setattr(time, "time", lambda: midnight - 1)
    assert values.business_today() == date(2026, 2, 28)
    assert values.business_today() == date(2026, 2, 28)  # from the cache
    monkeypatch.setattr(time, "time", lambda: midnight)
    assert values.business_today() == date(2026, 3, 1)


def test_birth_dates_are_parsed_once_and_only_plausible_years_are_kept():
    from fupin_events import values

    assert birth_date_of("11010519491231002X") is birth_date_of("22062219491231123X")
    for impossible in ("110105185001010011", "110105299912310011"):
        with pytest.raises(ValueError, match="impossible"):
            birth_date_of(impossible)
        assert impossible[6:14] not in values._BIRTH_DATES
    with pytest.raises(ValueError, match="not a real date"):
        birth_date_of("110105194902300026")


days = TypeAdapter(Day)


@pytest.mark.parametrize("value", ["2016-02-05", date(2016, 2, 5)])
def test_a_day_is_iso_text_or_a_date(value):
    assert days.validate_python(value) == date(2016, 2, 5)
    assert days.validate_json('"2016-02-05"') == date(2016, 2, 5)


@pytest.mark.parametrize(
    "value",
    ["1454630400", "0", "2016-02-05T00:00:00+08:00", "2016-2-5", "20160205", " 2016-02-05"],
)
def test_a_day_is_not_a_timestamp_a_date_time_or_another_form(value):
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        days.validate_python(value)


@pytest.mark.parametrize("json_value", ["1454630400", "0", "1454630400.0", "true", "null"])
def test_a_day_is_not_a_number_in_json(json_value):
    with pytest.raises(ValidationError):
        days.validate_json(json_value)


def test_an_impossible_day_of_the_right_form_is_still_refused():
    with pytest.raises(ValidationError):
        days.validate_python("2016-02-30")
