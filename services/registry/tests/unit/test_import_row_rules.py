"""Row rules of the import: household dates against the register's years and the head's birth,
household numbers that survive an export, precise reasons, plain digits for years and counts."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import xlsxwriter
from import_support import RULES, TODAY, column, producer_config

from fupin_kit.cells import inert
from fupin_registry.imports.columns import map_headers
from fupin_registry.imports.limits import too_long
from fupin_registry.imports.pipeline import (
    PreparedChunk,
    produce,
    registration_date,
)
from fupin_registry.imports.readers import LOSSY_NUMBER, RawRow
from fupin_registry.imports.rows import (
    ETHNICITY_REASON,
    Checked,
    assemble,
    check_rows,
    household_errors,
    row_dicts,
    row_errors,
)
from fupin_registry.imports.samples import HouseholdMaker, header, resident_id


def household(seed: int = 1, members: int = 1) -> list[list[str]]:
    """The rows of one sample household with at least ``members`` members (识别年度 2015)."""
    for attempt in range(100):
        for found in HouseholdMaker(["220102001001"], seed=seed + attempt).households(10):
            if len(found) >= members:
                return [list(row) for row in found]
    raise AssertionError("no household that large in the samples")


def check(rows: list[list[str]]) -> list[Checked]:
    raws = [RawRow(number, row) for number, row in enumerate(rows, start=2)]
    return check_rows(row_dicts(raws, map_headers(header())), RULES)


def errors_of(rows: list[list[str]]) -> list[tuple[int, str, str]]:
    """Every error of the rows, those of the household rules included (row, column, reason)."""
    checked = check(rows)
    found = row_errors(checked)  # as the import reports a household's rows
    if not found:
        found = household_errors(checked, RULES.max_members)
    return [(e.row, e.column, e.reason) for e in found]


def set_household(rows: list[list[str]], **cells: str) -> None:
    for row in rows:
        for name, value in cells.items():
            row[column(name)] = value


# --- household dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "named", "reason"),
    [
        (
            {"登记日期": "1900-01-01"},
            "登记日期",
            "lies before 2013, the register's first year (earliest_register_year)",
        ),
        (
            {"贫困户状态": "已脱贫", "脱贫日期": "1000-01-01"},
            "脱贫日期",
            "lies before 2013, the register's first year (earliest_register_year)",
        ),
        (
            {"贫困户状态": "已脱贫", "登记日期": "2015-09-01", "脱贫日期": "2015-06-01"},
            "脱贫日期",
            "lies before 登记日期: a household exits after it was registered",
        ),
        (
            {"贫困户状态": "返贫", "登记日期": "2015-07-01", "脱贫日期": "2015-06-30"},
            "脱贫日期",
            "lies before 登记日期: a household exits after it was registered",
        ),
        (
            {"识别年度": "2019", "贫困户状态": "已脱贫", "脱贫日期": "2016-05-01"},
            "脱贫日期",
            "lies in 2016, before 识别年度 2019: a household exits after its identification",
        ),
        (
            {"识别年度": "2019", "登记日期": "2014-01-01"},
            "登记日期",
            "lies in 2014, not in 识别年度 2019: a household is registered in its"
            " identification year",
        ),
        (
            # The identification workflow registers a household in its 识别年度, never later.
            {"登记日期": "2016-03-01"},
            "登记日期",
            "lies in 2016, not in 识别年度 2015: a household is registered in its"
            " identification year",
        ),
        ({"登记日期": "2026-06-02"}, "登记日期", "lies in the future"),
        ({"识别年度": "2012"}, "识别年度", "must lie between 2013 and 2026"),
        ({"识别年度": "2027"}, "识别年度", "must lie between 2013 and 2026"),
        ({"识别年度": "1990"}, "识别年度", "must lie between 2013 and 2026"),
    ],
)
def test_imports_household_dates_follow_the_register(cells, named, reason):
    rows = household(seed=3, members=2)
    set_household(rows, **cells)
    errors = errors_of(rows)
    assert (2, named, reason) in errors, errors
    # Reported on every row of the household (each repeats the cells), and nothing else.
    assert {(c, r) for _, c, r in errors} == {(named, reason)}, errors


@pytest.mark.parametrize(
    "cells",
    [
        {"登记日期": "2013-01-01", "识别年度": "2013"},
        {"贫困户状态": "已脱贫", "登记日期": "2015-06-30", "脱贫日期": "2015-06-30"},
        {"贫困户状态": "返贫", "登记日期": "2015-06-30", "脱贫日期": "2019-12-01"},
        {"贫困户状态": "已脱贫", "脱贫日期": "2015-01-01"},  # no 登记日期: 2015-01-01
        {"登记日期": "2026-06-01", "识别年度": "2026"},
    ],
)
def test_imports_consistent_household_dates_are_accepted(cells):
    rows = household(seed=3, members=2)
    set_household(rows, **cells)
    assert errors_of(rows) == []


def head_born_in(year: int, seed: int = 5) -> list[list[str]]:
    """A household whose head is born on 1 March of ``year`` (the other members keep theirs)."""
    rows = household(seed=seed, members=2)
    head = next(row for row in rows if row[column("与户主关系")] == "户主")
    head[column("证件号码")] = resident_id("220102", year, 3, 1, 7, "male")
    head[column("性别")] = head[column("出生日期")] = ""
    return rows


@pytest.mark.parametrize(
    ("cells", "named"),
    [
        ({"登记日期": "2016-02-29", "识别年度": "2016"}, "登记日期"),
        ({"识别年度": "2015"}, "识别年度"),  # no 登记日期: registered in 2015, before the birth
        ({"贫困户状态": "已脱贫", "脱贫日期": "2016-02-28", "识别年度": "2016"}, "脱贫日期"),
    ],
)
def test_imports_a_household_is_not_registered_before_its_head_was_born(cells, named):
    rows = head_born_in(2016)
    set_household(rows, **cells)
    errors = errors_of(rows)
    head_row = 2 + next(i for i, row in enumerate(rows) if row[column("与户主关系")] == "户主")
    reason = f"lies before the birth of the head of the household (户主, row {head_row})"
    assert errors == [(2, named, reason)], errors
    # The reason names no date: the birth date is what a masked ID number hides.
    assert "2016" not in reason


def test_imports_a_household_registered_on_its_heads_birthday_is_accepted():
    rows = head_born_in(2016)
    set_household(rows, 登记日期="2016-03-01", 识别年度="2016")
    assert errors_of(rows) == []


@pytest.mark.parametrize(
    ("cells", "registered"),
    [
        ({"登记日期": "2016-05-04"}, dt.date(2016, 5, 4)),
        ({}, dt.date(2016, 3, 1)),  # the first day of 2016, or the head's birth (later)
        ({"识别年度": "2017"}, dt.date(2017, 1, 1)),
        ({"识别年度": "2026"}, TODAY),  # identified this year: the import date
        ({"贫困户状态": "已脱贫", "脱贫日期": "2019-12-01"}, dt.date(2016, 3, 1)),  # head's birth
        ({"贫困户状态": "返贫", "脱贫日期": "2019-12-01", "识别年度": "2018"}, dt.date(2018, 1, 1)),
        (
            {"贫困户状态": "已脱贫", "脱贫日期": "2026-02-01", "识别年度": "2026"},
            dt.date(2026, 1, 1),
        ),
    ],
)
def test_imports_a_blank_registration_date_lies_in_the_identification_year(cells, registered):
    """Blank 登记日期: a date in 识别年度, as the identification workflow registers a
    household: the import date for a household identified this year and not exited, else the
    first day of its 识别年度 (its head's birth date if later), never after the exit, so that
    the export of the household imports again."""
    rows = head_born_in(2016)
    set_household(rows, **{"识别年度": "2016", **cells})
    checked = check(rows)
    assert errors_of(rows) == []
    household = assemble(checked)
    assert registration_date(household, TODAY) == registered


# --- household numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["-A1", "--1", "-0001", "-"])
def test_imports_a_household_number_starting_with_a_hyphen_is_refused(number):
    """A register export writes such a cell with a leading quote ('-A1): it would not import."""
    rows = household(seed=7)
    set_household(rows, 户编号=number)
    assert {(c, r) for _, c, r in errors_of(rows)} == {
        (
            "户编号",
            "starts with a letter or digit: spreadsheet programs take a cell starting with '-'"
            " for a formula (an export writes it with a leading quote)",
        )
    }


@pytest.mark.parametrize("number", ["A-1", "0001", "1-", "a--b", "Z" * 32])
def test_imports_household_numbers_an_export_writes_unchanged_are_accepted(number):
    assert inert(number) == number
    rows = household(seed=7)
    set_household(rows, 户编号=number)
    assert errors_of(rows) == []


def test_imports_a_guarded_hyphen_number_is_refused_saying_why():
    """A number starting with '-' that a register holds is exported '-A1 (CSV)."""
    rows = household(seed=7)
    set_household(rows, 户编号=inert("-A1"))
    assert {(c, r) for _, c, r in errors_of(rows)} == {
        (
            "户编号",
            "starts with a letter or digit: '-… is how a CSV export writes a household number"
            " starting with '-', which is not accepted",
        )
    }


@pytest.mark.parametrize("number", ["+1", "'A1", "A_1", "Z" * 33])
def test_imports_other_household_numbers_are_refused_with_the_rule(number):
    rows = household(seed=7)
    set_household(rows, 户编号=number)
    assert {(c, r) for _, c, r in errors_of(rows)} == {
        (
            "户编号",
            "letters, digits and '-' only, starting with a letter or digit, at most 32 characters",
        )
    }


# --- precise reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "火星族", "汉", "han"])
def test_imports_an_unknown_ethnic_group_is_named_as_such(value):
    rows = household(seed=9)
    rows[0][column("民族")] = value
    assert errors_of(rows) == [(2, "民族", ETHNICITY_REASON)]
    assert "56 ethnic groups (民族)" in ETHNICITY_REASON and len(ETHNICITY_REASON) < 120


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1234.5元", "text after the number (a unit such as 元?)"),
        ("3200元", "text after the number"),
        ("0.5万元", "text after the number"),
        ("12 34", "text after the number"),
        ("￥3200", "text before the number (a currency sign?)"),
        ("约3000", "text before the number"),
        ("１２３４", "full-width digits are not accepted"),
        ("1e3", "exponent form is not accepted"),
        ("1200 per year", "text after the number"),
        ("3,200.00", "thousands separators are not accepted"),
        ("-5", "cannot be negative"),
        ("NaN", "not a number"),
    ],
)
def test_imports_amount_reasons_say_what_is_wrong(value, reason):
    rows = household(seed=9)
    rows[0][column("工资性收入")] = value
    errors = errors_of(rows)
    assert len(errors) == 1 and errors[0][1] == "工资性收入", errors
    assert reason in errors[0][2], errors


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (too_long(40_000), "the cell holds 40,000 characters"),
        ("一级\x0b肢体", "contains control characters"),
        ("\x07", "contains control characters"),
    ],
)
def test_imports_a_bad_disability_cell_is_reported_once(value, reason):
    """残疾情况 is required when 健康状况 is 残疾: a cell refused for its text is not also
    reported as missing."""
    rows = household(seed=11)
    rows[0][column("健康状况")] = "残疾"
    rows[0][column("残疾情况")] = value
    errors = errors_of(rows)
    assert [(row, named) for row, named, _ in errors] == [(2, "残疾情况")], errors
    assert reason in errors[0][2]


def test_imports_a_long_disability_says_how_long_it_may_be():
    rows = household(seed=11)
    rows[0][column("健康状况")] = "残疾"
    rows[0][column("残疾情况")] = "肢" * 32_767
    assert errors_of(rows) == [(2, "残疾情况", "at most 100 characters (the cell holds 32,767)")]


def test_imports_a_disabled_member_without_a_disability_is_still_refused():
    rows = household(seed=11)
    rows[0][column("健康状况")] = "残疾"
    rows[0][column("残疾情况")] = ""
    assert errors_of(rows) == [
        (2, "残疾情况", "required when 健康状况 is 残疾: kind and grade of the disability")
    ]


@pytest.mark.parametrize(
    ("name", "number", "reason"),
    [
        ("工资性收入", "1e+308", "implausibly large (above 10000000 yuan a year)"),
        ("转移性收入", "1e+15", "implausibly large (above 10000000 yuan a year)"),
        ("生产经营性支出", "-1e+20", "cannot be negative"),
        ("识别年度", "1e+15", "must lie between 2013 and 2026"),
        ("收入年度", "1e+15", "must lie between 2012 and 2026"),
        ("务工时间(月)", "1e+15", "must lie between 0 and 12"),
        ("开户银行账号", "6.22848001234567e+15", "kept only 15 significant digits"),
    ],
)
def test_imports_a_huge_number_cell_is_out_of_range_in_columns_of_numbers(name, number, reason):
    rows = household(seed=13)
    rows[0][column(name)] = LOSSY_NUMBER + number
    checked = check(rows)
    errors = [e for c in checked for e in c.errors]
    assert [(e.row, e.column, e.value) for e in errors] == [(2, name, number)], errors
    assert reason in errors[0].reason, errors


@pytest.mark.parametrize("calamine_max_bytes", [10**9, 0])
def test_imports_a_huge_amount_in_a_number_cell_is_implausibly_large(tmp_path, calamine_max_bytes):
    """On the calamine path and on the streaming one."""
    rows = household(seed=15)
    path = tmp_path / "amounts.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header())
    for number, row in enumerate(rows, start=1):
        for index, value in enumerate(row):
            if number == 1 and index == column("工资性收入"):
                sheet.write_number(number, index, 1e308)
            elif value:
                sheet.write_string(number, index, value)
    book.close()
    items = produce(producer_config(path, calamine_max_bytes=calamine_max_bytes))
    chunks = [item for item in items if isinstance(item, PreparedChunk)]
    errors = [e for chunk in chunks for e in chunk.errors if e.column]
    assert [(e.row, e.column, e.reason) for e in errors] == [
        (2, "工资性收入", "implausibly large (above 10000000 yuan a year)")
    ]


# --- plain digits in years and counts ----------------------------------------------------------


@pytest.mark.parametrize("value", ["2_015", "+2015", "2015.0", "２０１５", " 2015x", "15", "02015"])
def test_imports_a_year_is_four_plain_digits(value):
    rows = household(seed=17)
    set_household(rows, 识别年度=value)
    errors = errors_of(rows)
    assert {(c, r) for _, c, r in errors} == {
        ("识别年度", "a year is written as four digits 0-9, e.g. 2015")
    }, errors


def test_imports_an_income_year_is_four_plain_digits():
    rows = household(seed=17)
    set_household(rows, 收入年度="2_014")
    assert {(c, r) for _, c, r in errors_of(rows)} == {
        ("收入年度", "a year is written as four digits 0-9, e.g. 2015")
    }


@pytest.mark.parametrize("value", ["1_2", "6.0", "+6", "６", "1e1", "006", "13", "-1"])
def test_imports_months_are_plain_digits(value):
    rows = household(seed=19)
    rows[0][column("务工时间(月)")] = value
    assert errors_of(rows) == [
        (2, "务工时间(月)", "a whole number of months from 0 to 12, in plain digits 0-9")
    ]


def test_imports_plain_digit_years_and_months_are_taken():
    rows = household(seed=19)
    set_household(rows, 识别年度="2016", 收入年度="2015")
    rows[0][column("务工时间(月)")] = "06"
    checked = check(rows)
    assert all(not c.errors for c in checked)
    assert checked[0].household.year == 2016 and checked[0].household.income_year == 2015
    assert checked[0].member.migrant_months == 6


# --- the template and the export agree with the rules ---------------------------------------------


def test_imports_csv_export_of_accepted_numbers_imports_again():
    """What the CSV export writes for a household number the import accepts reads back as it."""
    rows = household(seed=21)
    set_household(rows, 户编号="A-0001")
    buffer = io.StringIO()
    csv.writer(buffer).writerows([[inert(cell) for cell in row] for row in rows])
    read = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert errors_of(read) == []


def test_imports_a_bad_household_cell_does_not_hide_a_bad_member_cell_or_the_village():
    rows = household(seed=61)[:1]
    rows[0][column("联系电话")] = "123"
    rows[0][column("行政区划代码(村)")] = "220581100201"  # outside the rules' jurisdiction
    good_id = rows[0][column("证件号码")]
    rows[0][column("证件号码")] = good_id[:17] + ("1" if good_id[17] != "1" else "2")
    columns = {named for _, named, _ in errors_of(rows)}
    assert {"联系电话", "证件号码", "行政区划代码(村)"} <= columns, errors_of(rows)


def test_imports_a_row_differing_in_its_year_is_reported_for_the_year_not_a_blank_date():
    rows = household(seed=62, members=2)[:2]
    set_household(rows, 识别年度="2016", 登记日期="")
    rows[0][column("登记日期")] = "2016-03-05"
    rows[1][column("识别年度")] = "2018"
    assert errors_of(rows) == [(3, "识别年度", "differs from row 2 of the same household ('2016')")]


def test_imports_a_control_character_is_shown_escaped_in_the_reported_value():
    rows = household(seed=63)[:1]
    rows[0][column("残疾情况")] = "一级\x0b肢体\x00"
    [error] = [e for e in check(rows)[0].errors if e.column == "残疾情况"]
    assert (error.value, error.reason) == ("一级\\x0b肢体\\x00", "contains control characters")


def test_imports_a_bad_household_cell_does_not_hide_the_other_household_rules():
    """A phone of the wrong shape: the year, a secondary cause and an income ceiling are still
    judged on the same upload."""
    rows = household(seed=64)[:1]
    rows[0][column("联系电话")] = "123"
    rows[0][column("识别年度")] = "1999"
    rows[0][column("次要致贫原因")] = rows[0][column("主要致贫原因")]
    rows[0][column("工资性收入")] = "999999999"
    columns = {named for _, named, _ in errors_of(rows)}
    assert {"联系电话", "识别年度", "次要致贫原因", "工资性收入"} <= columns, errors_of(rows)


def test_imports_a_rule_needing_a_rejected_cell_is_not_judged_on_a_guess():
    """识别年度 of the wrong shape: 登记日期 is not compared with it. 贫困户状态 of the wrong
    shape or with a control character: 脱贫日期 is not judged as if the household were 已识别."""
    rows = household(seed=65)[:1]
    set_household(rows, 识别年度="二〇一六", 登记日期="2017-03-05")
    assert {named for _, named, _ in errors_of(rows)} == {"识别年度"}, errors_of(rows)
    for status in ("脱 贫", "已脱贫\x00"):
        rows = household(seed=65)[:1]
        set_household(rows, 贫困户状态=status, 脱贫日期="2018-10-01", 登记日期="", 识别年度="2016")
        assert {named for _, named, _ in errors_of(rows)} == {"贫困户状态"}, errors_of(rows)


def test_imports_rules_despite_a_bad_cell_are_reported_on_every_row_like_the_cell():
    rows = household(seed=66, members=2)[:2]
    set_household(rows, 联系电话="123", 识别年度="1999")
    found = errors_of(rows)
    assert {(row, named) for row, named, _ in found} >= {
        (2, "联系电话"),
        (2, "识别年度"),
        (3, "联系电话"),
        (3, "识别年度"),
    }, found
