"""Spreadsheet cells written inert: text a spreadsheet program shows but never evaluates."""

from __future__ import annotations

import re

# Cells a spreadsheet program would take for a formula when it opens the file (OWASP's CSV
# injection rule); a plain number such as -5 is not one.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[-+]?[0-9]+(\.[0-9]+)?$")
# For xlsxwriter.Workbook: text is never turned into a formula, a number or a URL.
XLSX_TEXT_OPTIONS = {
    "strings_to_numbers": False,
    "strings_to_formulas": False,
    "strings_to_urls": False,
}


def inert(cell: str) -> str:
    """The cell with a leading quote before =, +, -, @, tab or carriage return; a lone "-" (a
    placeholder, which no spreadsheet program evaluates) is left as it is."""
    if cell.startswith(FORMULA_START) and cell != "-" and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell
