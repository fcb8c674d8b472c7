"""Bounds on what an uploaded file can make the import read, hold and store: workbooks that
unpack to far more than they weigh, huge cells, rows, shared strings and CSV lines, values and
headers stored for reports, and files of byte order marks only.

Big workbooks are written from generators straight into the archive's deflated entries, so a
part of tens of megabytes never exists whole in the test's memory; peaks are measured with
tracemalloc (Python's own allocations, where every buffer of the readers lives)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import struct
import tracemalloc
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from import_support import producer_config

from fupin_registry.config import Settings
from fupin_registry.imports import readers
from fupin_registry.imports.columns import HEADERS, column_letter
from fupin_registry.imports.limits import EXCEL_CELL_CHARS, ReadLimits, too_long
from fupin_registry.imports.pipeline import (
    Failed,
    Finished,
    Opened,
    PreparedChunk,
    ProducerConfig,
    produce,
)
from fupin_registry.imports.readers import FileFacts, UnreadableFile, open_sheet, sniff
from fupin_registry.imports.samples import HouseholdMaker, header
from fupin_registry.imports.xlsx_parts import WorkbookParts

MiB = 1024 * 1024
# Only the bound under test: the ratio check would refuse most of these files first.
NO_RATIO = ReadLimits(max_ratio=10**9)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"


# --- workbooks written from generators --------------------------------------------------------


def write_workbook(
    path: Path,
    rows: Iterable[bytes],
    shared: Iterable[bytes] | None = None,
    after_rows: Iterable[bytes] = (),
) -> Path:
    """An .xlsx of the given sheet rows (and shared strings), each part written piece by piece
    into its deflated entry; readable by python-calamine and by the streaming reader."""
    shared_type = (
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{_PKG}/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            f"{shared_type if shared is not None else ''}</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1"'
            f' Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            '<sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        shared_rel = (
            f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PKG}/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f"{shared_rel if shared is not None else ''}</Relationships>",
        )
        if shared is not None:
            write_part(
                archive,
                "xl/sharedStrings.xml",
                [f'<sst xmlns="{_MAIN}">'.encode(), *shared, b"</sst>"],
            )
        write_part(
            archive,
            "xl/worksheets/sheet1.xml",
            [
                f'<worksheet xmlns="{_MAIN}"><sheetData>'.encode(),
                *rows,
                b"</sheetData>",
                *after_rows,
                b"</worksheet>",
            ],
        )
    return path


def write_part(archive: zipfile.ZipFile, name: str, pieces: Iterable[bytes]) -> None:
    with archive.open(name, "w", force_zip64=True) as out:
        for piece in pieces:
            out.write(piece)


def cell(column: int, row: int, text: str) -> bytes:
    return (
        f'<c r="{column_letter(column)}{row}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'
    ).encode()


def row_xml(number: int, cells: list[str], extra: bytes = b"") -> bytes:
    inner = b"".join(cell(i, number, text) for i, text in enumerate(cells) if text)
    return f'<row r="{number}">'.encode() + inner + extra + b"</row>"


def header_row() -> bytes:
    return row_xml(1, list(HEADERS))


def household(seed: int = 3) -> list[list[str]]:
    return [list(r) for r in next(HouseholdMaker(["220102001001"], seed=seed).households(1))]


def repeated(piece: bytes, total: int) -> Iterator[bytes]:
    """``total`` bytes of ``piece`` repeated, a block at a time."""
    block = piece * (MiB // len(piece))
    for _ in range(total // len(block)):
        yield block


def huge_cell_row(number: int, column: int, size: int) -> Iterator[bytes]:
    yield f'<row r="{number}"><c r="{column_letter(column)}{number}" t="inlineStr"><is><t>'.encode()
    yield from repeated(b"a", size)
    yield b"</t></is></c></row>"


# --- running the reader and the pipeline ------------------------------------------------------


def config(path: Path, limits: ReadLimits, calamine_max_bytes: int = 0) -> ProducerConfig:
    return producer_config(path, calamine_max_bytes=calamine_max_bytes, limits=limits)


def items_of(path: Path, limits: ReadLimits = ReadLimits(), calamine_max_bytes: int = 0) -> list:
    return list(produce(config(path, limits, calamine_max_bytes)))


def failure(items: list) -> str:
    assert isinstance(items[-1], Failed), items[-1]
    return items[-1].reason


def errors_of(items: list) -> list:
    assert isinstance(items[-1], Finished), items[-1]
    return [e for item in items if isinstance(item, PreparedChunk) for e in item.errors]


def peak_mib(action: Callable[[], object]) -> tuple[object, float]:
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / MiB


# --- workbooks that unpack to far more than they weigh ----------------------------------------


def test_import_a_compression_bomb_is_refused_before_a_row_is_read(tmp_path):
    """64 MiB of one letter compress a thousand to one: no spreadsheet does that."""
    path = write_workbook(tmp_path / "bomb.xlsx", [header_row(), *huge_cell_row(2, 40, 64 * MiB)])
    assert path.stat().st_size < MiB
    items, peak = peak_mib(lambda: items_of(path))
    reason = failure(items)
    assert "unpacks to more than 100 times its compressed size" in reason, reason
    assert "import_xlsx_max_ratio" in reason
    assert not any(isinstance(item, Opened) for item in items)  # refused at once
    assert peak < 16, peak


def test_import_the_ratio_is_checked_on_the_bytes_really_unpacked(tmp_path, monkeypatch):
    """Without the early look at the sizes the archive declares, the bytes counted while the
    sheet is read refuse the file all the same, in bounded memory."""
    monkeypatch.setattr(WorkbookParts, "refuse_declared", lambda self, names: None)
    path = write_workbook(tmp_path / "bomb.xlsx", [header_row(), *huge_cell_row(2, 40, 64 * MiB)])
    items, peak = peak_mib(lambda: items_of(path))
    assert "times its compressed size" in failure(items)
    assert peak < 24, peak


def test_import_a_workbook_unpacking_to_more_than_the_total_is_refused(tmp_path):
    rows = [header_row()]
    for number in range(2, 3000):
        cells = household(seed=number)[0]
        rows.append(row_xml(number, cells))
    path = write_workbook(tmp_path / "big.xlsx", rows)
    limits = ReadLimits(max_unpacked_bytes=2 * MiB)
    reason = failure(items_of(path, limits))
    assert "unpacks to more than 2,097,152 bytes (import_xlsx_max_unpacked_bytes)" in reason
    assert isinstance(items_of(path)[-1], Finished)  # the default bound reads it


def test_import_a_row_longer_than_the_bound_fails_the_file_in_bounded_memory(tmp_path):
    path = write_workbook(tmp_path / "row.xlsx", [header_row(), *huge_cell_row(2, 40, 64 * MiB)])
    items, peak = peak_mib(lambda: items_of(path, NO_RATIO))
    reason = failure(items)
    assert reason.startswith("row 2 of the sheet is longer than 1,048,576 bytes of XML"), reason
    assert "import_max_row_bytes" in reason
    assert peak < 24, peak  # the 64 MiB row is never held whole


def test_import_a_long_row_inside_one_block_fails_the_file_too(tmp_path):
    """A row shorter than the reader's 4 MiB block is measured on its own."""
    path = write_workbook(tmp_path / "row.xlsx", [header_row(), *huge_cell_row(2, 40, 2 * MiB)])
    limits = ReadLimits(max_ratio=10**9, max_row_bytes=256 * 1024)
    assert failure(items_of(path, limits)).startswith("row 2 of the sheet is longer than 262,144")


def test_import_rows_near_the_bound_are_validated_a_few_at_a_time(tmp_path):
    """Rows of almost ``max_row_bytes`` each (many long cells in columns the template does not
    have) are held until validated: a batch is validated once it holds 32 MiB of them, not
    only after 2,000 rows, so that memory stays bounded."""
    rows = [row for seed in range(60) for row in household(seed=100 + seed)][:120]
    long_cells = b"".join(
        b'<c r="%s%%d" t="inlineStr"><is><t>' % column_letter(40 + i).encode()
        + b"w" * 30_000
        + b"</t></is></c>"
        for i in range(30)
    )

    def sheet() -> Iterator[bytes]:
        yield header_row()
        for number, cells in enumerate(rows, start=2):
            yield row_xml(number, cells, long_cells.replace(b"%d", str(number).encode()))

    path = write_workbook(tmp_path / "wide.xlsx", sheet())
    items, peak = peak_mib(lambda: items_of(path, NO_RATIO))
    assert isinstance(items[-1], Finished), items[-1]
    assert sum(c.rows_read for c in items if isinstance(c, PreparedChunk)) == len(rows)
    assert peak < 80, peak  # the 120 rows hold 108 MB of text


def test_import_what_follows_the_rows_never_counts_as_a_long_row(tmp_path):
    """Merged cells listed after the rows, and trailing rows without cells (<row …/>), may run
    to megabytes in a spreadsheet a program saved; they are not a row too long."""
    rows = household(seed=5)
    sheet = [header_row(), *(row_xml(n, r) for n, r in enumerate(rows, start=2))]
    empty = (f'<row r="{n}" spans="1:36" ht="20" customHeight="1"/>' for n in range(100, 30_000))
    merges = (f'<mergeCell ref="AZ{n}:AZ{n + 1}"/>' for n in range(100, 60_000, 2))
    after = [b"<mergeCells>", *(m.encode() for m in merges), b"</mergeCells>"]
    path = write_workbook(
        tmp_path / "tail.xlsx", [*sheet, *(e.encode() for e in empty)], None, after
    )
    limits = ReadLimits(max_row_bytes=64 * 1024)
    sheet_rows = open_sheet(path, FileFacts("xlsx"), 0, limits)
    assert len(sheet_rows.merged) == 29_950
    assert [r.number for r in sheet_rows][: len(rows)] == list(range(2, len(rows) + 2))
    errors = errors_of(items_of(path, limits))
    assert errors == [], errors


# --- shared strings ---------------------------------------------------------------------------


def shared_string(text_pieces: Iterable[bytes]) -> Iterator[bytes]:
    yield b"<si><t>"
    yield from text_pieces
    yield b"</t></si>"


def shared_cell(column: int, row: int, index: int) -> bytes:
    return f'<c r="{column_letter(column)}{row}" t="s"><v>{index}</v></c>'.encode()


def test_import_a_huge_shared_string_is_never_held_and_rejects_its_row(tmp_path):
    rows = household(seed=7)
    name_at = HEADERS.index("姓名")
    first = row_xml(2, [c if i != name_at else "" for i, c in enumerate(rows[0])], b"")
    first = first.replace(b"</row>", shared_cell(name_at, 2, 1) + b"</row>")
    sheet = [header_row(), first, *(row_xml(n, r) for n, r in enumerate(rows[1:], start=3))]
    shared = [b"<si><t>short</t></si>", *shared_string(repeated(b"b", 64 * MiB))]
    path = write_workbook(tmp_path / "shared.xlsx", sheet, shared)
    items, peak = peak_mib(lambda: items_of(path, NO_RATIO))
    assert peak < 24, peak
    errors = [(e.row, e.column, e.value, e.reason) for e in errors_of(items) if e.row == 2]
    assert (
        2,
        "姓名",
        "",
        "the cell holds 67,108,864 characters; a cell holds at most 32,767 (Excel's limit)",
    ) in errors, errors


@pytest.mark.parametrize(
    ("limits", "strings", "reason"),
    [
        (
            ReadLimits(max_shared_strings=1000),
            [b"<si><t>%d</t></si>" % n for n in range(1001)],
            "more than 1,000 shared strings (import_xlsx_max_shared_strings)",
        ),
        (
            ReadLimits(max_shared_string_chars=100_000),
            [b"<si><t>" + b"c" * 20_000 + b"</t></si>"] * 6,
            "hold more than 100,000 characters (import_xlsx_max_shared_string_chars)",
        ),
    ],
)
def test_import_shared_strings_are_bounded_in_number_and_length(tmp_path, limits, strings, reason):
    path = write_workbook(tmp_path / "shared.xlsx", [header_row()], strings)
    assert reason in failure(items_of(path, limits))


def test_import_phonetic_hints_are_not_part_of_a_shared_string(tmp_path):
    rows = household(seed=8)
    name_at = HEADERS.index("姓名")
    name = rows[0][name_at]
    first = row_xml(2, [c if i != name_at else "" for i, c in enumerate(rows[0])])
    first = first.replace(b"</row>", shared_cell(name_at, 2, 0) + b"</row>")
    rich = (
        f"<si><r><t>{name[0]}</t></r><r><t>{name[1:]}</t></r>"
        '<rPh sb="0" eb="1"><t>ワン</t></rPh></si>'
    ).encode()
    sheet = [header_row(), first, *(row_xml(n, r) for n, r in enumerate(rows[1:], start=3))]
    path = write_workbook(tmp_path / "rich.xlsx", sheet, [rich])
    streamed = list(open_sheet(path, FileFacts("xlsx"), 0))
    assert streamed[0].cells[name_at] == name


# --- cells, stored values and ignored headers -------------------------------------------------


@pytest.mark.parametrize("calamine_max_bytes", [0, 64 * MiB], ids=["streamed", "calamine"])
def test_import_a_cell_longer_than_excel_allows_is_a_row_error_naming_its_column(
    tmp_path, calamine_max_bytes
):
    rows = household(seed=9)
    rows[0][HEADERS.index("残疾情况")] = "d" * 40_000
    sheet = [header_row(), *(row_xml(n, r) for n, r in enumerate(rows, start=2))]
    path = write_workbook(tmp_path / "cell.xlsx", sheet)
    errors = errors_of(items_of(path, calamine_max_bytes=calamine_max_bytes))
    assert (
        2,
        "残疾情况",
        "",
        "the cell holds 40,000 characters; a cell holds at most 32,767 (Excel's limit)",
    ) in [(e.row, e.column, e.value, e.reason) for e in errors], errors
    assert all(len(e.value) < 300 for e in errors)


def test_import_a_cell_of_exactly_excels_limit_is_read(tmp_path):
    rows = household(seed=10)
    rows[0][HEADERS.index("残疾情况")] = "d" * EXCEL_CELL_CHARS
    sheet = [header_row(), *(row_xml(n, r) for n, r in enumerate(rows, start=2))]
    path = write_workbook(tmp_path / "cell.xlsx", sheet)
    reasons = [e.reason for e in errors_of(items_of(path))]
    assert not any("Excel's limit" in r for r in reasons), reasons


def test_import_a_long_key_reads_alike_whether_the_row_is_read_whole_or_not():
    """A parser process reading past another's rows decodes only the household key: a key
    longer than Excel allows must be the same marker there as in the row read whole, or the
    processes would disagree on where households (and chunks) end."""
    from fupin_registry.imports.xlsx_stream import CellFormats, SheetRow, _Decoder

    inner = cell(0, 5, "220102001001") + cell(1, 5, "7" * 40_000) + cell(2, 5, "一般贫困户")
    decoder = _Decoder([], CellFormats(set(), {}), dt.date(1899, 12, 30))
    past = SheetRow(5, inner, decoder).keys(0, 1, whole=False)
    whole = SheetRow(5, inner, decoder).keys(0, 1, whole=True)
    assert past == whole == ("220102001001", too_long(40_000))


def test_import_a_cell_starting_like_the_marker_is_a_control_character_error(tmp_path):
    rows = household(seed=16)
    rows[0][HEADERS.index("残疾情况")] = "\x0212"
    path = csv_upload(tmp_path, header(), rows)
    reasons = [(e.column, e.reason) for e in errors_of(items_of(path)) if e.row == 2]
    assert ("残疾情况", "contains control characters") in reasons, reasons


def csv_upload(tmp_path: Path, head: list[str], rows: list[list[str]], prefix: bytes = b"") -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([head, *rows])
    path = tmp_path / "upload.csv"
    path.write_bytes(prefix + buffer.getvalue().encode("utf-8-sig"))
    return path


def test_import_error_values_and_ignored_headers_are_stored_shortened(tmp_path):
    rows = household(seed=11)
    rows[0][HEADERS.index("户属性")] = "低" * 5_000
    extra = ["x" * 5_000] + [f"备注{n}" for n in range(60)]
    path = csv_upload(tmp_path, header() + extra, [r + [""] * len(extra) for r in rows])
    items = items_of(path)
    opened = items[0]
    assert isinstance(opened, Opened)
    assert opened.ignored_columns[0] == "x" * 200 + "…(truncated, 5,000 characters)"
    assert len(opened.ignored_columns) == 51
    assert opened.ignored_columns[-1] == "…(and 11 more columns)"
    values = [e.value for e in errors_of(items) if e.column == "户属性"]
    assert values == ["低" * 200 + "…(truncated, 5,000 characters)"], values


# --- which workbooks python-calamine reads ----------------------------------------------------


def test_import_calamine_reads_only_workbooks_whose_shared_strings_fit_too(tmp_path):
    """A small sheet whose shared strings unpack to more than the budget is streamed:
    calamine would hold the shared strings in memory as well as the sheet."""
    from fupin_registry.imports.xlsx_stream import SheetRow

    strings = [b"<si><t>" + b"s%07d" % n * 20 + b"</t></si>" for n in range(12_000)]
    sheet = [header_row(), row_xml(2, household(seed=15)[0])]
    path = write_workbook(tmp_path / "shared.xlsx", sheet, strings)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size < 64 * 1024
        assert archive.getinfo("xl/sharedStrings.xml").file_size > MiB
    rows = list(open_sheet(path, FileFacts("xlsx"), MiB))
    assert [type(row) for row in rows] == [SheetRow]
    assert [type(row) for row in open_sheet(path, FileFacts("xlsx"), 4 * MiB)] != [SheetRow]


def declare_smaller(path: Path, name: str, declared: int) -> Path:
    """The same archive with ``name`` declaring ``declared`` unpacked bytes (local header and
    central directory), whatever it really unpacks to."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    position = data.find(b"PK\x01\x02")
    while position >= 0:
        length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + length] == name.encode():
            struct.pack_into("<I", data, position + 24, declared)
        position = data.find(b"PK\x01\x02", position + 4)
    lying = path.with_name("lying.xlsx")
    lying.write_bytes(bytes(data))
    return lying


def test_import_calamine_is_given_only_parts_that_really_fit_whatever_they_declare(
    tmp_path, monkeypatch
):
    rows = [header_row()] + [row_xml(n, household(seed=n)[0]) for n in range(2, 400)]
    honest = tmp_path / "honest.xlsx"
    with zipfile.ZipFile(honest, "w", zipfile.ZIP_DEFLATED) as archive:
        with zipfile.ZipFile(write_workbook(tmp_path / "w.xlsx", rows)) as source:
            for info in source.infolist():
                archive.writestr(info.filename, source.read(info.filename))
    path = declare_smaller(honest, "xl/worksheets/sheet1.xml", 1000)

    def calamine(*args, **kwargs):
        raise AssertionError("calamine was given a sheet beyond its budget")

    monkeypatch.setattr(readers, "_calamine_sheet", calamine)
    with pytest.raises(UnreadableFile) as error:
        list(open_sheet(path, FileFacts("xlsx"), 64 * 1024))
    assert "damaged" in str(error.value) or "CRC" in str(error.value), error.value


# --- CSV lines --------------------------------------------------------------------------------


def test_import_a_csv_line_longer_than_the_bound_fails_the_file_in_bounded_memory(tmp_path):
    path = tmp_path / "long.csv"
    with path.open("wb") as out:
        out.write(("\ufeff" + ",".join(header()) + "\n").encode())
        out.write(",".join(household(seed=12)[0]).encode() + b",")
        for block in repeated(b"z", 40 * MiB):
            out.write(block)
        out.write(b"\n")
    items, peak = peak_mib(lambda: items_of(path))
    reason = failure(items)
    assert reason.startswith("line 2 is longer than 1,048,576 bytes (import_max_row_bytes)"), reason
    assert peak < 16, peak


def test_import_an_unclosed_quote_fails_at_the_record_bound(tmp_path):
    """A quote never closed makes the rest of the file one record: it fails once the record
    passes the bound, not at the end of the file."""
    path = tmp_path / "quote.csv"
    rows = household(seed=13)
    lines = [",".join(header())] + [",".join(r) for r in rows]
    lines[1] = lines[1].replace(rows[0][HEADERS.index("姓名")], '"' + rows[0][22], 1)
    filler = [",".join(household(seed=s)[0]) for s in range(40)] * 60
    path.write_bytes(("\ufeff" + "\n".join(lines + filler) + "\n").encode())
    assert path.stat().st_size > 256 * 1024
    limits = ReadLimits(max_row_bytes=64 * 1024)
    reason = failure(items_of(path, limits))
    assert reason.startswith("the record starting at line 2 is longer than 65,536 bytes"), reason


def test_import_a_quote_left_open_to_the_end_of_the_file_fails_the_file(tmp_path):
    """Below the bound the rest of the file would be read into one cell (its rows lost without a
    word, the job completed): the file fails, naming the line the quote opens on."""
    path = tmp_path / "quote.csv"
    rows = household(seed=13) + household(seed=14) + household(seed=15)
    lines = [",".join(header())] + [",".join(r) for r in rows]
    lines[2] = lines[2].replace(rows[1][HEADERS.index("姓名")], '"' + rows[1][22], 1)
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode())
    reason = failure(items_of(path))
    assert reason.startswith("a quote opened at line 3 is not closed before the end of the file")


def test_import_rows_before_an_unreadable_point_are_kept_but_not_its_household(tmp_path):
    """The rows read before the file became unreadable are kept, as chunks committed before
    are; the household being read may go on past that point, so none of it is written."""
    path = tmp_path / "quote.csv"
    kept = household(seed=13)
    cut = next(h for h in (household(seed=s) for s in range(14, 60)) if len(h) >= 2)
    for row in cut:
        row[HEADERS.index("户编号")] = "000002"  # another household of the village
    lines = [",".join(header())] + [",".join(r) for r in kept + cut]
    opened = 1 + len(kept) + 2  # the line of the household's second row
    name = cut[1][HEADERS.index("姓名")]
    lines[opened - 1] = lines[opened - 1].replace(name, '"' + name, 1)
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode())
    items = items_of(path)
    assert failure(items).startswith(f"a quote opened at line {opened} is not closed")
    (chunk,) = [i for i in items if isinstance(i, PreparedChunk)]
    assert chunk.household_keys == [tuple(kept[0][:2])]
    assert (chunk.rows_valid, chunk.rows_rejected) == (len(kept), 1)
    (error,) = chunk.errors
    assert error.row == len(kept) + 2 and error.reason.startswith(
        "not imported: the household's rows may go on past where the file could not be read: "
        f"a quote opened at line {opened}"
    )


# --- CSV cells --------------------------------------------------------------------------------


def csv_file(tmp_path: Path, rows: list[list[str]], *, quoted: bool = False) -> Path:
    buffer = io.StringIO()
    quoting = csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL
    csv.writer(buffer, quoting=quoting).writerows([header(), *rows])
    path = tmp_path / "cells.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return path


def numbered(rows: list[list[str]], number: str) -> list[list[str]]:
    """``rows`` as household ``number`` (the samples all number their first household 000001)."""
    for row in rows:
        row[HEADERS.index("户编号")] = number
    return rows


@pytest.mark.parametrize(
    ("size", "quoted"),
    [(32_768, False), (40_000, False), (40_000, True), (200_000, False), (1_000_000, False)],
)
def test_import_a_csv_cell_longer_than_excel_allows_is_a_row_error_naming_its_column(
    tmp_path, size, quoted
):
    """As in a workbook: the row is rejected naming the column, the rest of the file is read
    (also a cell longer than the csv module's own field limit, on a line without quotes)."""
    rows = household(seed=9)
    rows[0][HEADERS.index("残疾情况")] = "d" * size
    other = numbered(household(seed=17), "000777")
    items = items_of(csv_file(tmp_path, rows + other, quoted=quoted))
    errors = errors_of(items)
    assert (
        2,
        "残疾情况",
        "",
        f"the cell holds {size:,} characters; a cell holds at most 32,767 (Excel's limit)",
    ) in [(e.row, e.column, e.value, e.reason) for e in errors], errors
    assert all(len(e.value) < 300 for e in errors)
    assert sum(c.rows_valid for c in items if isinstance(c, PreparedChunk)) == len(other)


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted"])
def test_import_a_csv_cell_of_exactly_excels_limit_is_read(tmp_path, quoted):
    rows = household(seed=10)
    rows[0][HEADERS.index("残疾情况")] = "d" * EXCEL_CELL_CHARS
    reasons = [e.reason for e in errors_of(items_of(csv_file(tmp_path, rows, quoted=quoted)))]
    assert not any("Excel's limit" in r for r in reasons), reasons


def test_import_long_csv_cells_are_not_held_while_their_rows_wait(tmp_path):
    """400 rows with a cell of 100,000 characters each: the cell is dropped as the line is read,
    not held with its row until the batch is validated (a batch may hold 32 MiB of file)."""
    rows = []
    for seed in range(400):
        row = household(seed=300 + seed)[0]
        row[HEADERS.index("户编号")] = f"L{seed:05d}"
        row[HEADERS.index("残疾情况")] = "d" * 100_000
        rows.append(row)
    path = csv_file(tmp_path, rows)
    assert path.stat().st_size > 40_000_000
    items, peak = peak_mib(lambda: items_of(path))
    assert peak < 16, peak
    reasons = [e.reason for e in errors_of(items)]
    assert sum("Excel's limit" in r for r in reasons) == 400


def test_import_a_long_csv_key_reads_alike_whether_the_row_is_read_whole_or_not(tmp_path):
    """A parser process reading past another's rows decodes only the household key: there too
    a cell longer than Excel allows is the marker, or the processes would disagree on where
    households (and chunks) end."""
    path = tmp_path / "key.csv"
    line = b"220102001001," + b"7" * 40_000 + b",\xe4\xb8\x80\xe8\x88\xac\n"
    path.write_bytes(",".join(HEADERS).encode() + b"\n" + line)
    (past,) = list(open_sheet(path, sniff(path), 0))
    (whole,) = list(open_sheet(path, sniff(path), 0))
    assert past.keys(0, 1, whole=False) == whole.keys(0, 1) == ("220102001001", too_long(40_000))
    assert whole.cells[2] == "一般"


# --- households of very many rows -------------------------------------------------------------


def one_household_of(tmp_path: Path, extra: int, then: list[list[str]]) -> tuple[Path, int]:
    """A household whose last row repeats ``extra`` times (same village and number), then
    ``then``; also the number of the household's rows."""
    rows = household(seed=21)
    path = tmp_path / "many.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerows([header(), *rows])
        writer.writerows(rows[-1] for _ in range(extra))
        writer.writerows(then)
    return path, len(rows) + extra


def test_import_a_household_of_more_rows_than_the_cap_is_rejected_with_its_rows(tmp_path):
    other = numbered(household(seed=22), "000777")
    path, size = one_household_of(tmp_path, 5_000, other)
    items = items_of(path, ReadLimits(max_household_rows=100))
    errors = errors_of(items)
    chunks = [c for c in items if isinstance(c, PreparedChunk)]
    assert sum(c.rows_read for c in chunks) == size + len(other)
    assert sum(c.rows_rejected for c in chunks) == size
    assert sum(c.rows_valid for c in chunks) == len(other)
    beyond = [e for e in errors if e.row == 102]
    assert [(e.column, e.value, e.reason) for e in beyond] == [
        (
            "",
            "",
            f"the household continues over {size - 100:,} more rows (rows 102 to {size + 1});"
            " a household may span at most 100 rows of a file (import_max_household_rows):"
            " none of its rows is imported",
        )
    ], beyond
    assert not [e for e in errors if e.row > 102], "rows past the cap are reported once"
    held = [(e.row, e.reason) for e in errors if e.row < 102]
    assert held == [
        (row, "not imported: the household's row(s) 102 have errors") for row in range(2, 102)
    ], held


def test_import_a_household_of_100000_rows_is_read_in_bounded_memory(tmp_path):
    """Only the first ``import_max_household_rows`` rows of a household are held (and reported
    row by row); a household spanning a whole file does not make the import hold the file."""
    other = numbered(household(seed=23), "000778")
    path, size = one_household_of(tmp_path, 100_000, other)
    items, peak = peak_mib(lambda: items_of(path))
    assert peak < 24, peak
    errors = errors_of(items)
    chunks = [c for c in items if isinstance(c, PreparedChunk)]
    assert sum(c.rows_read for c in chunks) == size + len(other)
    assert sum(c.rows_rejected for c in chunks) == size
    assert sum(c.rows_valid for c in chunks) == len(other)
    assert len(errors) < 2 * ReadLimits().max_household_rows, len(errors)


# --- byte order marks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [codecs.BOM_UTF8, codecs.BOM_UTF8 * 2, codecs.BOM_UTF8 + b"\r\n\r\n"]
)
def test_import_a_file_of_byte_order_marks_only_is_empty(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableFile, match="^the file is empty$"):
        sniff(path, "empty.csv")


def test_import_a_header_after_two_byte_order_marks_is_found(tmp_path):
    rows = household(seed=14)
    path = csv_upload(tmp_path, header(), rows, prefix=codecs.BOM_UTF8)
    items = items_of(path)
    assert isinstance(items[0], Opened), items
    assert sum(c.rows_valid for c in items if isinstance(c, PreparedChunk)) == len(rows)


# --- settings ---------------------------------------------------------------------------------


def test_import_read_limits_default_to_the_settings():
    assert ReadLimits.of(Settings(_env_file=None)) == ReadLimits()


def test_a_personal_number_in_an_ignored_header_is_masked_for_every_reader():
    from fupin_registry.imports.limits import listed

    shown = listed(["备注", "联系人13912345678", "2026-03-01"])
    assert shown == ["备注", "联系人13*******78", "2026-03-01"]
    assert listed(shown) == shown  # listing again changes nothing
