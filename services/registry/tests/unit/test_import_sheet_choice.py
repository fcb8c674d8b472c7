"""Which sheet of a workbook an import reads, and which reader reads it: the first visible
worksheet (not a hidden sheet of last year's rows, not a chart sheet), on both readers; a sheet
whose cells span a huge rectangle goes to the streaming reader; an encrypted workbook is named
as such."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlsxwriter

from fupin_registry.imports.limits import ReadLimits
from fupin_registry.imports.readers import FileFacts, UnreadableFile, open_sheet, sniff
from fupin_registry.imports.samples import HouseholdMaker, header
from fupin_registry.imports.xlsx_stream import SheetRow, calamine_misreads

VILLAGE = "220622100202"


def rows_of(seed: int) -> list[list[str]]:
    return [list(row) for row in next(iter(HouseholdMaker([VILLAGE], seed=seed).households(1)))]


def read(path: Path, whole: bool) -> list[list[str]]:
    sheet = open_sheet(path, sniff(path), calamine_max_bytes=10**9 if whole else 0)
    return [row.cells[: len(header())] for row in sheet]


def write(sheet, rows: list[list[str]]) -> None:
    sheet.write_row(0, 0, header())
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            sheet.write_string(number, column, value)


@pytest.mark.parametrize("whole", [True, False], ids=["calamine", "streaming"])
def test_a_hidden_first_sheet_is_passed_over_for_the_visible_one(tmp_path, whole):
    old, current = rows_of(1), rows_of(2)
    path = tmp_path / "hidden.xlsx"
    book = xlsxwriter.Workbook(str(path))
    hidden = book.add_worksheet("旧数据")
    visible = book.add_worksheet("贫困户信息")
    write(hidden, old)
    write(visible, current)
    visible.activate()
    hidden.hide()
    book.close()
    assert read(path, whole) == current


@pytest.mark.parametrize("whole", [True, False], ids=["calamine", "streaming"])
def test_a_chart_sheet_before_the_data_is_passed_over(tmp_path, whole):
    rows = rows_of(3)
    path = tmp_path / "chart.xlsx"
    book = xlsxwriter.Workbook(str(path))
    chart_sheet = book.add_chartsheet("图表")
    data = book.add_worksheet("数据")
    write(data, rows)
    chart = book.add_chart({"type": "column"})
    chart.add_series({"values": "='数据'!$T$2:$T$3"})
    chart_sheet.set_chart(chart)
    book.close()
    assert read(path, whole) == rows


@pytest.mark.parametrize("whole", [True, False], ids=["calamine", "streaming"])
def test_a_workbook_of_hidden_sheets_only_is_refused_saying_so(tmp_path, whole):
    path = tmp_path / "all-hidden.xlsx"
    book = xlsxwriter.Workbook(str(path))
    chart_sheet = book.add_chartsheet("图表")
    data = book.add_worksheet("数据")
    write(data, rows_of(4))
    chart = book.add_chart({"type": "column"})
    chart.add_series({"values": "='数据'!$T$2:$T$3"})
    chart_sheet.set_chart(chart)
    chart_sheet.activate()
    data.hide()
    book.close()
    with pytest.raises(UnreadableFile, match="no visible worksheet"):
        read(path, whole)


def test_one_stray_cell_far_away_sends_a_small_workbook_to_the_streaming_reader(tmp_path):
    """calamine would hold every cell from A1 to AJ1048576 (38 million) for a 3 KB file."""
    rows = rows_of(5)
    path = tmp_path / "stray.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    write(sheet, rows)
    sheet.write_string(1_048_575, 35, "x")
    book.close()
    assert calamine_misreads(path, ReadLimits())
    assert not calamine_misreads(path, ReadLimits(max_calamine_cells=40_000_000))
    sheet_rows = list(open_sheet(path, sniff(path), calamine_max_bytes=10**9))
    assert all(isinstance(row, SheetRow) for row in sheet_rows)
    assert [row.cells[: len(header())] for row in sheet_rows[: len(rows)]] == rows
    assert sheet_rows[-1].number == 1_048_576


def test_a_workbook_within_the_cell_limit_stays_with_calamine(tmp_path):
    path = tmp_path / "small.xlsx"
    book = xlsxwriter.Workbook(str(path))
    write(book.add_worksheet(), rows_of(6))
    book.close()
    assert not calamine_misreads(path, ReadLimits())


def ole2(tmp_path: Path, stream_name: str) -> Path:
    """An OLE2 compound file whose directory names one stream (enough for the sniffing)."""
    path = tmp_path / f"{stream_name}.xlsx"
    directory = stream_name.encode("utf-16-le").ljust(64, b"\0")
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000 + directory)
    return path


def test_an_encrypted_workbook_is_refused_naming_the_password(tmp_path):
    with pytest.raises(UnreadableFile, match="protected by a password"):
        sniff(ole2(tmp_path, "EncryptedPackage"))
    assert sniff(ole2(tmp_path, "Workbook")) == FileFacts("xls")


INCOME_HEADERS = ("工资性收入", "生产经营性收入", "财产性收入", "转移性收入", "生产经营性支出")


def two_row_header() -> tuple[list[str], list[str]]:
    """The template's header as counties often lay it out: the incomes under one group heading,
    their own names in the row below."""
    names = header()
    at = [names.index(name) for name in INCOME_HEADERS]
    top = [("收入情况（元）" if i == at[0] else "") if i in at else n for i, n in enumerate(names)]
    below = [n if i in at else "" for i, n in enumerate(names)]
    return top, below


@pytest.mark.parametrize("whole", [True, False], ids=["calamine", "streaming"])
def test_a_header_of_two_rows_reads_the_names_of_the_second(tmp_path, whole):
    rows = rows_of(7)
    top, below = two_row_header()
    path = tmp_path / "two-rows.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.merge_range(0, 0, 0, 5, "靖宇县建档立卡贫困户信息表")
    first = top.index("收入情况（元）")
    for column, name in enumerate(top):
        if column == first:
            sheet.merge_range(1, first, 1, first + len(INCOME_HEADERS) - 1, name)
        elif name:
            sheet.merge_range(1, column, 2, column, name)  # down over both header rows
    for column, name in enumerate(below):
        if name:
            sheet.write_string(2, column, name)
    for number, row in enumerate(rows, start=3):
        for column, value in enumerate(row):
            sheet.write_string(number, column, value)
    book.close()
    sheet_rows = open_sheet(path, sniff(path), calamine_max_bytes=10**9 if whole else 0)
    assert sheet_rows.header_row == 3
    assert {"wages", "production_costs"} <= sheet_rows.headers.positions.keys()
    assert "收入情况（元）" not in sheet_rows.headers.ignored
    read_rows = list(sheet_rows)
    assert read_rows[0].number == 4
    assert [row.cells[: len(header())] for row in read_rows] == rows


def test_a_data_row_under_a_one_row_header_is_not_taken_for_sub_headers(tmp_path):
    rows = rows_of(8)
    path = tmp_path / "one-row.csv"
    path.write_text("\n".join(",".join(r) for r in [header(), *rows]) + "\n", encoding="utf-8")
    sheet_rows = open_sheet(path, sniff(path), calamine_max_bytes=0)
    assert sheet_rows.header_row == 1
    assert [row.cells for row in sheet_rows] == rows


def test_an_xls_number_formatted_with_zeros_is_read_as_the_sheet_shows_it(tmp_path):
    """户编号 057173 typed as a number with the format 000000: read 057173, as the .xlsx readers
    read it, not 57173 (another household's key)."""
    import xlwt

    rows = rows_of(9)
    number_column = header().index("户编号")
    path = tmp_path / "padded.xls"
    book = xlwt.Workbook(encoding="utf-8")
    hidden = book.add_sheet("旧数据")
    sheet = book.add_sheet("贫困户信息")
    padded = xlwt.easyxf(num_format_str="000000")
    for column, name in enumerate(header()):
        sheet.write(0, column, name)
        hidden.write(0, column, name)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if column == number_column:
                sheet.write(number, column, 57173, padded)
            else:
                sheet.write(number, column, value)
    hidden.visibility = 1  # hidden: the visible sheet is read, its formats too
    sheet.set_selected(True)
    book.active_sheet = 1
    book.save(str(path))
    assert sniff(path).kind == "xls"
    read_rows = [row.cells[: len(header())] for row in open_sheet(path, sniff(path), 0)]
    assert [row[number_column] for row in read_rows] == ["057173"] * len(rows)
    assert read_rows == [
        [("057173" if c == number_column else v) for c, v in enumerate(row)] for row in rows
    ]
