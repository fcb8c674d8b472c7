"""Household continuation rows, merged cells, streaming reader attributes and dates, formulas,
strict dates and amounts, upload sniffing, and the export's cell safety."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from import_support import RULES, column, producer_config

from fupin_registry.imports.columns import HEADERS, column_letter, map_headers
from fupin_registry.imports.export import XlsxFile, csv_text, inert
from fupin_registry.imports.pipeline import PreparedChunk, ProducerConfig, produce
from fupin_registry.imports.readers import (
    FileFacts,
    RawRow,
    UnreadableFile,
    cell_text,
    open_sheet,
    sniff,
)
from fupin_registry.imports.rows import check_rows, row_dicts
from fupin_registry.imports.samples import HouseholdMaker, header


def households(count: int, seed: int) -> list[list[list[str]]]:
    return [
        list(map(list, h)) for h in HouseholdMaker(["220102001001"], seed=seed).households(count)
    ]


def large_household(seed: int = 11, size: int = 3) -> list[list[str]]:
    for attempt in range(50):
        found = [h for h in households(10, seed + attempt) if len(h) >= size]
        if found:
            return found[0]
    raise AssertionError("no household that large in the samples")


def config(path: Path, chunk_rows: int = 10_000, calamine_max_bytes: int = 10**9):
    return producer_config(path, chunk_rows=chunk_rows, calamine_max_bytes=calamine_max_bytes)


def chunks(cfg: ProducerConfig) -> list[PreparedChunk]:
    return [item for item in produce(cfg) if isinstance(item, PreparedChunk)]


def csv_file(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "upload.csv"
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *rows])
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return path


def check(rows: list[list[str]]):
    raws = [RawRow(number, row) for number, row in enumerate(rows, start=2)]
    return check_rows(row_dicts(raws, map_headers(header())), RULES)


# --- blank household keys continue the household ------------------------------------------------


def blank_keys(rows: list[list[str]]) -> list[list[str]]:
    for row in rows[1:]:
        row[column("行政区划代码(村)")] = ""
        row[column("户编号")] = ""
    return rows


@pytest.mark.parametrize("chunk_rows", [1, 10_000])
def test_imports_blank_household_keys_continue_the_household(tmp_path, chunk_rows):
    household = large_household()
    other = [h for h in households(3, seed=77) if h[0][1] != household[0][1]][0]
    other = [[*r[:1], "X-" + r[1], *r[2:]] for r in other]
    rows = blank_keys([list(r) for r in household]) + blank_keys(other)
    result = chunks(config(csv_file(tmp_path, rows), chunk_rows=chunk_rows))
    assert [e for c in result for e in c.errors] == []
    keys = [k for c in result for k in c.household_keys]
    assert keys == [tuple(household[0][:2]), tuple(other[0][:2])]
    members = [len(rows) for c in result for rows in c.rows_by_household()]
    assert members == [len(household), len(other)]


def test_imports_a_bad_continuation_row_rejects_the_whole_household(tmp_path):
    household = blank_keys(large_household())
    household[2][column("证件号码")] = household[2][column("证件号码")][:17] + (
        "0" if household[2][column("证件号码")][17] != "0" else "1"
    )
    (chunk,) = chunks(config(csv_file(tmp_path, household)))
    assert chunk.household_ids == [] and chunk.rows_rejected == len(household)
    by_row = {e.row: e.reason for e in chunk.errors}
    assert "check character" in by_row[4]
    assert all(by_row[r] == "not imported: the household's row(s) 4 have errors" for r in (2, 3))


def test_imports_blank_keys_on_the_first_row_are_not_a_continuation():
    rows = blank_keys(large_household())
    rows[0][column("户编号")] = ""
    checked = check(rows)
    assert all(any(e.column == "户编号" for e in c.errors) for c in checked)


# --- merged cells on both reading paths ------------------------------------------------------


def merged_workbook(tmp_path: Path, household: list[list[str]], wide: bool = False) -> Path:
    path = tmp_path / "merged.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header())
    merged = (column("行政区划代码(村)"), column("户编号"), column("户属性"), column("民族"))
    for number, row in enumerate(household, start=1):
        for index, value in enumerate(row):
            if value and not (number > 1 and index in merged):
                sheet.write_string(number, index, value)
    for index in merged:
        sheet.merge_range(1, index, len(household), index, household[0][index])
    if wide:
        sheet.merge_range(2, column("工资性收入"), 2, column("财产性收入"), "0")
    book.close()
    return path


def test_imports_merged_household_cells_read_alike_on_both_paths(tmp_path):
    household = large_household()
    for row in household:
        row[column("民族")] = "朝鲜族"
    path = merged_workbook(tmp_path, household)
    results = []
    for limit in (10**9, 0):  # calamine, then the streaming reader
        (chunk,) = chunks(config(path, calamine_max_bytes=limit))
        assert chunk.errors == [], chunk.errors
        assert chunk.household_keys == [tuple(household[0][:2])]
        assert chunk.rows_by_household() == [list(range(2, len(household) + 2))]
        copied = chunk.copies["members"].decode().splitlines()
        assert all(line.split("\t")[8] == "korean" for line in copied)
        sheet = open_sheet(path, sniff(path), limit)
        results.append((sheet.merged, [r.cells[: len(HEADERS)] for r in sheet]))
    assert results[0] == results[1]


def test_imports_rows_under_wide_merged_cells_are_rejected_on_both_paths(tmp_path):
    path = merged_workbook(tmp_path, large_household(), wide=True)
    for limit in (10**9, 0):
        (chunk,) = chunks(config(path, calamine_max_bytes=limit))
        assert any("merged cells" in e.reason and e.row == 3 for e in chunk.errors), limit


# --- the streaming reader: attribute order, cells without reference, 1904 dates -----------------

_CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"/>'
)
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def raw_workbook(tmp_path: Path, rows_xml: str, date1904: bool = False) -> Path:
    """A minimal .xlsx holding the given <row> elements (a date style at index 1)."""
    path = tmp_path / "raw.xlsx"
    properties = '<workbookPr date1904="1"/>' if date1904 else ""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook {_NS} xmlns:r="{_REL}">{properties}'
            '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>",
        )
        archive.writestr(
            "xl/styles.xml",
            f'<styleSheet {_NS}><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/>'
            "</cellXfs></styleSheet>",
        )
        archive.writestr(
            "xl/sharedStrings.xml", f"<sst {_NS}><si><t>shared</t></si><si><t>户编号</t></si></sst>"
        )
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            f"<worksheet {_NS}><sheetData>{rows_xml}</sheetData></worksheet>",
        )
    return path


def stream(path: Path) -> list[RawRow]:
    return list(open_sheet(path, FileFacts("xlsx"), calamine_max_bytes=0))


def header_xml() -> str:
    cells = "".join(
        f'<c r="{column_letter(i)}1" t="inlineStr"><is><t>{h}</t></is></c>'
        for i, h in enumerate(HEADERS)
    )
    return f'<row r="1">{cells}</row>'


def test_imports_streaming_reader_takes_attributes_in_any_order_and_cells_without_reference(
    tmp_path,
):
    path = raw_workbook(
        tmp_path,
        header_xml()
        + '<row r="2"><c s="0" r="A2" t="s"><v>0</v></c><c t="inlineStr"><is><t>b</t></is></c>'
        '<c t="s"><v>0</v></c><c r="E2" cm="1" t="n"><v>7</v></c></row>'
        '<row r="3"><c t="s" r="B3"><v>0</v></c></row>',
    )
    rows = stream(path)
    assert [(r.number, r.cells) for r in rows] == [
        (2, ["shared", "b", "shared", "", "7"]),
        (3, ["", "shared"]),
    ]


@pytest.mark.parametrize(("date1904", "expected"), [(False, "2015-06-30"), (True, "2019-07-01")])
def test_imports_streaming_reader_follows_the_workbook_date_system(tmp_path, date1904, expected):
    # Serial 42185 is 2015-06-30 in the 1900 system and 2019-07-01 in the 1904 system.
    path = raw_workbook(
        tmp_path, header_xml() + '<row r="2"><c r="A2" s="1"><v>42185</v></c></row>', date1904
    )
    assert stream(path)[0].cells[0] == expected


def test_imports_1904_workbooks_read_alike_on_both_paths(tmp_path):
    path = tmp_path / "1904.xlsx"
    book = xlsxwriter.Workbook(str(path), {"date_1904": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header())
    sheet.write_datetime(
        1, 0, dt.datetime(2015, 6, 30), book.add_format({"num_format": "yyyy-mm-dd"})
    )
    book.close()
    whole = next(iter(open_sheet(path, sniff(path), calamine_max_bytes=10**9)))
    streamed = next(iter(open_sheet(path, FileFacts("xlsx"), calamine_max_bytes=0)))
    assert whole.cells[0] == streamed.cells[0] == "2015-06-30"


# --- formulas ------------------------------------------------------------------------------------


def formula_workbook(tmp_path: Path, household: list[list[str]]) -> Path:
    """Every row's 工资性收入 a formula; the first row's without a calculated value."""
    path = tmp_path / "formulas.xlsx"
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header())
    wages = column("工资性收入")
    for number, row in enumerate(household, start=1):
        for index, value in enumerate(row):
            if value and index != wages:
                sheet.write_string(number, index, value)
        sheet.write_formula(number, wages, "=1000*3", None, 3000)
    book.close()
    # Drop the first formula's calculated value, as generators that never calculate write it.
    source = zipfile.ZipFile(path)
    xml = source.read("xl/worksheets/sheet1.xml").decode()
    cell = f"{column_letter(wages)}2"
    xml, count = re.subn(
        rf'(<c r="{cell}"[^>]*>)<f>([^<]*)</f><v>[^<]*</v>', r"\1<f>\2</f><v/>", xml
    )
    assert count == 1
    rebuilt = tmp_path / "formulas-without-values.xlsx"
    with zipfile.ZipFile(rebuilt, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            out.writestr(item, xml.encode() if item.filename.endswith("sheet1.xml") else data)
    return rebuilt


def test_imports_formula_without_a_calculated_value_is_a_row_error_on_both_paths(tmp_path):
    household = large_household()
    path = formula_workbook(tmp_path, household)
    for limit in (10**9, 0):
        (chunk,) = chunks(config(path, calamine_max_bytes=limit))
        errors = [e for e in chunk.errors if e.row == 2]
        assert [(e.column, e.reason) for e in errors] == [
            ("工资性收入", "formula without a calculated value; enter the value")
        ], limit
        assert chunk.household_ids == []


def test_imports_calculated_floats_keep_15_significant_digits():
    from fupin_registry.imports.xlsx_stream import _number_text

    assert cell_text(0.1 + 0.2) == "0.3"
    assert cell_text(1234.56) == "1234.56"
    assert _number_text("0.30000000000000004", False, dt.date(1899, 12, 30)) == "0.3"
    rows = large_household()
    rows = [rows[0]]
    rows[0][column("工资性收入")] = cell_text(0.1 + 0.2)
    assert check(rows)[0].errors == []


def test_imports_a_date_cell_with_a_time_reads_the_same_on_both_paths():
    """The streaming reader keeps a date cell's time of day, as calamine does: the row then
    refuses it, whatever the size of the sheet."""
    import datetime

    from fupin_registry.imports.xlsx_stream import _number_text

    epoch = dt.date(1899, 12, 30)
    assert _number_text("42185", True, epoch) == "2015-06-30"
    streamed = _number_text("42185.5833333333", True, epoch)
    assert streamed == cell_text(datetime.datetime(2015, 6, 30, 14, 0)) == "2015-06-30 14:00:00"
    rows = [large_household()[0]]
    rows[0][column("登记日期")] = streamed
    assert [e.column for e in check(rows)[0].errors] == ["登记日期"]


# --- strict dates, amounts and digits ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0", "a number, not a date"),
        ("1577836800", "a number, not a date"),
        ("2015-06-30T00:00", "without a time of day"),
        ("2015/6/30 0:00:00", "without a time of day"),
        ("2015-6/30", "not a date: write it as 2015-06-30"),
        ("２０１５-06-30", "not a date"),
        ("2015-02-30", "not a real date"),
    ],
)
def test_imports_dates_only_in_the_documented_forms(value, reason):
    rows = [large_household()[0]]
    rows[0][column("登记日期")] = value
    errors = check(rows)[0].errors
    assert [(e.column, reason in e.reason) for e in errors] == [("登记日期", True)], errors


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("3,200.00", "thousands separators are not accepted"),
        ("1e3", "exponent form is not accepted"),
        ("１２００", "full-width digits are not accepted"),
        ("+5", "plain digits"),
        ("1234567890123", "implausibly large"),
        ("12.345", "at most two decimal places"),
    ],
)
def test_imports_amount_reasons_are_precise(value, reason):
    rows = [large_household()[0]]
    rows[0][column("工资性收入")] = value
    errors = check(rows)[0].errors
    assert [(e.column, reason in e.reason) for e in errors] == [("工资性收入", True)], errors


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("联系电话", "１３９０４３５１２３４"),
        ("开户银行账号", "６２２２０２１２３４５６７８９０"),
        ("行政区划代码(村)", "２２０１０２００１００１"),
    ],
)
def test_imports_full_width_digits_are_refused(name, value):
    rows = [large_household()[0]]
    rows[0][column(name)] = value
    assert any(e.column == name for e in check(rows)[0].errors)


def test_imports_birth_date_mismatch_reason_names_no_date():
    rows = [large_household()[0]]
    rows[0][column("出生日期")] = "1901-01-01"
    (error,) = check(rows)[0].errors
    assert "does not match the birth date" in error.reason
    assert not re.search(r"[0-9]{4}-[0-9]{2}", error.reason)


# --- upload sniffing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("register.xls", b"<html><body><table><tr><td>1</td></tr></table></body></html>", "HTML"),
        ("register.xls", b'\xef\xbb\xbf<?xml version="1.0"?><Workbook/>', "HTML or XML"),
        ("register.xlsx", ",".join(HEADERS).encode(), "named .xlsx but holds text"),
    ],
)
def test_imports_text_posing_as_a_workbook_is_refused(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match=needle):
        sniff(path, name)


def test_imports_tab_separated_text_named_xls_is_read_as_text(tmp_path):
    path = tmp_path / "register.xls"
    path.write_bytes("\t".join(HEADERS).encode())
    assert sniff(path, "register.xls").kind == "csv"


# --- export cells -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://x","a")', '\'=HYPERLINK("http://x","a")'),
        ('=cmd|"/c calc"!A0', '\'=cmd|"/c calc"!A0'),
        ("+86139", "+86139"),
        ("+1+2", "'+1+2"),
        ("-1-2", "'-1-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-5", "-5"),
        ("-12.50", "-12.50"),
        ("-", "-"),  # a placeholder, never evaluated
        ("--", "'--"),
        ("张三", "张三"),
        ("", ""),
    ],
)
def test_imports_export_cells_never_start_a_formula(cell, expected):
    assert inert(cell) == expected


def test_imports_csv_export_text_is_inert():
    text = csv_text([["=1+1", "a", "-3"]])
    assert text == "'=1+1,a,-3\r\n"


def test_imports_xlsx_file_continues_on_a_new_sheet_when_full():
    from python_calamine import CalamineWorkbook

    book = XlsxFile("贫困户信息", ["a", "b"], rows_per_sheet=3)
    book.write([["1", "=1+1"], ["2", "x"], ["3", "y"], ["4", "z"], ["5", "w"]])
    path = book.close()
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        assert workbook.sheet_names == ["贫困户信息", "贫困户信息 (2)", "贫困户信息 (3)"]
        sheets = [workbook.get_sheet_by_name(n).to_python() for n in workbook.sheet_names]
        assert sheets == [
            [["a", "b"], ["1", "=1+1"], ["2", "x"]],
            [["a", "b"], ["3", "y"], ["4", "z"]],
            [["a", "b"], ["5", "w"]],
        ]
        with zipfile.ZipFile(path) as archive:
            assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")
    finally:
        path.unlink()


def test_imports_discarded_xlsx_file_leaves_nothing_behind():
    book = XlsxFile("s", ["a"])
    book.write([["1"]])
    book.discard()
    assert not book.path.exists()
