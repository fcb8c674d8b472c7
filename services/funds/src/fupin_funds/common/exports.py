"""Tabular exports as .xlsx (xlsxwriter, constant memory) and .csv (UTF-8 with BOM for Excel)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

import xlsxwriter
from fastapi import Response

from fupin_kit.cells import XLSX_TEXT_OPTIONS, inert

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# A route answering a table as a file documents both media types (OpenAPI ``responses=``).
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the table as .xlsx or .csv (by `format`)",
        "content": {
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


class ExportFormat(StrEnum):
    XLSX = "xlsx"
    CSV = "csv"


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return inert(" ".join(str(v) for v in value))
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # Names, memos and payees are written by callers: never a formula once opened.
    return inert(str(value))


def render(
    rows: Iterable[Sequence[Any]],
    header: Sequence[str],
    fmt: ExportFormat,
    name: str,
    sheet: str = "data",
) -> Response:
    if fmt is ExportFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(v) for v in row])
        body = ("\ufeff" + buffer.getvalue()).encode("utf-8")
        media = "text/csv; charset=utf-8"
    else:
        out = io.BytesIO()
        book = xlsxwriter.Workbook(out, {"in_memory": True, **XLSX_TEXT_OPTIONS})
        sheet_ = book.add_worksheet(sheet[:31])
        bold = book.add_format({"bold": True})
        sheet_.write_row(0, 0, list(header), bold)
        for index, row in enumerate(rows, start=1):
            # Amounts and codes stay text: 18-digit IDs and 12-digit codes would turn into floats.
            sheet_.write_row(index, 0, [_cell(v) if not isinstance(v, int) else v for v in row])
        sheet_.freeze_panes(1, 0)
        book.close()
        body = out.getvalue()
        media = XLSX_MEDIA_TYPE
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt.value}"'},
    )
