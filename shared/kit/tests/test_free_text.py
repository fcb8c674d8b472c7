"""Personal numbers in free text: found however they are written, masked keeping both ends;
dates and short numbers are not personal numbers."""

import pytest

from fupin_kit.free_text import holds_personal_number, mask_personal_numbers


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("电话13800138000", "电话13*******00"),
        ("身份证22062219700501025X", "身份证22*************25X"),
        ("138.0013.8000", "13*.****.**00"),
        ("138–0013–8000", "13*–****–**00"),
        ("账户6228 4800 1234 5678", "账户62** **** **** **78"),
        ("１３８００１３８０００", "１３*******００"),
        ("138\u200b0013\u200b8000", "13*\u200b****\u200b**00"),
        ("座机0431-88886666，手机13912345678", "座机04**-******66，手机13*******78"),
    ],
)
def test_a_personal_number_is_found_and_masked_keeping_both_ends(text, masked):
    assert holds_personal_number(text)
    assert mask_personal_numbers(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-01起发放补助",
        "2026.03.01-2026.12.31 护林员公益岗位",
        "2026年3月1日至2026年12月31日",
        "项目编号2026-001-02",
        "补助1,000,000元",
        "扶贫小额信贷5万元，3年期",
        "objection a2b095fc-b265-4278-9625-cbaac991f1ad",  # an object's id
        "",
    ],
)
def test_dates_amounts_and_short_numbers_are_left_alone(text):
    assert not holds_personal_number(text)
    assert mask_personal_numbers(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "110101 1990-03-07 1234",  # an ID number with its birth date written as a date
        "110101.1990.03.07.1234",
        "1381-23-45678",
        "139 - 1234 - 5678",  # three characters between the groups
        "139.\u200b-1234.\u200b-5678",
        "card 6222.0203.04.05.1234",
    ],
)
def test_a_number_written_around_a_date_or_with_wider_gaps_is_still_found(text):
    assert holds_personal_number(text)
    assert mask_personal_numbers(text) != text
