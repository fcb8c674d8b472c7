"""A streaming reader for large .xlsx sheets (the first worksheet), in bounded memory.

calamine reads a whole sheet into memory (about 2.8 GiB for 1,000,000 rows of the template),
so sheets above ``import_calamine_max_bytes`` come here: the sheet XML is decompressed and
scanned block by block with regular expressions, one row at a time. Shared strings (held once
in memory), inline strings, numbers, booleans, error cells, formula results (the cached value)
and date-formatted numbers are understood, with cell attributes in any order and cells without
a reference (they follow the cell before). A number is taken from its XML text, so an ID number
stored as a number with all 18 digits is recovered exactly; one already rounded (written in
exponent form) becomes a lossy-number marker. A formula without a calculated value (files
written by generators, workbooks set to manual calculation) becomes a marker that the row
validation rejects. Merged cells are listed at the end of the sheet XML: a first pass over the
decompressed XML (at the speed of decompression) finds them before any row is read. Workbooks
with the 1904 date system (``workbookPr/@date1904``) are read with their epoch.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import posixpath
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

from fupin_registry.imports.readers import (
    FORMULA_WITHOUT_VALUE,
    LOSSY_NUMBER,
    MAX_EXACT,
    FileFacts,
    RawRow,
    UnreadableFile,
)

BLOCK = 4 * 1024 * 1024
Area = tuple[int, int, int, int]
NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"

_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
# A cell: column letters, style and type in the order spreadsheet programs write them, any
# other attributes (``rest``: empty in the usual case, read again when it holds r, s or t),
# then either the text of the usual inline string (<is><t>…</t></is>, taken in the same
# match) or any other content. Each part is optional or bounded: no backtracking per cell.
_CELL = re.compile(
    rb'<c(?: r="([A-Z]{1,3})\d+")?(?: s="(\d+)")?(?: t="(\w+)")?([^>]*?)'
    rb"(?:/>|>(?:<is><t(?: [^>]*)?>([^<]+)</t></is>|(.*?))</c>)",
    re.S,
)
_ATTRIBUTE = re.compile(rb'\b([rst])="([^"]*)"')
_REFERENCE = re.compile(rb"^[A-Z]{1,3}[0-9]+$")
_VALUE = re.compile(rb"<v>([^<]*)</v>")
_TEXT = re.compile(rb"<t\b[^>]*>([^<]*)</t>")
_MERGE = re.compile(rb'<mergeCell\b[^>]*?\bref="([A-Z]+\d+):([A-Z]+\d+)"')
_INTEGER = re.compile(r"^-?[0-9]+$")
# Built-in number formats that show dates (ECMA-376 18.8.30, with the CJK ones).
_DATE_FORMATS = set(range(14, 23)) | set(range(27, 37)) | set(range(45, 48)) | set(range(50, 59))
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_EPOCH_1904 = dt.date(1904, 1, 1)  # workbooks with workbookPr/@date1904 (older Mac Excel)


def _unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def _row_parts(body: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(attributes, content) of each <row> element of ``body``, found with ``bytes.find``:
    a regular expression scanning each row's few kilobytes for its end costs several times
    more."""
    position = 0
    while (start := body.find(b"<row", position)) >= 0:
        position = start + 4
        if body[position : position + 1] not in (b" ", b">", b"/"):
            continue  # another element, e.g. <rowBreaks>
        close = body.find(b">", position)
        if close < 0:
            return
        if body[close - 1 : close] == b"/":  # <row …/>: no cells
            yield body[position : close - 1], b""
            position = close + 1
            continue
        end = body.find(b"</row>", close)
        if end < 0:
            return
        yield body[position:close], body[close + 1 : end]
        position = end + 6


@functools.cache
def _reference_up_to(last: int) -> re.Pattern[bytes]:
    """A reference to one of the columns 0 … ``last``, wherever it is: text that happens to look
    like one only sends the row to be read whole, and a pattern that starts with a literal is
    searched several times faster than one that first finds each cell's start."""
    names = b"|".join(_column_letters(index) for index in range(last + 1))
    return re.compile(rb'r="(?:' + names + rb")\d")


def _column_letters(index: int) -> bytes:
    letters = b""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = bytes([65 + rest]) + letters
    return letters


def _column_index(letters: bytes) -> int:
    index = 0
    for char in letters:
        index = index * 26 + (char - 64)
    return index - 1


def _workbook(archive: zipfile.ZipFile) -> tuple[str, dt.date]:
    """The first sheet's path in the archive and the epoch of the workbook's date serials."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    properties = workbook.find(f"{NS}workbookPr")
    date1904 = properties is not None and properties.get("date1904", "") in ("1", "true")
    return _first_sheet_path(archive, workbook), _EPOCH_1904 if date1904 else _EXCEL_EPOCH


def _first_sheet_path(archive: zipfile.ZipFile, workbook: ElementTree.Element) -> str:
    sheet = workbook.find(f"{NS}sheets/{NS}sheet")
    if sheet is None:
        raise UnreadableFile("the workbook has no worksheet")
    rel_id = sheet.get(f"{REL_NS}id")
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    for rel in rels:
        if rel.get("Id") == rel_id:
            target = rel.get("Target", "")
            return (
                target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
            )
    raise UnreadableFile("the workbook's first sheet cannot be found")


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    strings: list[str] = []
    with archive.open("xl/sharedStrings.xml") as handle:
        for _, element in ElementTree.iterparse(handle):
            if element.tag == f"{NS}si":
                # Rich text runs join; phonetic hints (rPh) are not part of the value.
                parts = [t.text or "" for t in element.iter(f"{NS}t")]
                phonetic = [
                    t.text or "" for rph in element.iter(f"{NS}rPh") for t in rph.iter(f"{NS}t")
                ]
                text = "".join(parts)
                if phonetic:
                    text = "".join(p for p in parts if p not in phonetic)
                strings.append(text)
                element.clear()
    return strings


def _date_styles(archive: zipfile.ZipFile) -> set[int]:
    """Indexes of cell formats (the ``s`` attribute) that display a date."""
    if "xl/styles.xml" not in archive.namelist():
        return set()
    styles = ElementTree.fromstring(archive.read("xl/styles.xml"))
    custom = {}
    for fmt in styles.iter(f"{NS}numFmt"):
        code = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", fmt.get("formatCode", "")).lower()
        custom[int(fmt.get("numFmtId", "0"))] = bool(re.search(r"[ymd]", code))
    cell_xfs = styles.find(f"{NS}cellXfs")
    dates = set()
    for index, xf in enumerate(cell_xfs if cell_xfs is not None else []):
        fmt_id = int(xf.get("numFmtId", "0"))
        if fmt_id in _DATE_FORMATS or custom.get(fmt_id, False):
            dates.add(index)
    return dates


def _number_text(raw: str, is_date: bool, epoch: dt.date) -> str:
    if is_date:
        try:
            serial = float(raw)
            day = epoch + dt.timedelta(days=int(serial))
            if serial.is_integer():
                return day.isoformat()
            # With its time of day, as the calamine path writes it: the row then refuses it.
            moment = dt.datetime.combine(epoch, dt.time()) + dt.timedelta(
                seconds=round(serial * 86400)  # to the second, as the spreadsheet shows it
            )
            return moment.isoformat(sep=" ", timespec="seconds")
        except (ValueError, OverflowError):
            return raw
    if _INTEGER.match(raw):
        # All digits as written, but 16 or more may be Excel's rounding of what was typed.
        return LOSSY_NUMBER + raw if len(raw.lstrip("-")) > 15 else raw
    try:
        value = float(raw)
    except ValueError:
        return raw
    if value.is_integer():
        if abs(value) >= MAX_EXACT:
            return LOSSY_NUMBER + f"{value:.15g}"
        return str(int(value))
    # 15 significant digits, as the spreadsheet shows it: 0.1+0.2 is 0.3, not 0.30000000000000004.
    return f"{value:.15g}"


def stream_rows(path: Path, facts: FileFacts) -> tuple[Iterator[RawRow], list[Area]]:
    """The sheet's rows (read lazily) and its merged areas (read first: the sheet XML lists
    them after the rows, and the rows they cover must be known before those rows are read)."""
    try:
        archive = zipfile.ZipFile(path)
        sheet_path, epoch = _workbook(archive)
        shared = _shared_strings(archive)
        dates = _date_styles(archive)
        merged = _merged_areas(archive, sheet_path)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc
    return _rows(archive, sheet_path, shared, dates, epoch, facts), merged


def _merged_areas(archive: zipfile.ZipFile, sheet_path: str) -> list[Area]:
    """(first row, first column, last row, last column) of each merged area, 1-based rows and
    0-based columns as calamine reports them. Only the text after </sheetData> is searched."""
    tail = b""
    rest: list[bytes] = []
    with archive.open(sheet_path) as handle:
        while block := handle.read(BLOCK):
            if rest:
                rest.append(block)
                continue
            data = tail + block
            end = data.find(b"</sheetData>")
            if end >= 0:
                rest.append(data[end:])
            tail = data[-16:]
    areas = []
    for first, last in _MERGE.findall(b"".join(rest)):
        (c1, r1), (c2, r2) = _reference(first), _reference(last)
        areas.append((min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)))
    return areas


def _reference(ref: bytes) -> tuple[int, int]:
    letters = ref.rstrip(b"0123456789")
    return _column_index(letters), int(ref[len(letters) :])


class _BadCell(Exception):
    """A cell the sheet's XML describes wrongly: its row gets the reason, the cell stays empty."""


def _cell_attributes(
    letters: bytes, style: bytes, kind: bytes, rest: bytes
) -> tuple[bytes, bytes, bytes]:
    """Column letters, style and type of a cell whose attributes come in another order."""
    for name, value in _ATTRIBUTE.findall(rest):
        if name == b"r":
            if not _REFERENCE.match(value):
                raise _BadCell(
                    f"a cell's reference {value.decode(errors='replace')!r} is not valid"
                )
            letters = value.rstrip(b"0123456789")
        elif name == b"s":
            if not value.isdigit():
                shown = value.decode(errors="replace")
                raise _BadCell(f"a cell's style {shown!r} is not valid")
            style = value
        else:
            kind = value
    return letters, style, kind


class _Decoder:
    """Cell values of the sheet's rows, from the XML of each row."""

    def __init__(self, shared: list[str], dates: set[int], epoch: dt.date) -> None:
        self.shared = shared
        self.dates = dates
        self.epoch = epoch
        self.columns: dict[bytes, int] = {}  # column letters → index
        self.formulas = 0  # cells holding a formula with its calculated value
        self.problem: str | None = None  # of the row just decoded: what its bad cells were

    def _index(self, letters: bytes, previous: int) -> int:
        if not letters:
            return previous + 1  # a cell without a reference follows the one before
        index = self.columns.get(letters, -1)
        if index < 0:
            index = self.columns[letters] = _column_index(letters)
        return index

    def _text(self, style: bytes, kind: bytes, inline: bytes, content: bytes) -> str | None:
        """The cell's text; None for a cell without a value."""
        if inline:  # the common case, as xlsxwriter and others write text
            return _unescape(inline.decode()).strip()
        if not content:
            return None
        if kind == b"inlineStr":
            return _unescape(b"".join(_TEXT.findall(content)).decode()).strip()
        value = _VALUE.search(content)
        if b"<f" in content:
            if value is None or not value.group(1):
                return FORMULA_WITHOUT_VALUE
            self.formulas += 1
        if value is None:
            return None
        raw = value.group(1).decode()
        if kind == b"s":
            if not raw.isdigit() or int(raw) >= len(self.shared):
                raise _BadCell(f"shared string {raw!r} is not in the workbook's table")
            text = self.shared[int(raw)]
        elif kind == b"b":
            text = "是" if raw == "1" else "否"
        elif kind in (b"str", b"e", b"d"):
            text = _unescape(raw)
        else:
            text = _number_text(raw, bool(style) and int(style) in self.dates, self.epoch)
        return text.strip()

    def cells(self, inner: bytes) -> list[str]:
        """The row's cell texts; a cell described wrongly stays empty and is named in
        ``self.problem``."""
        cells: list[str] = []
        index = -1
        columns = self.columns
        problems: list[str] = []
        # _index and _text written out for the usual cell: this runs for every cell of a sheet.
        for letters, style, kind, rest, inline, content in _CELL.findall(inner):
            if rest and (b'r="' in rest or b's="' in rest or b't="' in rest):
                try:
                    letters, style, kind = _cell_attributes(letters, style, kind, rest)
                except _BadCell as bad:
                    problems.append(str(bad))
                    continue
            if letters:
                index = columns.get(letters, -1)
                if index < 0:
                    index = columns[letters] = _column_index(letters)
            else:
                index += 1
            if index >= len(cells):
                cells.extend([""] * (index + 1 - len(cells)))
            if inline:
                cells[index] = _unescape(inline.decode()).strip()
            elif content:
                try:
                    text = self._text(style, kind, inline, content)
                except _BadCell as bad:
                    problems.append(f"column {_column_letters(index).decode()}: {bad}")
                    continue
                if text is not None:
                    cells[index] = text
        self.problem = "; ".join(problems) if problems else None
        return cells

    def keys(self, inner: bytes, first: int, second: int) -> tuple[str, str] | None:
        """The texts of two columns, reading no cell after them; None when the whole row must
        be read to know them for certain (cells out of order, or formulas, which are counted)."""
        if b"<f" in inner:
            return None
        wanted = {first: "", second: ""}
        last, index = max(first, second), -1
        for match in _CELL.finditer(inner):
            letters, style, kind, rest, inline, content = match.groups()
            try:
                if rest and (b'r="' in rest or b's="' in rest or b't="' in rest):
                    letters, style, kind = _cell_attributes(letters, style, kind, rest)
                previous, index = index, self._index(letters, index)
                if index <= previous:
                    return None
                if index in wanted:
                    wanted[index] = self._text(style, kind, inline, content or b"") or ""
            except _BadCell:
                return None  # read whole, the row reports the cell
            if index >= last:
                # A later cell naming a column up to the keys' would overwrite a key when the
                # row is read whole: one search for such a reference, not a look at each cell.
                if _reference_up_to(last).search(inner, match.end()):
                    return None
                break
        return wanted[first], wanted[second]


class SheetRow(RawRow):
    """A row of the streamed sheet whose cells are read when first asked for: a parser process
    reading past other processes' chunks needs only each row's household key."""

    def __init__(self, number: int, inner: bytes, decoder: _Decoder) -> None:
        self.number = number
        self.problem = None
        self._inner = inner
        self._decoder = decoder
        self._cells: list[str] | None = None

    @property  # type: ignore[override]
    def cells(self) -> list[str]:
        if self._cells is None:
            self._cells = self._decoder.cells(self._inner)
            self.problem = self._decoder.problem
            self._inner = b""
        return self._cells

    @cells.setter
    def cells(self, value: list[str]) -> None:
        self._cells = value

    def keys(self, first: int, second: int, *, whole: bool = True) -> tuple[str, str]:
        if self._cells is None and not whole:
            found = self._decoder.keys(self._inner, first, second)
            if found is not None:
                return found
        return super().keys(first, second, whole=whole)


def _rows(
    archive: zipfile.ZipFile,
    sheet_path: str,
    shared: list[str],
    dates: set[int],
    epoch: dt.date,
    facts: FileFacts,
) -> Iterator[RawRow]:
    decoder = _Decoder(shared, dates, epoch)
    with archive, archive.open(sheet_path) as handle:
        next_number = 1
        for body in _whole_rows(handle):
            for attrs, inner in _row_parts(body):
                numbered = _ROW_NUMBER.search(attrs)
                number = int(numbered.group(1)) if numbered else next_number
                next_number = number + 1
                yield SheetRow(number, inner, decoder)
    if decoder.formulas:
        facts.notes.append(
            f"{decoder.formulas} cells hold formulas; their last calculated values were imported"
        )


def formulas_without_value(path: Path) -> set[tuple[int, int]]:
    """(row, column) of the first sheet's formula cells that hold no calculated value, for
    the calamine reader, which reads them as empty cells. Only a sheet holding formulas is
    parsed: most hold none, and the search for "<f" runs at the speed of decompression."""
    found: set[tuple[int, int]] = set()
    with zipfile.ZipFile(path) as archive:
        sheet_path = _first_sheet_path(
            archive, ElementTree.fromstring(archive.read("xl/workbook.xml"))
        )
        with archive.open(sheet_path) as handle:
            next_number = 1
            for body in _whole_rows(handle):
                if b"<f" not in body:
                    # Rows without a number attribute count on from the rows skipped here.
                    next_number += body.count(b"<row ") + body.count(b"<row>")
                else:
                    for attrs, inner in _row_parts(body):
                        numbered = _ROW_NUMBER.search(attrs)
                        number = int(numbered.group(1)) if numbered else next_number
                        next_number = number + 1
                        if b"<f" not in inner:
                            continue
                        index = -1
                        for letters, style, kind, rest, _, content in _CELL.findall(inner):
                            if rest and (b'r="' in rest or b's="' in rest or b't="' in rest):
                                letters, style, kind = _cell_attributes(letters, style, kind, rest)
                            index = _column_index(letters) if letters else index + 1
                            if b"<f" in content:
                                value = _VALUE.search(content)
                                if value is None or not value.group(1):
                                    found.add((number, index))
    return found


def _whole_rows(handle: IO[bytes]) -> Iterator[bytes]:
    """The sheet XML read in blocks, each cut after a row's end (the last: whatever remains),
    so that no row is split between two blocks."""
    tail = b""
    while True:
        block = handle.read(BLOCK)
        data = tail + block
        if not block:
            yield data
            return
        end = data.rfind(b"</row>") + len(b"</row>")
        if end < len(b"</row>"):
            tail = data
            continue
        body, tail = data[:end], data[end:]
        yield body
