"""Reading uploaded spreadsheets as rows of text, in bounded memory.

* CSV: UTF-8 (with or without BOM) or GB18030/GBK, detected from the first 64 KiB; decoded
  line by line so that one undecodable line rejects one row, not the file; a line without
  quotes is split only when its cells are needed (:class:`CsvLine`).
* XLSX whose sheet, shared strings and other parts really unpack to at most
  ``import_calamine_max_bytes``, and legacy XLS: python-calamine, which also reports merged
  cells. Larger XLSX workbooks, and those whose cells show numbers padded with zeros, refer to
  shared strings outside the table (which calamine reads as the first string) or hold a
  boolean other than 0 or 1 (which calamine refuses the workbook for):
  :mod:`.xlsx_stream`, a streaming reader.
  Both report merged cells before the first row; a merged cell one column wide is read as its
  value on every row it covers, as the spreadsheet shows it.

Every cell becomes text: ID numbers and dates must never pass through a float. A number cell
that cannot hold its digits exactly (more than 2^53, i.e. 16+ digits) becomes a
:data:`LOSSY_NUMBER` marker that the row validation rejects with the reason; so do a formula
without a calculated value and an error cell (#DIV/0!, #N/A, …) on both xlsx paths. Markers
start with Unicode noncharacters (U+FDD0–U+FDEF), which no text holds: every reader replaces
any of them in a file's text with U+FFFD, so no cell of a file can pose as a marker. Memory is
bounded by :mod:`.limits`: a CSV line or record longer than ``max_row_bytes`` fails
the file (it is never read whole), and a cell longer than Excel's limit, in a workbook or a CSV
file, becomes a marker.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fupin_registry.imports.columns import (
    HeaderError,
    HeaderMap,
    column_letter,
    header_score,
    map_headers,
)
from fupin_registry.imports.limits import EXCEL_CELL_CHARS, ReadLimits, capped

SNIFF_BYTES = 64 * 1024
HEADER_SEARCH_ROWS = 10
# Markers (with TOO_LONG and ERROR_VALUE of .limits) start with a Unicode noncharacter of
# U+FDD0–U+FDEF, which every reader replaces in a file's text (``file_text``).
# Marks a number whose digits were lost; the number follows.
LOSSY_NUMBER = "\ufdd0"
# Marks a formula cell that holds no calculated value (it would otherwise read as empty).
FORMULA_WITHOUT_VALUE = "\ufdd1"
_NONCHARACTER = re.compile("[\ufdd0-\ufdef]")
# The bytes every noncharacter of U+FDD0–U+FDEF starts with in each encoding a CSV file is read
# in, and the first of them: a line is searched for the pair only when it holds that byte (a
# search for one byte is several times cheaper, and the pair's, by a pattern, than ``in``).
_NONCHARACTER_BYTES = {
    "utf-8": (0xEF, re.compile(b"\xef\xb7")),
    "gb18030": (0x84, re.compile(b"\x84\x30")),
}
# A file of text may hold a few stray NUL bytes (each then a row error: the row validation
# refuses control characters); one with more than one in this many bytes is binary.
_NUL_BYTES_PER_TEXT = 100
# Excel keeps 15 significant digits of a number: one of 16 digits or more (a bank account, an ID
# number typed into a General column) may already have lost its last ones, and cannot be told
# from an exact one.
MAX_EXACT = 10**15


def file_text(text: str) -> str:
    """A file's text with any noncharacter of U+FDD0–U+FDEF, which markers start with,
    replaced by U+FFFD: no cell of a file can pose as a marker."""
    if text.isascii() or not _NONCHARACTER.search(text):
        return text
    return _NONCHARACTER.sub("\ufffd", text)


class UnreadableFile(ValueError):
    """The file is not a spreadsheet this service reads, with the precise reason."""


@dataclass
class FileFacts:
    kind: str  # csv, xlsx, xls
    encoding: str | None = None  # csv only
    notes: list[str] = field(default_factory=list)


def _without_boms(head: bytes) -> bytes:
    """The text after any byte order marks: a file that is only marks (some programs write
    one even for an empty file, or two when a marked text is saved again) is empty."""
    while head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    return head


_MARKUP = (b"<!doctype html", b"<html", b"<table", b"<?xml", b"<workbook")


# Where a line ends: LF, CR LF or a bare CR (as the csv module reads a file opened with
# newline="").
_LINE_END = re.compile(rb"\r\n|\r|\n")


def _place(data: bytes, offset: int) -> str:
    """Where a byte of a text file is, as an editor shows it: line and position in the line."""
    ends = list(_LINE_END.finditer(data, 0, offset))
    line_start = ends[-1].end() if ends else 0
    return f"line {len(ends) + 1} (position {offset - line_start + 1})"


def sniff(path: Path, file_name: str = "") -> FileFacts:
    """Decide what the upload is from its content (never trust the file name alone); the
    name only refuses text that claims to be an .xlsx workbook."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not _without_boms(head).strip():
        raise UnreadableFile("the file is empty")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile as exc:
            raise UnreadableFile(
                f"the file looks like an .xlsx workbook but is damaged: {exc}"
            ) from exc
        if "xl/workbook.xml" not in names:
            raise UnreadableFile(
                "the file is a ZIP archive but not an .xlsx workbook"
                " (an .ods, .docx or other archive?)"
            )
        return FileFacts("xlsx")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        if _encrypted_package(path):
            raise UnreadableFile(
                "the workbook is protected by a password (encrypted); open it, remove the"
                " password (File, Info, Protect Workbook) and save it again"
            )
        return FileFacts("xls")
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16's
        raise UnreadableFile(
            "the file is UTF-32 text; save it as 'CSV UTF-8' or as an .xlsx workbook"
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableFile(
            "the file is UTF-16 text; save it as 'CSV UTF-8' or as an .xlsx workbook"
        )
    if head.startswith(b"%PDF"):
        raise UnreadableFile("the file is a PDF document, not a spreadsheet")
    if head.count(b"\x00") * _NUL_BYTES_PER_TEXT > len(head):
        raise UnreadableFile("the file is binary, not a spreadsheet (.xlsx) or CSV text")
    start = head.removeprefix(codecs.BOM_UTF8).lstrip()[:200].lower()
    if start.startswith(_MARKUP):
        # Web systems often save an HTML table or an "XML Spreadsheet 2003" under an .xls name.
        raise UnreadableFile(
            "the file is an HTML or XML page, not a spreadsheet (a web page saved as .xls?);"
            " open it in the spreadsheet program and save it as .xlsx"
        )
    if file_name.lower().endswith((".xlsx", ".xlsm")):
        raise UnreadableFile(
            "the file is named .xlsx but holds text, not a workbook; save it as .xlsx"
            " in the spreadsheet program, or upload it as .csv"
        )
    return FileFacts("csv", encoding=detect_encoding(head))


# The stream an encrypted .xlsx is kept in inside its OLE2 (compound file) container, as the
# directory names it (UTF-16LE). A plain .xls has a "Workbook" stream instead.
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")


def _encrypted_package(path: Path) -> bool:
    """Whether an OLE2 file is a password-protected workbook (ECMA-376 agile or standard
    encryption), not an .xls."""
    carried = b""
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            if _ENCRYPTED_STREAM in carried + block:
                return True
            carried = block[-len(_ENCRYPTED_STREAM) :]
    return False


def _mostly(head: bytes, encoding: str) -> bool:
    """Nearly every whole line of the sample is in ``encoding``: a file with a few cells pasted
    in another encoding or a few damaged bytes (those lines are then rejected one by one, not
    the file).

    At most one line in twenty may fail, so a short GBK file is never taken for UTF-8: a few
    GBK names happen to be valid UTF-8 too (about 3 % of two-character names, 郑伟 among them),
    so a GBK list of a header and one such name would otherwise read as UTF-8."""
    # Only lines with non-ASCII bytes tell encodings apart; the last may be cut by the sample.
    lines = [line for line in _LINE_END.split(head)[:-1] if not line.isascii()]
    bad = 0
    for line in lines:
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            bad += 1
    return 0 < bad <= len(lines) // 20


def detect_encoding(head: bytes) -> str:
    """utf-8-sig when the sample is UTF-8 (or says so with a BOM, or nearly every line is),
    else gb18030 (which covers GBK and GB2312) when it is, or nearly every line is."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError as utf8_error:
        if _mostly(head, "utf-8"):
            return "utf-8-sig"
        try:
            codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
            return "gb18030"
        except UnicodeDecodeError as gb_error:
            if _mostly(head, "gb18030"):
                return "gb18030"
            raise UnreadableFile(
                "the text is neither UTF-8 nor GB18030/GBK: byte 0x"
                f"{head[utf8_error.start]:02X} at {_place(head, utf8_error.start)} is not UTF-8"
                f" and byte 0x{head[gb_error.start]:02X} at {_place(head, gb_error.start)} is not"
                " GB18030; save the file as 'CSV UTF-8' or .xlsx"
            ) from gb_error


@dataclass
class RawRow:
    number: int  # as the spreadsheet program shows it (1-based; the header is a row too)
    cells: list[str]
    problem: str | None = None  # set when the row could not be read faithfully
    # Bytes of the file the row was read from (0: not counted), to bound a batch of rows.
    size: int = field(default=0, compare=False, repr=False)

    def keys(self, first: int, second: int, *, whole: bool = True) -> tuple[str, str]:
        """The cells of two columns ("" beyond the row's end): the household key. ``whole``:
        the row's other cells will be needed too (a lazily read row is then read whole)."""
        cells = self.cells
        return (
            cells[first] if first < len(cells) else "",
            cells[second] if second < len(cells) else "",
        )


class SheetRows:
    """The data rows of the read sheet (the first visible worksheet) below the header, with
    the header mapping."""

    def __init__(self, rows: Iterator[RawRow], facts: FileFacts) -> None:
        self.facts = facts
        self._rows = rows
        self.header_row, self.headers = self._find_header()
        self.merged: list[
            tuple[int, int, int, int]
        ] = []  # (first row, first col, last row, last col)

    def _find_header(self) -> tuple[int, HeaderMap]:
        best: tuple[int, RawRow] | None = None
        for _ in range(HEADER_SEARCH_ROWS):
            row = next(self._rows, None)
            if row is None:
                break
            if not any(row.cells):
                continue
            score = header_score(row.cells)
            if best is None or score > best[0]:
                best = (score, row)
            if score >= 3:
                break
        if best is None:
            raise HeaderError("the sheet has no rows")
        score, row = best
        if score == 0:
            # The cells are not quoted: a file without its header row starts with a person's
            # data, and the job's reason is shown to callers without pii:read.
            filled = sum(1 for c in row.cells if c.strip())
            detail = f" (read as {self.facts.encoding})" if self.facts.encoding else ""
            raise HeaderError(
                f"no template header row found in the first {HEADER_SEARCH_ROWS} rows{detail}:"
                f" none of the {filled} cells of the first row is a template column name such as"
                " 证件号码 or 户编号; download the template from /v1/imports/template.xlsx"
            )
        return self._with_sub_headers(row)

    def _with_sub_headers(self, row: RawRow) -> tuple[int, HeaderMap]:
        """A header of two rows, as county templates often have one: a group heading such as
        收入情况（元） merged over its columns, their own names (工资性收入, …) in the row
        below, the other headings merged down over both rows. The row below is taken as sub-
        headers when its cells lie only under columns the first row does not name and one of
        them is a template column: a data row always fills columns the header names."""
        following = next(self._rows, None)
        if following is not None:
            named = {index for index, cell in enumerate(row.cells) if cell and header_score([cell])}
            filled = [(i, cell) for i, cell in enumerate(following.cells) if cell.strip()]
            if (
                filled
                and not any(index in named for index, _ in filled)
                and header_score([cell for _, cell in filled])
            ):
                cells = list(row.cells) + [""] * max(0, len(following.cells) - len(row.cells))
                for index, cell in filled:
                    cells[index] = cell
                return following.number, map_headers(cells)
            self._rows = itertools.chain([following], self._rows)
        return row.number, map_headers(row.cells)

    def __iter__(self) -> Iterator[RawRow]:
        columns = [
            m for m in self.merged if is_column_merge(m) and m[2] > m[0] and m[0] > self.header_row
        ]
        return _fill_down(self._rows, columns) if columns else self._rows

    def note_merged(self) -> None:
        if self.merged:
            ranges = ", ".join(merged_ref(m) for m in self.merged[:10])
            self.facts.notes.append(
                f"the sheet has merged cells ({ranges}); a merged cell one column wide counts"
                " as its value on every row it covers; rows under wider merged cells are rejected"
            )


def is_column_merge(area: tuple[int, int, int, int]) -> bool:
    """A merged range one column wide: its value stands for every row it covers."""
    return area[1] == area[3]


def _fill_down(rows: Iterator[RawRow], areas: list[tuple[int, int, int, int]]) -> Iterator[RawRow]:
    """The rows with each vertically merged cell's value on every row it covers, as the
    spreadsheet shows it: the value of the area's first cell, whatever the file holds in the
    cells it covers (programs often keep their former values there, hidden)."""
    waiting = sorted(areas, reverse=True)  # by first row, the next one last
    active: list[tuple[int, int, str]] = []  # (column, last row, value)
    for row in rows:
        number = row.number
        if not active and not (waiting and waiting[-1][0] <= number):
            yield row  # under no merged cell: its cells need not be read here
            continue
        cells = row.cells
        while waiting and waiting[-1][0] <= number:
            first, column, last, _ = waiting.pop()
            if first == number:
                active.append((column, last, cells[column] if column < len(cells) else ""))
            elif last >= number:  # its first row holds nothing: the area shows nothing
                active.append((column, last, ""))
        if active:
            active = [a for a in active if a[1] >= number]
            for column, _, value in active:
                if column < len(cells):
                    cells[column] = value
                elif value:
                    cells.extend([""] * (column - len(cells)))
                    cells.append(value)
        yield row


def open_sheet(
    path: Path, facts: FileFacts, calamine_max_bytes: int, limits: ReadLimits | None = None
) -> SheetRows:
    limits = limits or ReadLimits()
    if facts.kind == "csv":
        return SheetRows(_csv_rows(path, facts, limits.max_row_bytes), facts)
    if facts.kind == "xlsx":
        from fupin_registry.imports.xlsx_stream import (
            calamine_misreads,
            fits_in_memory,
            pads_numbers,
            stream_rows,
        )

        if (
            not fits_in_memory(path, calamine_max_bytes, limits)
            or pads_numbers(path, limits)
            or calamine_misreads(path, limits)
        ):
            rows, merged = stream_rows(path, facts, limits)
            sheet = SheetRows(rows, facts)
            sheet.merged = merged
            sheet.note_merged()
            return sheet
    return _calamine_sheet(path, facts, limits)


# --- CSV ------------------------------------------------------------------------------------


class CsvLine(RawRow):
    """A CSV record on one line without quotes, split when its cells are first asked for; a
    parser process reading past other processes' chunks decodes only the household key.

    The line is split at the delimiter before anything is decoded (an ASCII delimiter is never
    part of a UTF-8 or GB18030 character), so the key a process reads past and the cells the
    process that owns the row reads are the same text even on an undecodable line. A cell
    longer than Excel allows becomes the marker in both; only a line of more bytes than that
    many characters can hold one, so no other line's cells are measured."""

    def __init__(self, number: int, body: bytes, delimiter: str, encoding: str, line: int):
        self.number = number
        self.size = len(body)
        self._body = body
        self._delimiter = delimiter
        self._separator = delimiter.encode()  # the delimiter's byte, split on before decoding
        self._encoding = encoding
        self._line = line
        self._cells: list[str] | None = None
        self._problem: str | None = None

    def _read(self) -> list[str]:
        body = self._body
        try:
            text = body.decode(self._encoding)
            fields = text.split(self._delimiter) if text else []
        except UnicodeDecodeError as exc:
            self._problem = _undecodable(self._line, self._encoding, body, exc)
            fields = [
                field.decode(self._encoding, errors="replace")
                for field in body.split(self._separator)
            ]
        cells = list(map(str.strip, fields))
        if self.size > EXCEL_CELL_CHARS:
            cells = list(map(capped, cells))
        self._cells = cells
        self._body = b""
        return cells

    @property  # type: ignore[override]
    def cells(self) -> list[str]:
        return self._read() if self._cells is None else self._cells

    @cells.setter
    def cells(self, value: list[str]) -> None:
        self._cells = value

    @property  # type: ignore[override]
    def problem(self) -> str | None:
        if self._cells is None:
            self._read()
        return self._problem

    @problem.setter
    def problem(self, value: str | None) -> None:
        self._problem = value

    def keys(self, first: int, second: int, *, whole: bool = True) -> tuple[str, str]:
        if self._cells is None and not whole:
            parts = self._body.split(self._separator, max(first, second) + 1)
            encoding = self._encoding
            keys = (
                parts[first].decode(encoding, errors="replace").strip()
                if first < len(parts)
                else "",
                parts[second].decode(encoding, errors="replace").strip()
                if second < len(parts)
                else "",
            )
            if self.size > EXCEL_CELL_CHARS:  # as the whole line reads them: the marker
                return capped(keys[0]), capped(keys[1])
            return keys
        return super().keys(first, second, whole=whole)


def _undecodable(line: int, encoding: str, raw: bytes, exc: UnicodeDecodeError) -> str:
    return (
        f"line {line} is not valid {encoding.upper()} text"
        f" (byte 0x{raw[exc.start]:02X} at position {exc.start + 1})"
    )


def _csv_rows(path: Path, facts: FileFacts, max_line_bytes: int) -> Iterator[RawRow]:
    """The records of a CSV file. A line without quotes (nearly every line of a county's file)
    is one record, split by :class:`CsvLine`; a line with a quote is read by the csv module,
    over as many lines as its record spans. Lines end in LF, CR LF or a bare CR
    (:func:`_file_lines`), as the csv module reads a file opened with ``newline=""``.

    Lines are read at most ``max_line_bytes`` at a time: a longer line, or a record of the csv
    module longer than that over its lines, fails the file before it is held whole. A cell
    longer than Excel allows becomes the marker (a quoted one longer than the csv module's own
    field limit, 131,072 characters, fails the file with the module's reason)."""
    encoding = (facts.encoding or "utf-8-sig").removesuffix("-sig")
    # GBK and GB2312 are read as GB18030, whose bytes they share.
    lead, pair = _NONCHARACTER_BYTES.get(
        codecs.lookup(encoding).name, _NONCHARACTER_BYTES["gb18030"]
    )
    # Shorter lines take the quick path; a longer one is measured against the bound first.
    quick_limit = max_line_bytes - 2
    with path.open("rb") as handle:
        lines: Iterator[tuple[int, bytes]] = enumerate(_file_lines(handle, max_line_bytes), 1)
        first = next(lines, None)
        if first is None:
            return
        if first[1].startswith(codecs.BOM_UTF8) and facts.encoding == "utf-8-sig":
            first = (1, first[1][3:])
        ahead = []
        for line in itertools.islice(lines, HEADER_SEARCH_ROWS - 1):
            ahead.append(line)
            if len(line[1]) > max_line_bytes:
                break  # the file fails there: what follows is not another line
        lines = itertools.chain(ahead, lines)
        texts = [raw.decode(encoding, errors="replace") for _, raw in (first, *ahead)]
        delimiter = _delimiter(texts)
        problems: list[str] = []  # of the lines the csv module has read for the record

        def decoded(number: int, raw: bytes) -> str:
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                problems.append(_undecodable(number, encoding, raw, exc))
                text = raw.decode(encoding, errors="replace")
            return file_text(text) if lead in raw and pair.search(raw) else text

        last_line = 0  # the last line the csv module has read
        record_bytes = 0  # of the record the csv module is reading

        def following(start: int) -> Iterator[str]:
            nonlocal last_line, record_bytes
            for number, raw in lines:
                last_line = number
                record_bytes += len(raw)
                if record_bytes > max_line_bytes:
                    raise UnreadableFile(_record_too_long(start, max_line_bytes))
                yield decoded(number, raw)

        record = 0
        for number, raw in itertools.chain([first], lines):
            record += 1
            body = raw.removesuffix(b"\n").removesuffix(b"\r")
            if (
                b'"' not in body
                and b"\r" not in body
                and len(body) <= quick_limit
                # A line that may hold a noncharacter is read below, which replaces it.
                and not (lead in body and pair.search(body))
            ):
                yield CsvLine(record, body, delimiter, encoding, number)
                continue
            if len(raw) > max_line_bytes:
                raise UnreadableFile(_line_too_long(number, max_line_bytes))
            problems.clear()
            last_line, record_bytes = number, len(raw)
            # Strict: a quote left open would otherwise take every line after it into one
            # cell, and those rows would be lost without a word.
            reader = csv.reader(
                itertools.chain([decoded(number, raw)], following(number)),
                delimiter=delimiter,
                strict=True,
            )
            try:
                cells = next(reader)
            except csv.Error as exc:
                raise UnreadableFile(_malformed(number, last_line, exc)) from exc
            cells = list(map(str.strip, cells))
            if record_bytes > EXCEL_CELL_CHARS:  # only a record this long can hold such a cell
                cells = list(map(capped, cells))
            yield RawRow(record, cells, problems[-1] if problems else None, record_bytes)


def _delimiter(lines: list[str]) -> str:
    """The delimiter that splits one of the first lines into the most template headers (the
    header row may sit below a title line, and a remark cell may hold many of another
    delimiter); without any header, the one a line has most of (the file then fails on its
    header, naming what it found)."""

    def fitness(delimiter: str) -> tuple[int, int]:
        headers = 0
        for line in lines:
            try:
                cells = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
            except csv.Error:
                continue
            headers = max(headers, header_score(cells))
        return headers, max(line.count(delimiter) for line in lines)

    return max(",\t;", key=fitness)


# A carriage return that ends a line by itself: not the first half of CR LF, and not the last
# byte read, whose LF may be the first of the next read.
_BARE_CR = re.compile(rb"(?<=\r)(?!\n|\Z)")


def _file_lines(handle: BinaryIO, max_line_bytes: int) -> Iterator[bytes]:
    """The file's lines, each ending in LF, CR LF or a bare CR (as classic Mac spreadsheets
    write them, or one line pasted from such a file), read at most ``max_line_bytes`` + 1
    bytes at a time: a longer line comes out cut, and fails the file where it is read."""
    limit = max_line_bytes + 1
    carried = b""
    for chunk in iter(functools.partial(handle.readline, limit), b""):
        cut = len(chunk) == limit and not chunk.endswith(b"\n")  # not the file's end
        raw, carried = carried + chunk, b""
        cr = raw.find(b"\r")
        if cr < 0 or (cr == len(raw) - 2 and raw.endswith(b"\r\n")):
            yield raw
            continue
        *whole, last = _BARE_CR.split(raw)
        yield from whole
        if last.endswith(b"\n") or not cut or len(last) > max_line_bytes:
            yield last
        else:
            carried = last  # the line (or its CR's LF) goes on in what the next read returns
    if carried:
        yield carried


def _malformed(start: int, last: int, exc: csv.Error) -> str:
    if "unexpected end of data" in str(exc):
        return (
            f"a quote opened at line {start} is not closed before the end of the file: the"
            " lines after it would all be read into one cell"
        )
    return f"the CSV text is malformed at line {last}: {exc}"


def _line_too_long(number: int, max_line_bytes: int) -> str:
    return (
        f"line {number} is longer than {max_line_bytes:,} bytes (import_max_row_bytes); a line"
        " of the template is a few hundred bytes: is this the right file?"
    )


def _record_too_long(number: int, max_line_bytes: int) -> str:
    return (
        f"the record starting at line {number} is longer than {max_line_bytes:,} bytes"
        " (import_max_row_bytes): a quote is probably not closed"
    )


# --- XLSX/XLS with calamine ------------------------------------------------------------------


def cell_text(value: object) -> str:
    """A calamine value as text; integers exactly, dates as ISO dates."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return capped(file_text(value.strip()))
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return LOSSY_NUMBER + str(value) if abs(value) >= MAX_EXACT else str(value)
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) >= MAX_EXACT:
                return LOSSY_NUMBER + f"{value:.15g}"
            return str(int(value))
        # 15 significant digits, as the spreadsheet shows it: a calculated 0.1+0.2 is 0.3.
        return f"{value:.15g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _calamine_sheet(path: Path, facts: FileFacts, limits: ReadLimits) -> SheetRows:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        name = _first_worksheet_name(workbook)
        sheet = workbook.get_sheet_by_name(name)
        merged = sheet.merged_cell_ranges or []
        start = sheet.start or (0, 0)
    except (CalamineError, ValueError, OSError) as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc
    padded = _xls_padded_cells(path, name) if facts.kind == "xls" else {}

    # calamine reads a formula without a calculated value and an error cell (#DIV/0!, #N/A, …)
    # as empty cells; the sheet XML tells them apart (python-calamine exposes neither).
    unvalued: dict[int, list[tuple[int, str]]] = {}
    if facts.kind == "xlsx":
        from xml.etree.ElementTree import ParseError

        from fupin_registry.imports.xlsx_stream import cells_without_value

        try:
            for (number, column), marker in cells_without_value(path, limits).items():
                unvalued.setdefault(number, []).append((column, marker))
        except UnreadableFile:
            raise
        except (zipfile.BadZipFile, KeyError, ValueError, ParseError) as exc:
            raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc

    def rows() -> Iterator[RawRow]:
        for offset, values in enumerate(sheet.iter_rows()):
            pad = [""] * start[1]
            row = RawRow(start[0] + offset + 1, pad + [cell_text(v) for v in values])
            for column, marker in unvalued.get(row.number, ()):
                if column >= len(row.cells):
                    row.cells.extend([""] * (column + 1 - len(row.cells)))
                row.cells[column] = marker
            for column, width in padded.get(row.number, ()):
                text = row.cells[column] if column < len(row.cells) else ""
                if text.isascii() and text.isdigit():
                    row.cells[column] = text.zfill(width)
            yield row

    result = SheetRows(rows(), facts)
    result.merged = [(a[0] + 1, a[1], b[0] + 1, b[1]) for a, b in merged]
    result.note_merged()
    return result


def _xls_padded_cells(path: Path, sheet_name: str) -> dict[int, list[tuple[int, int]]]:
    """Row number → (column, digits shown) of the number cells of an .xls sheet whose format
    pads them with zeros (a 户编号 057173 typed as a number, formatted 000000), read as the
    sheet shows them, as the .xlsx readers do: python-calamine gives the number alone (57173),
    which would be another household's key. xlrd reads the formats calamine does not expose."""
    import xlrd

    from fupin_registry.imports.xlsx_stream import ZERO_PADDED

    try:
        book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True)
    except (xlrd.XLRDError, ValueError, OSError, KeyError, IndexError, AssertionError) as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc
    try:
        widths = {
            index: len(book.format_map[xf.format_key].format_str)
            for index, xf in enumerate(book.xf_list)
            if xf.format_key in book.format_map
            and ZERO_PADDED.match(book.format_map[xf.format_key].format_str)
        }
        found: dict[int, list[tuple[int, int]]] = {}
        if not widths:
            return found
        sheet = book.sheet_by_name(sheet_name)
        for row_index in range(sheet.nrows):
            for column, cell in enumerate(sheet.row(row_index)):
                if cell.ctype == xlrd.XL_CELL_NUMBER and cell.xf_index in widths:
                    found.setdefault(row_index + 1, []).append((column, widths[cell.xf_index]))
        return found
    except (xlrd.XLRDError, ValueError, KeyError, IndexError, AssertionError) as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc
    finally:
        book.release_resources()


def _first_worksheet_name(workbook: Any) -> str:
    """The first worksheet that is not hidden (as ``xlsx_stream._first_worksheet`` chooses)."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    for meta in workbook.sheets_metadata:
        if meta.typ == SheetTypeEnum.WorkSheet and meta.visible == SheetVisibleEnum.Visible:
            return str(meta.name)
    raise UnreadableFile(
        "the workbook has no visible worksheet (only hidden sheets or chart sheets): show the"
        " sheet with the rows, or copy them into a new workbook"
    )


def merged_ref(area: tuple[int, int, int, int]) -> str:
    r1, c1, r2, c2 = area
    return f"{column_letter(c1)}{r1}:{column_letter(c2)}{r2}"
