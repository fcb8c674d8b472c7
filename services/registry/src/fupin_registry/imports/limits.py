"""Bounds on what one uploaded file can make the import read, hold and store.

An .xlsx file is a ZIP archive of XML parts: an upload of a megabyte can unpack to gigabytes
(one cell of a billion characters, a shared string of hundreds of megabytes), and a CSV line
can be as long as the file. The readers count what each part really unpacks to and refuse a
file beyond these bounds with the reason; a cell longer than Excel allows is replaced by a
marker that the row validation rejects; a household is held for validation only up to a number
of rows (the rest of its rows are counted, and the household is rejected); and a job stores
only the first few hundred characters of a value it reports or a header it ignores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fupin_kit.free_text import mask_personal_numbers

if TYPE_CHECKING:
    from fupin_registry.config import Settings

MiB = 1024 * 1024

EXCEL_CELL_CHARS = 32_767  # the most characters Excel lets a cell hold
STORED_TEXT_CHARS = 200  # of a reported value or an ignored header name
STORED_REASON_CHARS = 500
IGNORED_COLUMNS_LISTED = 50
# Parts parsed whole (the workbook, its relationships, the styles) are a few kilobytes in a
# spreadsheet a program saved; this is far above any of them.
WHOLE_PART_BYTES = 16 * MiB
# A part this small is never refused for its compression ratio: short XML such as a style
# sheet of repeated elements compresses well, and unpacks to little anyway.
RATIO_GRACE_BYTES = 1 * MiB
# Each merged area is held until the rows it covers are read (about 150 bytes each).
MAX_MERGED_AREAS = 2_000_000

# Marks a cell longer than Excel's limit, whose text is not kept; its length follows.
TOO_LONG = "\ufdd2"
# Marks a cell holding an error value instead of a value (#DIV/0!, #N/A, #REF!, …); the error
# follows. It starts with TOO_LONG: the row validation rejects a row with either marker with
# the reason (``is_too_long`` and ``too_long_reason`` cover both). Markers start with Unicode
# noncharacters, which every reader replaces in a file's text (``readers.file_text``), so no
# cell of a file can pose as one.
ERROR_VALUE = TOO_LONG + "\ufdd3"
_ERROR_CHARS = 40  # of an error value kept in its marker (Excel's are at most 14)
# Marks a cell the workbook describes wrongly (an unknown XML entity, a character reference to
# no character, a number cell that is no number, …); why follows. Rejected like the others.
UNREADABLE = TOO_LONG + "\ufdd4"


def unreadable(reason: str) -> str:
    return UNREADABLE + reason


@dataclass(frozen=True)
class ReadLimits:
    """The configurable bounds (``import_xlsx_*``, ``import_max_row_bytes``,
    ``import_max_household_rows`` and ``import_calamine_max_cells`` settings)."""

    max_unpacked_bytes: int = 4096 * MiB
    max_ratio: int = 100
    max_shared_strings: int = 5_000_000
    max_shared_string_chars: int = 100_000_000
    max_row_bytes: int = 1 * MiB
    max_household_rows: int = 1_000
    max_calamine_cells: int = 4_000_000

    @classmethod
    def of(cls, settings: Settings) -> ReadLimits:
        return cls(
            max_unpacked_bytes=settings.import_xlsx_max_unpacked_bytes,
            max_ratio=settings.import_xlsx_max_ratio,
            max_shared_strings=settings.import_xlsx_max_shared_strings,
            max_shared_string_chars=settings.import_xlsx_max_shared_string_chars,
            max_row_bytes=settings.import_max_row_bytes,
            max_household_rows=settings.import_max_household_rows,
            max_calamine_cells=settings.import_calamine_max_cells,
        )


def beyond_household_reason(rows: int, first: int, last: int, limit: int) -> str:
    """Why a household of more than ``limit`` rows is rejected, on the first row past them."""
    return (
        f"the household continues over {rows:,} more rows (rows {first} to {last}); a household"
        f" may span at most {limit:,} rows of a file (import_max_household_rows): none of its"
        " rows is imported"
    )


def too_long(length: int) -> str:
    """The marker standing for a cell of ``length`` characters."""
    return f"{TOO_LONG}{length}"


def capped(text: str) -> str:
    """The cell's text, or the marker when it is longer than Excel allows."""
    return text if len(text) <= EXCEL_CELL_CHARS else too_long(len(text))


def error_value(error: str) -> str:
    """The marker standing for a cell that holds the error value ``error``."""
    return ERROR_VALUE + (shorten(error, _ERROR_CHARS) or "?")


def _is_long_marker(text: str) -> bool:
    length = text[len(TOO_LONG) :]
    return text.startswith(TOO_LONG) and length.isdigit() and int(length) > EXCEL_CELL_CHARS


def is_too_long(text: str) -> bool:
    """Whether ``text`` is the marker of a cell whose text is not kept: longer than Excel
    allows, or holding an error value. The row is rejected with :func:`too_long_reason`."""
    return (
        _is_long_marker(text)
        or (text.startswith(ERROR_VALUE) and len(text) > len(ERROR_VALUE))
        or (text.startswith(UNREADABLE) and len(text) > len(UNREADABLE))
    )


def too_long_reason(marker: str) -> str:
    if marker.startswith(ERROR_VALUE):
        return f"the cell holds the error {marker[len(ERROR_VALUE) :]}; enter the value"
    if marker.startswith(UNREADABLE):
        return marker[len(UNREADABLE) :]
    return (
        f"the cell holds {int(marker[len(TOO_LONG) :]):,} characters; a cell holds at most"
        f" {EXCEL_CELL_CHARS:,} (Excel's limit)"
    )


# The note a shortened text ends with: shortening it again changes nothing.
_NOTE = re.compile(r"…\(truncated, [0-9,]+ characters\)\Z")
_NOTE_ROOM = len("…(truncated, 2,147,483,647 characters)")


def shorten(text: str, limit: int = STORED_TEXT_CHARS) -> str:
    """``text`` as stored for a report: its first ``limit`` characters and how long it was."""
    if _is_long_marker(text):
        return f"…(truncated, {int(text[len(TOO_LONG) :]):,} characters)"
    if text.startswith(ERROR_VALUE):  # e.g. an ignored header cell holding #N/A
        return text[len(ERROR_VALUE) :]
    if text.startswith(UNREADABLE):
        return ""
    if len(text) <= limit or (len(text) <= limit + _NOTE_ROOM and _NOTE.search(text)):
        return text
    return f"{text[:limit]}…(truncated, {len(text):,} characters)"


def listed(names: list[str]) -> list[str]:
    """Ignored header names as a job lists them: each shortened, at most a few dozen (and a
    note of how many more); listing a listed list again changes nothing. Any reader of the job
    sees them: a phone or ID number in a header (a data row taken for one) is masked."""
    if len(names) <= IGNORED_COLUMNS_LISTED + 1:
        return [shorten(mask_personal_numbers(name)) for name in names]
    shown = [shorten(mask_personal_numbers(name)) for name in names[:IGNORED_COLUMNS_LISTED]]
    shown.append(f"…(and {len(names) - IGNORED_COLUMNS_LISTED:,} more columns)")
    return shown


__all__ = [
    "ERROR_VALUE",
    "EXCEL_CELL_CHARS",
    "MAX_MERGED_AREAS",
    "RATIO_GRACE_BYTES",
    "STORED_REASON_CHARS",
    "STORED_TEXT_CHARS",
    "TOO_LONG",
    "UNREADABLE",
    "WHOLE_PART_BYTES",
    "ReadLimits",
    "beyond_household_reason",
    "capped",
    "error_value",
    "is_too_long",
    "listed",
    "shorten",
    "too_long",
    "too_long_reason",
    "unreadable",
]
