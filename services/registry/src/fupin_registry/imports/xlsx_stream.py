"""A streaming reader for large .xlsx sheets (the first visible worksheet), in bounded memory.

calamine reads a whole sheet into memory (about 2.8 GiB for 1,000,000 rows of the template),
so sheets above ``import_calamine_max_bytes`` come here: the sheet XML is decompressed and
scanned block by block with regular expressions, one row at a time. Shared strings (held once
in memory), inline strings, numbers, booleans, formula results (the cached value) and
date-formatted numbers are understood, with cell attributes in any order, cells without a
reference (they follow the cell before) and element names with a namespace prefix
(``<x:row>``). Text is read as python-calamine reads it: XML entities and character references,
then the escapes ``_x00HH_`` spreadsheet programs write for characters XML cannot hold. A number
is taken from its XML text, so an ID number stored as a number with all 18 digits is recovered
exactly; one already rounded (written in exponent form) becomes a lossy-number marker. A formula
without a calculated value (files written by generators, workbooks set to manual calculation)
and an error cell (#DIV/0!, #N/A, …) become markers that the row validation rejects. Merged
cells are listed at the end of the sheet XML: a first pass over the decompressed XML (at the
speed of decompression) finds them before any row is read, and finds a sheet whose XML is cut
off before its rows end. Workbooks with the 1904 date system (``workbookPr/@date1904``) are
read with their epoch.

Memory stays bounded whatever the file holds (:mod:`.limits`): every part is read through
:class:`~.xlsx_parts.WorkbookParts`, which counts what it unpacks to; a row's XML longer than
``max_row_bytes`` fails the file; a cell or shared string longer than Excel's 32,767 characters
is kept as a marker only (the row is rejected, naming the column); the shared strings are
parsed as a stream and bounded in number and total length.
"""

from __future__ import annotations

import datetime as dt
import functools
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree
from xml.parsers import expat

from fupin_registry.imports.limits import (
    EXCEL_CELL_CHARS,
    MAX_MERGED_AREAS,
    ReadLimits,
    capped,
    error_value,
    shorten,
    too_long,
    unreadable,
)
from fupin_registry.imports.readers import (
    FORMULA_WITHOUT_VALUE,
    LOSSY_NUMBER,
    MAX_EXACT,
    FileFacts,
    RawRow,
    UnreadableFile,
    file_text,
)
from fupin_registry.imports.xlsx_parts import CountedPart, WorkbookParts, unpacked_size

BLOCK = 4 * 1024 * 1024
Area = tuple[int, int, int, int]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS = "{" + MAIN + "}"
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
# The plain cells that make up nearly every row of a county's sheet: a reference, an optional
# style, and text, inline (as xlsxwriter and most exports write it) or a shared string (as Excel
# writes it). A row made of these only is read by comprehension (``_Decoder.plain_cells``).
_PLAIN_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})\d+"(?: s="\d+")? t="(?:inlineStr"><is><t(?: [^>]*)?>([^<]*)</t></is>'
    rb'|s"><v>(\d+)</v>)</c>'
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


_ENTITY = re.compile(r"&(#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
# How spreadsheet programs write a character XML cannot hold (a control character): _x000D_.
# python-calamine decodes such escapes of U+0000–U+00FF only, and so does this reader.
_ESCAPE = re.compile(r"_x00([0-9A-Fa-f]{2})_")


def _entity(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        if name in _ENTITIES:
            return _ENTITIES[name]
        raise _BadCell(
            f"the text holds {shorten(match.group(), _QUOTED_CHARS)!r}, not an XML entity"
        )
    code = int(name[2:], 16) if name[1] == "x" else int(name[1:])
    if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return chr(code)  # a control character too: the row validation refuses it
    raise _BadCell(f"the text holds {shorten(match.group(), _QUOTED_CHARS)!r}, not a character")


def _escaped(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def _unescaped(text: str) -> str:
    """The escapes _x00HH_ of a cell's text decoded, as python-calamine reads them (``_x005F_``
    is the underscore, so ``_x005F_x000D_`` is the text ``_x000D_``)."""
    return _ESCAPE.sub(_escaped, text) if "_x" in text else text


def _xml_text(raw: bytes) -> str:
    """A cell's text as the sheet's XML holds it: entities and character references, then the
    escapes _x00HH_, and the characters markers start with replaced (``file_text``). A
    reference to no character (``&#0;``) or an entity XML does not define is a bad cell."""
    text = raw.decode()
    if "&" in text:
        text = _ENTITY.sub(_entity, text)
    return file_text(_unescaped(text))


_NONCHARACTER_UTF8 = re.compile(b"\xef\xb7")  # how U+FDD0–U+FDEF start in UTF-8


def _special(inner: bytes) -> bool:
    """Whether a row's XML may hold text that :func:`_xml_text` changes: an entity or character
    reference (&), an escape _x00HH_ (_), or a noncharacter of U+FDD0–U+FDEF (EF B7 in UTF-8,
    searched for only in a row holding EF). A search for one byte costs a few nanoseconds on
    the usual row; one for two bytes, several times more."""
    return 38 in inner or 95 in inner or (0xEF in inner and bool(_NONCHARACTER_UTF8.search(inner)))


def _cut_off(where: str) -> UnreadableFile:
    return UnreadableFile(
        f"the workbook cannot be read: the sheet's XML ends {where}; the file is cut off or"
        " damaged (open it in the spreadsheet program and save it again)"
    )


def _row_parts(body: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(attributes, content) of each <row> element of ``body``, found with ``bytes.find``:
    a regular expression scanning each row's few kilobytes for its end costs several times
    more. ``body`` ends where a row starts or after the last row, so a row it holds without
    its end means the XML ends there."""
    position = 0
    while (start := body.find(b"<row", position)) >= 0:
        position = start + 4
        if body[position : position + 1] not in (b" ", b">", b"/"):
            continue  # another element, e.g. <rowBreaks>
        close = body.find(b">", position)
        if close < 0:
            raise _cut_off("inside a row")
        if body[close - 1 : close] == b"/":  # <row …/>: no cells
            yield body[position : close - 1], b""
            position = close + 1
            continue
        end = body.find(b"</row>", close)
        if end < 0:
            raise _cut_off("inside a row")
        yield body[position:close], body[close + 1 : end]
        position = end + 6


# The first element of a part and its attributes (after the XML declaration and comments),
# looked for in its first bytes.
_ROOT_BYTES = 65536
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?[A-Za-z_][\w.-]*(\s[^>]*)?/?>")


def _main_prefix(head: bytes) -> bytes:
    """The namespace prefix the sheet's root element binds to the SpreadsheetML namespace and
    is written with (``x`` of ``<x:worksheet xmlns:x="…main">``), or b"" (the usual case)."""
    root = _ROOT.search(head, 0, _ROOT_BYTES)
    if root is None or not root.group(1):
        return b""
    prefix = root.group(1)[:-1]
    declared = re.search(
        rb"\sxmlns:" + re.escape(prefix) + rb"\s*=\s*[\"']" + re.escape(MAIN.encode()) + rb"[\"']",
        root.group(2) or b"",
    )
    return prefix if declared else b""


def _sheet_blocks(handle: CountedPart) -> Iterator[bytes]:
    """The sheet XML in blocks of about ``BLOCK`` bytes. Elements written with a namespace
    prefix (``<x:row>``, as the .NET Open XML SDK writes them) come without it, so that every
    search of this module reads them; the usual unprefixed XML passes unchanged."""
    block = handle.read(BLOCK)
    while len(block) < _ROOT_BYTES and not _ROOT.search(block) and (more := handle.read(BLOCK)):
        block += more  # the root element is read whole (BLOCK is far longer in practice)
    prefix = _main_prefix(block)
    if not prefix:
        while block:
            yield block
            block = handle.read(BLOCK)
        return
    opening, closing = b"<" + prefix + b":", b"</" + prefix + b":"
    held = b""
    while block:
        data = held + block
        # A tag cut by the block's end within its prefix is completed by the next block.
        cut = data.rfind(b"<", max(0, len(data) - len(closing) + 1))
        held, data = (data[cut:], data[:cut]) if cut >= 0 else (b"", data)
        yield data.replace(closing, b"</").replace(opening, b"<")
        block = handle.read(BLOCK)
    if held:
        yield held.replace(closing, b"</").replace(opening, b"<")


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


SHARED_STRINGS = "xl/sharedStrings.xml"
STYLES = "xl/styles.xml"
WORKBOOK = "xl/workbook.xml"
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"


def _workbook(parts: WorkbookParts) -> tuple[str, dt.date]:
    """The read sheet's path in the archive and the epoch of the workbook's date serials."""
    workbook = ElementTree.fromstring(parts.read(WORKBOOK))
    properties = workbook.find(f"{NS}workbookPr")
    date1904 = properties is not None and properties.get("date1904", "") in ("1", "true")
    return _first_worksheet(parts, workbook), _EPOCH_1904 if date1904 else _EXCEL_EPOCH


_HIDDEN_STATES = ("hidden", "veryHidden")
_WORKSHEET_TYPE = "/worksheet"  # the end of a worksheet relationship's type (not a chart sheet)


def _first_worksheet(parts: WorkbookParts, workbook: ElementTree.Element) -> str:
    """The archive path of the sheet an import reads: the first worksheet that is not hidden,
    in the workbook's order (as the spreadsheet program opens it). A hidden sheet often holds
    last year's rows or lookup lists; a chart sheet holds no cells."""
    rels = {rel.get("Id"): rel for rel in ElementTree.fromstring(parts.read(WORKBOOK_RELS))}
    for sheet in workbook.findall(f"{NS}sheets/{NS}sheet"):
        rel = rels.get(sheet.get(f"{REL_NS}id"))
        if rel is None or sheet.get("state") in _HIDDEN_STATES:
            continue
        if not rel.get("Type", "").endswith(_WORKSHEET_TYPE):
            continue
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
        return path
    raise UnreadableFile(
        "the workbook has no visible worksheet (only hidden sheets or chart sheets): show the"
        " sheet with the rows, or copy them into a new workbook"
    )


# A character reference to a control character, which XML 1.0 (and so expat) refuses but
# python-calamine reads: it is read as the escape _xHHHH_ of the same character, as Excel writes
# it, so that the row validation refuses the cell on both paths, not the workbook on one.
_CONTROL_REFERENCE = re.compile(rb"&#(?:([0-9]{1,2})|x([0-9A-Fa-f]{1,2}));")
_REFERENCE_BYTES = 8  # longer than any such reference


def _as_escape(match: re.Match[bytes]) -> bytes:
    decimal, hexadecimal = match.groups()
    code = int(decimal) if decimal else int(hexadecimal, 16)
    return b"_x%04X_" % code if 0 < code < 32 and code not in (9, 10, 13) else match.group()


class _SharedStrings:
    """The workbook's shared strings, parsed as a stream (expat): no string is ever held
    longer than Excel's limit for a cell, and the table is bounded in number and in length."""

    _SI, _T, _PHONETIC = f"{MAIN} si", f"{MAIN} t", f"{MAIN} rPh"

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self.strings: list[str] = []
        self._pieces: list[str] = []
        self._length = 0  # characters of the current string, kept or not
        self._chars = 0  # characters of the table so far
        self._in_text = False
        self._phonetic = 0  # depth inside phonetic hints (rPh), which are not part of the value

    def parse(self, handle: CountedPart) -> list[str]:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text = True
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        parser.CharacterDataHandler = self._text
        held = b""
        while block := handle.read(BLOCK):
            data = held + block
            # A reference cut by the block's end is completed by the next block.
            cut = data.rfind(b"&", max(0, len(data) - _REFERENCE_BYTES))
            held, data = (
                (data[cut:], data[:cut]) if cut >= 0 and b";" not in data[cut:] else (b"", data)
            )
            if 38 in data and b"&#" in data:
                data = _CONTROL_REFERENCE.sub(_as_escape, data)
            parser.Parse(data, False)
        parser.Parse(held, True)
        return self.strings

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if name == self._T:
            self._in_text = not self._phonetic
        elif name == self._SI:
            self._pieces, self._length = [], 0
        elif name == self._PHONETIC:
            self._phonetic += 1

    def _end(self, name: str) -> None:
        if name == self._T:
            self._in_text = False
        elif name == self._SI:
            self._add()
        elif name == self._PHONETIC:
            self._phonetic -= 1

    def _text(self, text: str) -> None:
        if self._in_text:
            self._length += len(text)
            if self._length <= EXCEL_CELL_CHARS:  # beyond, only the length is kept
                self._pieces.append(text)

    def _add(self) -> None:
        length = self._length
        if length <= EXCEL_CELL_CHARS:
            text = file_text(_unescaped("".join(self._pieces)))
        else:
            text = too_long(length)
        if len(self.strings) >= self.limits.max_shared_strings:
            raise UnreadableFile(
                f"the workbook has more than {self.limits.max_shared_strings:,} shared strings"
                " (import_xlsx_max_shared_strings); split it into smaller files"
            )
        self._chars += len(text)
        if self._chars > self.limits.max_shared_string_chars:
            raise UnreadableFile(
                "the workbook's shared strings hold more than"
                f" {self.limits.max_shared_string_chars:,} characters"
                " (import_xlsx_max_shared_string_chars); split it into smaller files"
            )
        self.strings.append(text)


def _shared_strings(parts: WorkbookParts) -> list[str] | None:
    """The workbook's shared strings; None when it has no table of them."""
    if SHARED_STRINGS not in parts:
        return None
    with parts.open(SHARED_STRINGS) as handle:
        return _SharedStrings(parts.limits).parse(handle)


# A number format of zeros only ("000000"): the spreadsheet shows the number padded with
# leading zeros to that many digits, as counties keep household numbers (户编号 000123).
ZERO_PADDED = re.compile(r"^0{2,32}$")  # a number format of zeros alone: 000000


@dataclass(frozen=True)
class CellFormats:
    dates: set[int]  # indexes of cell formats (the ``s`` attribute) that display a date
    padded: dict[int, int]  # indexes of formats that pad numbers with zeros → digits shown


def _cell_formats(parts: WorkbookParts) -> CellFormats:
    if STYLES not in parts:
        return CellFormats(set(), {})
    styles = ElementTree.fromstring(parts.read(STYLES))
    dated: dict[int, bool] = {}
    widths: dict[int, int] = {}
    for fmt in styles.iter(f"{NS}numFmt"):
        fmt_id = int(fmt.get("numFmtId", "0"))
        raw_code = fmt.get("formatCode", "")
        code = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", raw_code).lower()
        dated[fmt_id] = bool(re.search(r"[ymd]", code))
        if ZERO_PADDED.match(raw_code):
            widths[fmt_id] = len(raw_code)
    cell_xfs = styles.find(f"{NS}cellXfs")
    dates = set()
    padded = {}
    for index, xf in enumerate(cell_xfs if cell_xfs is not None else []):
        fmt_id = int(xf.get("numFmtId", "0"))
        if fmt_id in _DATE_FORMATS or dated.get(fmt_id, False):
            dates.add(index)
        elif fmt_id in widths:
            padded[index] = widths[fmt_id]
    return CellFormats(dates, padded)


def pads_numbers(path: Path, limits: ReadLimits) -> bool:
    """Whether the workbook's cells may show numbers padded with zeros, which only the
    streaming reader applies (python-calamine gives the number alone)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(_cell_formats(WorkbookParts(archive, limits)).padded)
    except _READ_ERRORS as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc


# A shared-string cell's index and a boolean cell's value, where python-calamine reads them.
_SHARED_INDEX = re.compile(rb'<c\b[^>]*\bt="s"[^>]*>\s*<v>([^<]*)</v>')
_BOOLEAN_VALUE = re.compile(rb'<c\b[^>]*\bt="b"[^>]*>\s*<v>([^<]*)</v>')


_ROW_START = re.compile(rb'<row\b[^>]*?\br="([0-9]+)"')
_CELL_COLUMN = re.compile(rb'<c\b[^>]*?\br="([A-Z]+)[0-9]')


def calamine_misreads(path: Path, limits: ReadLimits) -> bool:
    """Whether a cell of the read sheet is one python-calamine reads wrongly or fails the
    whole workbook on, where the streaming reader names it on its row: a shared string the
    table does not hold ('-1', 'abc', one past its end; calamine reads the first string,
    silently), a boolean that is neither 0 nor 1 (calamine refuses the workbook). Or whether
    the sheet's cells span more than ``limits.max_calamine_cells``: calamine holds the whole
    rectangle from A1 to the last row and column in memory, so one stray cell at XFD1048576
    of a 3 KB workbook would take gigabytes; the streaming reader holds a row at a time."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = WorkbookParts(archive, limits)
            sheet_path, _ = _workbook(parts)
            count = len(_shared_strings(parts) or ())
            last_row = last_column = 0
            with parts.open(sheet_path) as handle:
                for body in _whole_rows(_sheet_blocks(handle), limits.max_row_bytes):
                    # A block of whole rows, in row order: its last row is the farthest down.
                    number = _ROW_START.match(body, max(body.rfind(b"<row"), 0))
                    if number is not None:
                        last_row = max(last_row, int(number.group(1)))
                    columns = set(_CELL_COLUMN.findall(body))
                    if columns:
                        widest = max(columns, key=lambda letters: (len(letters), letters))
                        last_column = max(last_column, _column_index(widest) + 1)
                    if last_row * last_column > limits.max_calamine_cells:
                        return True
                    if b't="s"' in body:
                        for index in set(_SHARED_INDEX.findall(body)):
                            if not index.isdigit() or int(index) >= count:
                                return True
                    if b't="b"' in body:
                        if not set(_BOOLEAN_VALUE.findall(body)) <= {b"0", b"1"}:
                            return True
    except _READ_ERRORS as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc
    return False


def _iso_date_text(text: str) -> str:
    """A date cell written as ISO text (t="d"), as the calamine path writes the date it reads:
    midnight as the date alone, another time of day after a space (the row then refuses it)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if moment.time() == dt.time() and moment.tzinfo is None:
        return moment.date().isoformat()
    return moment.isoformat(sep=" ")


def _number_text(raw: str, is_date: bool, epoch: dt.date, width: int = 0) -> str:
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
        if len(raw.lstrip("-")) > 15:
            return LOSSY_NUMBER + raw
        return raw.zfill(width) if width and raw[0] != "-" else raw
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


_READ_ERRORS = (zipfile.BadZipFile, KeyError, ElementTree.ParseError, expat.ExpatError)
_SHEETS = "xl/worksheets/"


def stream_rows(
    path: Path, facts: FileFacts, limits: ReadLimits
) -> tuple[Iterator[RawRow], list[Area]]:
    """The sheet's rows (read lazily) and its merged areas (read first: the sheet XML lists
    them after the rows, and the rows they cover must be known before those rows are read)."""
    try:
        parts = WorkbookParts(zipfile.ZipFile(path), limits)
    except zipfile.BadZipFile as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc
    try:
        sheet_path, epoch = _workbook(parts)
        parts.refuse_declared([sheet_path, SHARED_STRINGS, STYLES])
        shared = _shared_strings(parts)
        formats = _cell_formats(parts)
        merged = _merged_areas(parts, sheet_path)
    except BaseException as exc:
        parts.close()
        if isinstance(exc, _READ_ERRORS):
            raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc
        raise
    return _rows(parts, sheet_path, _Decoder(shared, formats, epoch), facts), merged


def fits_in_memory(path: Path, budget: int, limits: ReadLimits) -> bool:
    """Whether the parts python-calamine reads (the read sheet and every part that is not a
    worksheet: shared strings, styles, …) really unpack to at most ``budget`` bytes. An archive
    may declare any size: parts declaring at most the budget are inflated and counted before
    calamine is given them; a workbook declaring more is streamed at once (the streaming reader
    never reads a part past its declared size)."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = WorkbookParts(archive, limits)
            sheet_path, _ = _workbook(parts)
            infos = [archive.getinfo(sheet_path)] + sorted(
                (info for info in archive.infolist() if not info.filename.startswith(_SHEETS)),
                key=lambda info: info.filename,
            )
            if sum(info.file_size for info in infos) > budget:
                return False
            total = 0
            for info in infos:
                size = unpacked_size(path, info, budget - total)
                if size is None:
                    return False  # compressed in a way calamine may not read: streamed
                parts.counted(info, size)
                total += size
                if total > budget:
                    return False
            return True
    except _READ_ERRORS as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc


# Longer than any <mergeCell …/> element: a longer one cut by a block's end is not one.
_MERGE_ELEMENT_BYTES = 4096


def _merged_areas(parts: WorkbookParts, sheet_path: str) -> list[Area]:
    """(first row, first column, last row, last column) of each merged area, 1-based rows and
    0-based columns as calamine reports them. Only the text after </sheetData> is searched,
    block by block: it may be as long as the rows before it."""
    areas: list[Area] = []
    tail = b""
    after_rows = False
    with parts.open(sheet_path) as handle:
        for number, block in enumerate(_sheet_blocks(handle)):
            data = tail + block
            if not after_rows:
                end = data.find(b"</sheetData>")
                if end < 0 and number == 0:  # a sheet without rows: <sheetData/> near the start
                    end = data.find(b"<sheetData/>")
                if end < 0:
                    tail = data[-16:]
                    continue
                after_rows, data = True, data[end:]
            # An element cut by the block's end is searched with the next block.
            cut = data.rfind(b"<")
            if cut < 0:
                cut = len(data)
            tail = data[cut:] if len(data) - cut < _MERGE_ELEMENT_BYTES else b""
            _add_areas(areas, data[:cut])
    if not after_rows:
        raise _cut_off("before its rows do (no </sheetData>)")
    _add_areas(areas, tail)
    return areas


def _add_areas(areas: list[Area], text: bytes) -> None:
    for first, last in _MERGE.findall(text):
        (c1, r1), (c2, r2) = _reference(first), _reference(last)
        areas.append((min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)))
    if len(areas) > MAX_MERGED_AREAS:
        raise UnreadableFile(
            f"the sheet has more than {MAX_MERGED_AREAS:,} merged cells; unmerge them and"
            " repeat the values on every row"
        )


def _reference(ref: bytes) -> tuple[int, int]:
    letters = ref.rstrip(b"0123456789")
    return _column_index(letters), int(ref[len(letters) :])


# Of a wrongly described cell's attribute or value quoted in the row's reason.
_QUOTED_CHARS = 40


class _BadCell(Exception):
    """A cell the sheet's XML describes wrongly: its row gets the reason, the cell stays empty."""


def _cell_attributes(
    letters: bytes, style: bytes, kind: bytes, rest: bytes
) -> tuple[bytes, bytes, bytes]:
    """Column letters, style and type of a cell whose attributes come in another order."""
    for name, value in _ATTRIBUTE.findall(rest):
        if name == b"r":
            if not _REFERENCE.match(value):
                shown = shorten(value.decode(errors="replace"), _QUOTED_CHARS)
                raise _BadCell(f"a cell's reference {shown!r} is not valid")
            letters = value.rstrip(b"0123456789")
        elif name == b"s":
            if not value.isdigit():
                shown = shorten(value.decode(errors="replace"), _QUOTED_CHARS)
                raise _BadCell(f"a cell's style {shown!r} is not valid")
            style = value
        else:
            kind = value
    return letters, style, kind


class _Decoder:
    """Cell values of the sheet's rows, from the XML of each row."""

    def __init__(self, shared: list[str] | None, formats: CellFormats, epoch: dt.date) -> None:
        self.shared = shared or []
        self.shared_missing = shared is None  # the workbook has no shared strings part
        self.dates = formats.dates
        self.padded = formats.padded
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

    def _text(
        self, style: bytes, kind: bytes, inline: bytes, content: bytes, special: bool = True
    ) -> str | None:
        """The cell's text; None for a cell without a value. ``special``: the row's XML may
        hold text that :func:`_xml_text` changes (else inline text is taken as it is)."""
        if inline:  # the common case, as xlsxwriter and others write text
            return (_xml_text(inline) if special else inline.decode()).strip()
        if not content:
            return None
        if kind == b"inlineStr":
            return _xml_text(b"".join(_TEXT.findall(content))).strip()
        value = _VALUE.search(content)
        if b"<f" in content:
            if value is None or not value.group(1):
                return FORMULA_WITHOUT_VALUE
            self.formulas += 1
        if value is None:
            return None
        if kind == b"s":
            raw = value.group(1).decode()
            if not raw.isdigit() or int(raw) >= len(self.shared):
                if self.shared_missing:
                    raise UnreadableFile(
                        "the workbook cannot be read: its cells refer to shared strings, but"
                        f" it holds no table of shared strings ({SHARED_STRINGS}); the file is"
                        " damaged (open it in the spreadsheet program and save it again)"
                    )
                shown = shorten(raw, _QUOTED_CHARS)
                raise _BadCell(f"shared string {shown!r} is not in the workbook's table")
            text = self.shared[int(raw)]
        elif kind == b"b":
            if value.group(1) not in (b"0", b"1"):
                shown = shorten(value.group(1).decode(errors="replace"), _QUOTED_CHARS)
                raise _BadCell(f"a true/false cell holds {shown!r}, neither 0 nor 1")
            text = "是" if value.group(1) == b"1" else "否"
        elif kind == b"e":
            return error_value(_xml_text(value.group(1)).strip())
        elif kind == b"d":
            text = _iso_date_text(_xml_text(value.group(1)))
        elif kind == b"str":
            text = _xml_text(value.group(1))
        elif not style:
            text = _number_text(value.group(1).decode(), False, self.epoch)
        else:
            index = int(style)
            text = _number_text(
                value.group(1).decode(), index in self.dates, self.epoch, self.padded.get(index, 0)
            )
        return text.strip()

    def plain_cells(self, inner: bytes, special: bool) -> list[str] | None:
        """The row's cell texts when every cell is plain text (``_PLAIN_CELL``), else None: the
        same texts ``cells`` reads, at a fraction of its cost per cell."""
        found = _PLAIN_CELL.findall(inner)
        if not found or len(found) != inner.count(b"<c"):
            return None
        try:
            if special:
                texts = [
                    self.shared[int(shared)].strip() if shared else _xml_text(inline).strip()
                    for _, inline, shared in found
                ]
            else:
                texts = [
                    self.shared[int(shared)].strip() if shared else inline.decode().strip()
                    for _, inline, shared in found
                ]
            indexes = [self.columns[letters] for letters, _, _ in found]
        except (IndexError, KeyError, _BadCell):
            return None  # a shared string outside the table, a column not met before, …
        if indexes[-1] == len(indexes) - 1 and indexes == list(range(len(indexes))):
            return texts
        cells = [""] * (max(indexes) + 1)
        for index, text in zip(indexes, texts, strict=True):
            cells[index] = text
        return cells

    def cells(self, inner: bytes) -> list[str]:
        """The row's cell texts; a cell described wrongly stays empty and is named in
        ``self.problem``."""
        special = _special(inner)
        plain = self.plain_cells(inner, special)
        if plain is not None:
            self.problem = None
            if len(inner) > EXCEL_CELL_CHARS:  # only a row this long can hold such a cell
                plain[:] = map(capped, plain)
            return plain
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
            if inline and not special:
                cells[index] = inline.decode().strip()
            elif content or inline:
                try:
                    text = self._text(style, kind, inline, content)
                except _BadCell as bad:
                    # Reported on its column (with its header), never also as an empty cell.
                    cells[index] = unreadable(str(bad))
                    continue
                if text is not None:
                    cells[index] = text
        self.problem = "; ".join(problems) if problems else None
        if len(inner) > EXCEL_CELL_CHARS:  # only a row this long can hold such a cell
            cells[:] = map(capped, cells)
        return cells

    def keys(self, inner: bytes, first: int, second: int) -> tuple[str, str] | None:
        """The texts of two columns, reading no cell after them; None when the whole row must
        be read to know them for certain (cells out of order, or formulas, which are counted)."""
        if b"<f" in inner:
            return None
        special = _special(inner)
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
                    wanted[index] = self._text(style, kind, inline, content or b"", special) or ""
            except _BadCell:
                return None  # read whole, the row reports the cell
            if index >= last:
                # A later cell naming a column up to the keys' would overwrite a key when the
                # row is read whole: one search for such a reference, not a look at each cell.
                if _reference_up_to(last).search(inner, match.end()):
                    return None
                break
        if len(inner) > EXCEL_CELL_CHARS:  # as the whole row reads them: the marker
            return capped(wanted[first]), capped(wanted[second])
        return wanted[first], wanted[second]


class SheetRow(RawRow):
    """A row of the streamed sheet whose cells are read when first asked for: a parser process
    reading past other processes' chunks needs only each row's household key."""

    def __init__(self, number: int, inner: bytes, decoder: _Decoder) -> None:
        self.number = number
        self.size = len(inner)
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
    parts: WorkbookParts, sheet_path: str, decoder: _Decoder, facts: FileFacts
) -> Iterator[RawRow]:
    max_row_bytes = parts.limits.max_row_bytes
    with parts.archive, parts.open(sheet_path) as handle:
        next_number = 1
        for body in _whole_rows(_sheet_blocks(handle), max_row_bytes):
            for attrs, inner in _row_parts(body):
                numbered = _ROW_NUMBER.search(attrs)
                number = int(numbered.group(1)) if numbered else next_number
                next_number = number + 1
                if len(inner) > max_row_bytes:
                    raise UnreadableFile(_row_too_long(number, max_row_bytes))
                yield SheetRow(number, inner, decoder)
    if decoder.formulas:
        facts.notes.append(
            f"{decoder.formulas} cells hold formulas; their last calculated values were imported"
        )


def cells_without_value(path: Path, limits: ReadLimits) -> dict[tuple[int, int], str]:
    """The marker of each cell of the read sheet that the calamine reader reads as empty
    although it is not, by (row, column): formulas that hold no calculated value and error
    cells (#DIV/0!, #N/A, …). Only rows holding formulas or error cells are parsed: most sheets
    hold none, and the search for them runs at the speed of decompression."""
    found: dict[tuple[int, int], str] = {}
    with zipfile.ZipFile(path) as archive:
        parts = WorkbookParts(archive, limits)
        sheet_path, _ = _workbook(parts)
        with parts.open(sheet_path) as handle:
            next_number = 1
            for body in _whole_rows(_sheet_blocks(handle), limits.max_row_bytes):
                if b"<f" not in body and b't="e"' not in body:
                    # Rows without a number attribute count on from the rows skipped here.
                    next_number += body.count(b"<row ") + body.count(b"<row>")
                    continue
                for attrs, inner in _row_parts(body):
                    numbered = _ROW_NUMBER.search(attrs)
                    number = int(numbered.group(1)) if numbered else next_number
                    next_number = number + 1
                    if b"<f" in inner or b't="e"' in inner:
                        _without_value(inner, number, found)
    return found


def _without_value(inner: bytes, number: int, found: dict[tuple[int, int], str]) -> None:
    index = -1
    for letters, style, kind, rest, _, content in _CELL.findall(inner):
        if rest and (b'r="' in rest or b's="' in rest or b't="' in rest):
            try:
                letters, style, kind = _cell_attributes(letters, style, kind, rest)
            except _BadCell:
                continue  # as python-calamine reads it
        index = _column_index(letters) if letters else index + 1
        value = _VALUE.search(content)
        if b"<f" in content and (value is None or not value.group(1)):
            found[(number, index)] = FORMULA_WITHOUT_VALUE  # as _Decoder._text reads them
        elif kind == b"e" and value is not None:
            try:
                error = _xml_text(value.group(1)).strip()
            except _BadCell:
                error = value.group(1).decode(errors="replace")
            found[(number, index)] = error_value(error)


def _whole_rows(blocks: Iterator[bytes], max_row_bytes: int) -> Iterator[bytes]:
    """The sheet XML read in blocks, each cut where its last row starts (the last block:
    whatever remains), so that no row is split between two blocks (a row without cells is
    written <row …/>, so the start of a row, not an </row>, is where a cut is safe).

    What is carried over to the next block is bounded: a row longer than ``max_row_bytes``
    fails the file, and once the rows have ended (</sheetData>) the rest is not read. XML that
    ends before the rows do fails the file."""
    tail = b""
    for block in blocks:
        data = tail + block if tail else block
        start = data.rfind(b"<row")
        if start > 0:
            tail = data[start:]
            yield data[:start]
        else:
            tail = data
        if len(tail) > max_row_bytes:
            rows_end = tail.find(b"</sheetData>")
            if rows_end >= 0:
                yield tail[:rows_end]
                return
            if tail.startswith(b"<row") and tail[4:5] not in (b" ", b">", b"/"):
                return  # <rowBreaks> and what follows it: after the rows
            number = _ROW_NUMBER.search(tail, 0, 256)
            raise UnreadableFile(
                _row_too_long(int(number.group(1)) if number else None, max_row_bytes)
            )
    after_rows = tail.startswith(b"<row") and tail[4:5] not in (b" ", b">", b"/")  # <rowBreaks>
    if not after_rows and b"</sheetData>" not in tail and b"<sheetData/>" not in tail:
        raise _cut_off("before its rows do (no </sheetData>)")
    yield tail


def _row_too_long(number: int | None, max_row_bytes: int) -> str:
    row = f"row {number}" if number is not None else "a row"
    return (
        f"{row} of the sheet is longer than {max_row_bytes:,} bytes of XML"
        " (import_max_row_bytes); a row of the template is a few kilobytes: is this the"
        " right file?"
    )
