"""How the readers read cells, alike on both .xlsx paths (python-calamine and the streaming
reader) and in CSV: error cells, sheet XML cut off, namespace prefixes, escapes and character
references, markers no file can pose as, stray NUL bytes, damaged GB18030 lines and merged
cells whose covered cells hold values."""

from __future__ import annotations

import csv
import io
import re
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import xlsxwriter
from import_support import producer_config

from fupin_registry.imports import xlsx_stream
from fupin_registry.imports.columns import HEADERS, column_letter
from fupin_registry.imports.limits import (
    ReadLimits,
    error_value,
    is_too_long,
    shorten,
    too_long_reason,
)
from fupin_registry.imports.pipeline import Failed, Finished, PreparedChunk, ProducerConfig, produce
from fupin_registry.imports.readers import (
    FORMULA_WITHOUT_VALUE,
    LOSSY_NUMBER,
    UnreadableFile,
    open_sheet,
    sniff,
)
from fupin_registry.imports.samples import HouseholdMaker, header

CALAMINE, STREAMED = 10**9, 0  # import_calamine_max_bytes choosing each .xlsx path
PATHS = pytest.mark.parametrize("limit", [CALAMINE, STREAMED], ids=["calamine", "streamed"])
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET = "xl/worksheets/sheet1.xml"


def at(name: str) -> int:
    return HEADERS.index(name)


def households(count: int, seed: int) -> list[list[str]]:
    maker = HouseholdMaker(["220102001001", "220102001002"], seed=seed)
    return [list(row) for household in maker.households(count) for row in household]


def single_households(count: int, seed: int) -> list[list[str]]:
    """``count`` households of one member each, numbered apart."""
    found: list[list[str]] = []
    while len(found) < count:
        maker = HouseholdMaker(["220102001001"], seed=seed)
        found += [list(h[0]) for h in maker.households(20) if len(h) == 1]
        seed += 1
    for index, row in enumerate(found[:count]):
        row[at("户编号")] = f"S-{index}"
    return found[:count]


def config(path: Path, limit: int) -> ProducerConfig:
    return producer_config(path, calamine_max_bytes=limit, limits=ReadLimits())


def items(path: Path, limit: int = STREAMED) -> list:
    return list(produce(config(path, limit)))


def errors(path: Path, limit: int = STREAMED) -> list[tuple[int, str, str]]:
    found = items(path, limit)
    assert isinstance(found[-1], Finished), found[-1]
    return [
        (e.row, e.column, e.reason)
        for item in found
        if isinstance(item, PreparedChunk)
        for e in item.errors
    ]


def cells(path: Path, limit: int) -> list[list[str]]:
    sheet = open_sheet(path, sniff(path), limit)
    return [row.cells[: len(HEADERS)] for row in sheet]


def workbook(
    path: Path,
    rows: list[list[str]],
    write: Callable[[xlsxwriter.Workbook, object], None] | None = None,
) -> Path:
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, header())
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value:
                sheet.write_string(number, column, value)
    if write:
        write(book, sheet)
    book.close()
    return path


def rewritten(path: Path, part: str, change: Callable[[bytes], bytes] | None) -> Path:
    """A copy of the workbook with one part changed (or left out when ``change`` is None)."""
    source = zipfile.ZipFile(path)
    out = path.with_name(f"{path.stem}-{uuid.uuid4().hex[:8]}.xlsx")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == part:
                if change is None:
                    continue
                data = change(data)
            archive.writestr(info.filename, data)
    return out


def inline_sheet(rows: list[list[str]], prefix: str = "", raw: dict | None = None) -> bytes:
    """Sheet XML of inline strings (the header row first); ``raw`` holds cell XML text written
    as it is, by (row index in ``rows``, column)."""
    p = f"{prefix}:" if prefix else ""
    declaration = f'xmlns{":" + prefix if prefix else ""}="{_MAIN}"'
    out = [f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet {declaration}><{p}sheetData>']
    for number, row in enumerate([header(), *rows], start=1):
        out.append(f'<{p}row r="{number}">')
        for column, value in enumerate(row):
            text = (raw or {}).get((number - 2, column))
            if text is None and not value:
                continue
            text = escape(value) if text is None else text
            ref = f"{column_letter(column)}{number}"
            out.append(f'<{p}c r="{ref}" t="inlineStr"><{p}is><{p}t>{text}</{p}t></{p}is></{p}c>')
        out.append(f"</{p}row>")
    out.append(f"</{p}sheetData></{p}worksheet>")
    return "".join(out).encode()


def csv_file(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *rows])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


# --- error cells -------------------------------------------------------------------------------


def error_workbook(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    rows = single_households(4, seed=300)

    def errors_in(book, sheet) -> None:
        sheet.write_formula(1, at("工资性收入"), "=1/0", None, "#DIV/0!")
        sheet.write_formula(2, at("联系电话"), "=NA()", None, "#N/A")
        sheet.write_formula(3, at("登记日期"), "=#REF!", None, "#REF!")
        sheet.write_string(4, at("残疾情况"), "ERROR-CELL")

    path = workbook(tmp_path / "errors.xlsx", rows, errors_in)
    # An error cell without a formula, as some programs store a pasted error value.
    column = column_letter(at("残疾情况"))
    path = rewritten(
        path,
        SHEET,
        lambda xml: re.sub(
            rf'<c r="{column}5"([^>]*?) t="s"><v>\d+</v></c>'.encode(),
            rf'<c r="{column}5"\1 t="e"><v>#VALUE!</v></c>'.encode(),
            xml,
        ),
    )
    return path, rows


@PATHS
def test_import_an_error_cell_is_a_row_error_naming_column_and_error(tmp_path, limit):
    path, _ = error_workbook(tmp_path)
    found = errors(path, limit)
    expected = [
        (2, "工资性收入", "the cell holds the error #DIV/0!; enter the value"),
        (3, "联系电话", "the cell holds the error #N/A; enter the value"),
        (4, "登记日期", "the cell holds the error #REF!; enter the value"),
        (5, "残疾情况", "the cell holds the error #VALUE!; enter the value"),
    ]
    assert [e for e in found if "error #" in e[2]] == expected, found
    # Each error rejects its row (a household of one), whatever its column would accept.
    assert {row for row, _, _ in found} == {2, 3, 4, 5}


def test_import_an_error_marker_shows_its_error_where_a_value_is_shortened():
    marker = error_value("#N/A")
    assert is_too_long(marker) and too_long_reason(marker).startswith("the cell holds the error")
    assert shorten(marker) == "#N/A"  # as an ignored header holding it is listed


def test_import_error_cells_read_alike_on_both_paths(tmp_path):
    path, _ = error_workbook(tmp_path)
    assert cells(path, CALAMINE) == cells(path, STREAMED)


# --- sheet XML cut off, shared strings missing --------------------------------------------------


@PATHS
def test_import_a_sheet_cut_off_fails_the_job_before_any_row(tmp_path, limit):
    path = workbook(tmp_path / "cut.xlsx", households(50, seed=310))
    cut = rewritten(path, SHEET, lambda xml: xml[: int(len(xml) * 0.6)])
    found = items(cut, limit)
    assert isinstance(found[-1], Failed), found[-1]
    assert found[-1].reason.startswith("the workbook cannot be read: "), found[-1].reason
    assert not any(isinstance(item, PreparedChunk) for item in found)


@pytest.mark.parametrize("where", [b"</row>", b"<row ", b'<c r="', b"</sheetData>"])
def test_import_the_row_reader_refuses_xml_ending_before_its_rows_do(where):
    """Cut anywhere before </sheetData> (inside a row, between rows, just before the end), the
    rows' XML fails the file instead of giving the rows before the cut."""
    xml = inline_sheet(single_households(3, seed=320))
    end = xml.rfind(where) + (len(where) if where == b"</row>" else 2)
    reader = xlsx_stream._whole_rows(iter([xml[:end]]), 1 << 20)
    with pytest.raises(UnreadableFile, match="cut off"):
        for body in reader:
            list(xlsx_stream._row_parts(body))


@pytest.mark.parametrize("body", [b'<row r="1"><c r="A1"><v>1</v></c>', b'<row r="1" spans'])
def test_import_a_row_without_its_end_is_refused(body):
    with pytest.raises(UnreadableFile, match="ends inside a row"):
        list(xlsx_stream._row_parts(b'<row r="0"/>' + body))


def test_import_missing_shared_strings_are_named(tmp_path):
    path = workbook(tmp_path / "sst.xlsx", single_households(2, seed=330))
    damaged = rewritten(path, "xl/sharedStrings.xml", None)
    found = items(damaged, STREAMED)
    assert isinstance(found[-1], Failed), found[-1]
    assert "shared strings" in found[-1].reason and "no rows" not in found[-1].reason
    calamine = items(damaged, CALAMINE)
    assert isinstance(calamine[-1], Failed)
    assert calamine[-1].reason.startswith("the workbook cannot be read: ")


# --- a namespace prefix --------------------------------------------------------------------------


@PATHS
def test_import_a_prefixed_sheet_reads_as_an_unprefixed_one(tmp_path, limit):
    rows = single_households(3, seed=340)
    base = workbook(tmp_path / "base.xlsx", [])
    plain = rewritten(base, SHEET, lambda _: inline_sheet(rows))
    prefixed = rewritten(base, SHEET, lambda _: inline_sheet(rows, "x"))
    assert cells(prefixed, limit) == cells(plain, limit)
    assert errors(prefixed, limit) == []
    (chunk,) = [i for i in items(prefixed, limit) if isinstance(i, PreparedChunk)]
    assert len(chunk.household_keys) == 3


@pytest.mark.parametrize("block", [5, 7, 64, 1000])
def test_import_a_prefix_cut_by_a_block_end_is_read(tmp_path, monkeypatch, block):
    rows = single_households(2, seed=350)
    base = workbook(tmp_path / "base.xlsx", [])
    plain = cells(rewritten(base, SHEET, lambda _: inline_sheet(rows)), STREAMED)
    prefixed = rewritten(base, SHEET, lambda _: inline_sheet(rows, "x"))
    monkeypatch.setattr(xlsx_stream, "BLOCK", block)
    assert cells(prefixed, STREAMED) == plain


# --- escapes and character references ------------------------------------------------------------

TEXTS = {
    "_x000D_末": None,
    "A_x0041_": "AA",
    "_x005F_x0041_": "_x0041_",
    "_x004a_": "J",
    "_x00e9_x0041_": "éx0041_",
    "_x4E00_": "_x4E00_",  # beyond U+00FF: python-calamine keeps it as written
    "_x00411_": "_x00411_",
    "&#65;&amp;&lt;": "A&<",
    "&#95;x0041_": "A",
}


@PATHS
def test_import_text_escapes_read_as_python_calamine_reads_them(tmp_path, limit):
    rows = single_households(1, seed=360)
    column = at("户属性")
    raw = {(0, column + i): text for i, text in enumerate(TEXTS)}
    base = workbook(tmp_path / "base.xlsx", [])
    path = rewritten(base, SHEET, lambda _: inline_sheet(rows, raw=raw))
    (row,) = cells(path, limit)
    read = row[column : column + len(TEXTS)]
    assert read[1:] == [v for v in TEXTS.values() if v is not None]
    assert read[0] == "末"  # _x000D_ is a carriage return, then stripped


def test_import_escapes_in_shared_strings_read_alike_on_both_paths(tmp_path):
    rows = single_households(1, seed=370)
    rows[0][at("残疾情况")] = "ESCAPED"
    path = workbook(tmp_path / "shared.xlsx", rows)
    path = rewritten(
        path,
        "xl/sharedStrings.xml",
        lambda xml: xml.replace(b">ESCAPED<", b">A_x0041__x005F_x0042_&#11;&#x1;<"),
    )
    read = [row[at("残疾情况")] for row in cells(path, STREAMED)]
    assert read == [row[at("残疾情况")] for row in cells(path, CALAMINE)]
    assert read == ["AA_x0042_\x0b\x01"]


@PATHS
def test_import_a_control_character_reference_is_refused_by_the_row(tmp_path, limit):
    rows = single_households(1, seed=380)
    rows[0][at("健康状况")] = "残疾"
    base = workbook(tmp_path / "base.xlsx", [])
    raw = {(0, at("残疾情况")): "a&#11;b", (0, at("劳动技能")): "_x0000_普通劳动力"}
    path = rewritten(base, SHEET, lambda _: inline_sheet(rows, raw=raw))
    found = errors(path, limit)
    assert (2, "残疾情况", "contains control characters") in found, found
    assert (2, "劳动技能", "contains control characters") in found, found


# --- markers no file can pose as ------------------------------------------------------------------


def test_import_a_nul_after_the_sample_is_a_control_character_not_a_lost_number(tmp_path):
    rows = households(400, seed=390)
    rows[-1][at("健康状况")] = "残疾"
    rows[-1][at("残疾情况")] = "\x00abc"
    rows[-2][at("姓名")] = "\x01"
    path = csv_file(tmp_path / "nul.csv", rows)
    assert path.stat().st_size > 64 * 1024
    found = errors(path)
    last = len(rows) + 1
    assert (last, "残疾情况", "contains control characters") in found, found
    assert (last - 1, "姓名", "contains control characters") in found, found
    assert not any("15 significant digits" in r or "formula" in r for _, _, r in found)


def test_import_a_few_nul_bytes_in_the_sample_are_row_errors_not_a_binary_file(tmp_path):
    rows = households(3, seed=400)
    rows[1][at("健康状况")] = "残疾"
    rows[1][at("残疾情况")] = "a\x00b"
    path = csv_file(tmp_path / "nul.csv", rows)
    assert sniff(path).kind == "csv"
    assert (3, "残疾情况", "contains control characters") in errors(path)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(",".join(HEADERS).encode() + b"\n" + b"a\x00b\x00c\x00,\n" * 100)
    with pytest.raises(UnreadableFile, match="binary"):
        sniff(binary)


MARKER_TEXTS = [LOSSY_NUMBER + "123456789012345678", FORMULA_WITHOUT_VALUE, "\ufdd2" + "40000"]


def test_import_marker_characters_in_a_csv_are_replaced(tmp_path):
    rows = single_households(3, seed=410)
    for row, text in zip(rows, MARKER_TEXTS, strict=True):
        row[at("残疾情况")] = text
        row[at("健康状况")] = "残疾"
    path = csv_file(tmp_path / "markers.csv", rows)
    read = [row[at("残疾情况")] for row in cells(path, STREAMED)]
    assert read == ["\ufffd" + text[1:] for text in MARKER_TEXTS]
    found = errors(path)
    assert not any(
        "significant digits" in r or "formula" in r or "characters; a cell" in r
        for _, _, r in found
    ), found


@PATHS
def test_import_marker_characters_in_a_workbook_are_replaced(tmp_path, limit):
    rows = single_households(1, seed=420)
    base = workbook(tmp_path / "base.xlsx", [])
    column = at("残疾情况")
    raw = {
        (0, column): escape(MARKER_TEXTS[0]),
        (0, column + 1): "&#xFDD1;",
        (0, column + 2): "\ufdd2_x0034_0000",
    }
    path = rewritten(base, SHEET, lambda _: inline_sheet(rows, raw=raw))
    (row,) = cells(path, limit)
    assert row[column : column + 3] == ["\ufffd123456789012345678", "\ufffd", "\ufffd40000"]


@PATHS
def test_import_marker_characters_in_shared_strings_are_replaced(tmp_path, limit):
    rows = single_households(1, seed=430)
    rows[0][at("残疾情况")] = FORMULA_WITHOUT_VALUE
    path = workbook(tmp_path / "shared.xlsx", rows)
    assert cells(path, limit)[0][at("残疾情况")] == "\ufffd"


# --- GB18030 with a few damaged lines ----------------------------------------------------------


def test_import_a_damaged_gb18030_line_in_the_sample_is_one_row_error(tmp_path):
    rows = households(30, seed=440)
    raw = csv_file(tmp_path / "gbk.csv", rows, "gb18030").read_bytes()
    lines = raw.split(b"\r\n")
    name = rows[2][at("姓名")].encode("gb18030")
    assert name in lines[3]
    lines[3] = lines[3].replace(name, b"\x81\x20", 1)  # line 4: row 4
    path = tmp_path / "damaged.csv"
    path.write_bytes(b"\r\n".join(lines))
    assert sniff(path).encoding == "gb18030"
    found = errors(path)
    assert any(
        (row, column) == (4, "") and reason.startswith("line 4 is not valid GB18030 text")
        for row, column, reason in found
    ), found
    assert {row for row, _, _ in found} <= {
        number for number, row in enumerate(rows, start=2) if row[:2] == rows[2][:2]
    }


# --- merged cells whose covered cells hold values -----------------------------------------------


@PATHS
def test_import_a_merged_cell_shows_its_first_value_on_every_row_it_covers(tmp_path, limit):
    rows = single_households(3, seed=450)
    rows.append(list(rows[2]))
    number, ethnicity = at("户编号"), at("民族")
    rows[2][ethnicity] = ""  # the first cell of an area that shows nothing
    rows[3][ethnicity] = "满族"  # and a value the area hides

    def merge(book, sheet) -> None:
        # The covered cells keep their values, as xlsxwriter and openpyxl write them.
        sheet.merge_range(1, number, 2, number, rows[0][number])
        sheet.merge_range(3, ethnicity, 4, ethnicity, "")

    path = workbook(tmp_path / "merged.xlsx", rows, merge)
    read = cells(path, limit)
    assert [r[number] for r in read] == ["S-0", "S-0", "S-2", "S-2"]
    assert [r[ethnicity] for r in read][2:] == ["", ""]


@PATHS
@pytest.mark.parametrize(
    ("written", "read"),
    [("2018-06-30T00:00:00", "2018-06-30"), ("2018-06-30T08:30:00", "2018-06-30 08:30:00")],
)
def test_import_a_date_cell_in_iso_text_reads_alike_on_both_paths(tmp_path, limit, written, read):
    rows = single_households(1, seed=380)
    rows[0][at("登记日期")] = "2018-06-30"
    path = workbook(tmp_path / "d.xlsx", rows)
    reference = f"{column_letter(at('登记日期'))}2"

    def typed(data: bytes) -> bytes:
        cell = re.compile(rb'<c r="' + reference.encode() + rb'"[^>]*>.*?</c>')
        replaced = f'<c r="{reference}" t="d"><v>{written}</v></c>'.encode()
        changed, count = cell.subn(replaced, data)
        assert count == 1
        return changed

    (row,) = cells(rewritten(path, SHEET, typed), limit)
    assert row[at("登记日期")] == read
