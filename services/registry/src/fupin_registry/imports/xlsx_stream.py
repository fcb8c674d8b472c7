"""A streaming reader for large .xlsx sheets (the first worksheet), in bounded memory.

calamine reads a whole sheet into memory (about 2.8 GiB for 1,000,000 rows of the template),
so sheets above ``import_calamine_max_bytes`` come here: the sheet XML is decompressed and
scanned block by block with regular expressions, one row at a time. Shared strings (held once
in memory), inline strings, numbers, booleans, error cells, formula results (the cached value)
and date-formatted numbers are understood. A number is taken from its XML text, so an ID number
stored as a number with all 18 digits is recovered exactly; one already rounded (written in
exponent form) becomes a lossy-number marker. Merged cells are listed at the end of the sheet
XML and are reported as a note once the sheet is read.
"""

from __future__ import annotations

import datetime as dt
import html
import posixpath
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

from fupin_registry.imports.readers import (
    LOSSY_NUMBER,
    MAX_EXACT,
    FileFacts,
    RawRow,
    UnreadableFile,
)

BLOCK = 4 * 1024 * 1024
NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"

_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
# A cell: column letters, style, type, then either the text of the usual inline string
# (<is><t>…</t></is>, taken in the same match) or any other content.
_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})\d+"(?: s="(\d+)")?(?: t="(\w+)")?[^>]*?'
    rb"(?:/>|>(?:<is><t(?: [^>]*)?>([^<]+)</t></is>|(.*?))</c>)",
    re.S,
)
_VALUE = re.compile(rb"<v>([^<]*)</v>")
_TEXT = re.compile(rb"<t\b[^>]*>([^<]*)</t>")
_MERGE = re.compile(rb'<mergeCell ref="([A-Z]+\d+):([A-Z]+\d+)"')
_INTEGER = re.compile(r"^-?\d+$")
# Built-in number formats that show dates (ECMA-376 18.8.30, with the CJK ones).
_DATE_FORMATS = set(range(14, 23)) | set(range(27, 37)) | set(range(45, 48)) | set(range(50, 59))
_EXCEL_EPOCH = dt.date(1899, 12, 30)


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


def _column_index(letters: bytes) -> int:
    index = 0
    for char in letters:
        index = index * 26 + (char - 64)
    return index - 1


def _first_sheet_path(archive: zipfile.ZipFile) -> str:
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
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


def _number_text(raw: str, is_date: bool) -> str:
    if is_date:
        try:
            serial = float(raw)
            day = _EXCEL_EPOCH + dt.timedelta(days=int(serial))
            return day.isoformat()
        except (ValueError, OverflowError):
            return raw
    if _INTEGER.match(raw):
        return raw  # all digits as written: exact, however long
    try:
        value = float(raw)
    except ValueError:
        return raw
    if value.is_integer():
        if abs(value) >= MAX_EXACT:
            return LOSSY_NUMBER + f"{value:.15g}"
        return str(int(value))
    return raw


def stream_rows(path: Path, facts: FileFacts) -> Iterator[RawRow]:
    try:
        archive = zipfile.ZipFile(path)
        sheet_path = _first_sheet_path(archive)
        shared = _shared_strings(archive)
        dates = _date_styles(archive)
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise UnreadableFile(f"the workbook cannot be read: {exc}") from exc
    return _rows(archive, sheet_path, shared, dates, facts)


def _rows(
    archive: zipfile.ZipFile, sheet_path: str, shared: list[str], dates: set[int], facts: FileFacts
) -> Iterator[RawRow]:
    formulas = 0
    tail = b""
    columns: dict[bytes, int] = {}  # column letters → index
    with archive, archive.open(sheet_path) as handle:
        next_number = 1
        while True:
            block = handle.read(BLOCK)
            data = tail + block
            end = data.rfind(b"</row>") + len(b"</row>") if block else len(data)
            if block and end < len(b"</row>"):
                tail = data
                continue
            body, tail = data[:end], data[end:]
            for attrs, inner in _row_parts(body):
                numbered = _ROW_NUMBER.search(attrs)
                number = int(numbered.group(1)) if numbered else next_number
                next_number = number + 1
                cells: list[str] = []
                if inner:
                    for letters, style, kind, inline, content in _CELL.findall(inner):
                        index = columns.get(letters)
                        if index is None:
                            index = columns[letters] = _column_index(letters)
                        if index >= len(cells):
                            cells.extend([""] * (index + 1 - len(cells)))
                        if inline:  # the common case, as xlsxwriter and others write text
                            cells[index] = _unescape(inline.decode()).strip()
                            continue
                        if not content:
                            continue
                        if kind == b"inlineStr":
                            text = _unescape(b"".join(_TEXT.findall(content)).decode())
                        else:
                            value = _VALUE.search(content)
                            if b"<f" in content:
                                formulas += 1
                            if value is None:
                                continue
                            raw = value.group(1).decode()
                            if kind == b"s":
                                text = shared[int(raw)]
                            elif kind == b"b":
                                text = "是" if raw == "1" else "否"
                            elif kind in (b"str", b"e", b"d"):
                                text = _unescape(raw)
                            else:
                                text = _number_text(raw, bool(style) and int(style) in dates)
                        cells[index] = text.strip()
                yield RawRow(number, cells)
            if not block:
                merges = _MERGE.findall(body)
                if merges:
                    refs = ", ".join(f"{a.decode()}:{b.decode()}" for a, b in merges[:10])
                    facts.notes.append(
                        f"the sheet has merged cells ({refs}); only their first cell holds a value"
                    )
                break
    if formulas:
        facts.notes.append(
            f"{formulas} cells hold formulas; their last calculated values were imported"
        )
