"""Files going out: the template, row-error reports and the jurisdiction's register.

Exports use the template's headers so that an exported file imports again. CSV is streamed
row by row (UTF-8 with BOM, which Excel opens correctly); XLSX is written with xlsxwriter in
``constant_memory`` mode to a temporary file, every cell as text so ID numbers stay digits.
Personal fields are masked unless the caller holds ``pii:read``.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_kit.auth import Caller
from fupin_kit.cells import inert
from fupin_registry.households.domain import EXPORTED_STATUSES, per_capita_net_income
from fupin_registry.imports.columns import (
    ATTRIBUTE_LABELS,
    BY_FIELD,
    CAUSE_LABELS,
    COLUMNS,
    EDUCATION_LABELS,
    ETHNICITY_LABELS,
    HEADERS,
    HEALTH_LABELS,
    HOUSING_LABELS,
    INCOME_COLUMNS,
    LABOUR_LABELS,
    RELATION_LABELS,
    SCHOOL_LABELS,
    SEX_LABELS,
    STANDARD_LABELS,
    STATUS_LABELS,
    SUPPORT_LABELS,
    YES_NO,
    label_of,
)
from fupin_registry.imports.limits import STORED_REASON_CHARS, shorten
from fupin_registry.imports.reasons import parts_of
from fupin_registry.imports.repository import NAMED_REFUSAL, REGISTERED_ELSEWHERE
from fupin_registry.privacy import MASKS, PII_READ_SCOPE, Privacy

BOM = "\ufeff"
BATCH = 2_000
ERROR_HEADERS = ("行号", "列", "内容", "原因")
PII_HEADERS = {
    BY: field
    for BY, field in (
        ("证件号码", "id_number"),
        ("姓名", "name"),
        ("联系电话", "phone"),
        ("开户银行账号", "bank_account"),
    )
}

# Households of the jurisdiction with their current members and their latest year of incomes.
_REGISTER = """
SELECT h.id, h.village_code, h.household_number, h.attribute, h.support_type, h.primary_cause,
       h.secondary_causes, h.identification_standard, h.status, h.year, h.registered_on,
       h.exited_on, h.phone_enc, h.bank_account_enc, h.housing_safety, h.drinking_water_safe,
       inc.year AS income_year, inc.amounts,
       count(*) OVER (PARTITION BY h.id) AS size,
       m.id_number_enc, m.name_enc, m.sex, m.birth_date, m.relation, m.ethnicity, m.education,
       m.school_status, m.health, m.disability, m.labour_ability, m.migrant_months,
       m.medical_insurance, m.pension_insurance
  FROM households h
  JOIN members m ON m.household_id = h.id AND m.left_on IS NULL
  LEFT JOIN LATERAL (
        SELECT i.year, jsonb_object_agg(i.source, i.amount::text) AS amounts
          FROM household_incomes i
         WHERE i.household_id = h.id
         GROUP BY i.year ORDER BY i.year DESC LIMIT 1
  ) inc ON true
 WHERE h.village_code LIKE :prefix AND h.status = ANY(:statuses)
 ORDER BY h.village_code, h.household_number, m.relation <> 'head', m.birth_date, m.id
"""


def _escape_like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _yes_no(value: bool) -> str:
    return "是" if value else "否"


def _registration_cell(registered_on: date | None, exited_on: date | None, year: int) -> str:
    """登记日期 as the import takes it again: a registration date after the exit date, or
    outside the identification year (orders the import refuses, which a register may hold
    from before it did), is left empty, and the import then registers the household in its
    identification year, before its exit."""
    if registered_on is None or registered_on.year != year:
        return ""
    if exited_on is not None and registered_on > exited_on:
        return ""
    return registered_on.isoformat()


class RegisterRows:
    """The register as rows of template cells (lists of text), personal fields as allowed."""

    def __init__(self, session: AsyncSession, privacy: Privacy, caller: Caller) -> None:
        self.session = session
        self.privacy = privacy
        self.clear = caller.has_scope(PII_READ_SCOPE)
        self.jurisdiction = caller.jurisdiction
        self.count = 0

    def _reveal(self, blob: bytes | None, field: str) -> str:
        if blob is None:
            return ""
        value = self.privacy.open(blob, field) or ""
        return value if self.clear else MASKS[field](value)

    def _cells(self, r: Any) -> list[str]:
        amounts = {k: Decimal(v) for k, v in (r.amounts or {}).items()}
        per_capita = per_capita_net_income(amounts, r.size) if amounts else None
        by_field: dict[str, str] = {
            "village_code": r.village_code,
            "household_number": r.household_number,
            "attribute": label_of(ATTRIBUTE_LABELS, r.attribute),
            "support_type": label_of(SUPPORT_LABELS, r.support_type),
            "primary_cause": label_of(CAUSE_LABELS, r.primary_cause),
            "secondary_causes": "、".join(
                label_of(CAUSE_LABELS, c) for c in r.secondary_causes or []
            ),
            "identification_standard": label_of(STANDARD_LABELS, r.identification_standard),
            "status": label_of(STATUS_LABELS, r.status),
            "year": str(r.year),
            "registered_on": _registration_cell(r.registered_on, r.exited_on, r.year),
            "exited_on": r.exited_on.isoformat() if r.exited_on else "",
            "phone": self._reveal(r.phone_enc, "phone"),
            "bank_account": self._reveal(r.bank_account_enc, "bank_account"),
            "housing_safety": label_of(HOUSING_LABELS, r.housing_safety),
            "drinking_water_safe": _yes_no(r.drinking_water_safe),
            "income_year": str(r.income_year) if r.income_year else "",
            "per_capita_net_income": f"{per_capita:.2f}" if per_capita is not None else "",
            "name": self._reveal(r.name_enc, "name"),
            "id_number": self._reveal(r.id_number_enc, "id_number"),
            "sex": label_of(SEX_LABELS, r.sex),
            # Masked: left out. The masked ID number hides exactly the birth date's digits, so
            # the date next to it would give the number away (and its year narrow it down).
            "birth_date": r.birth_date.isoformat() if self.clear else "",
            "relation": label_of(RELATION_LABELS, r.relation),
            "ethnicity": label_of(ETHNICITY_LABELS, r.ethnicity),
            "education": label_of(EDUCATION_LABELS, r.education) if r.education else "",
            "school_status": label_of(SCHOOL_LABELS, r.school_status) if r.school_status else "",
            "health": label_of(HEALTH_LABELS, r.health),
            "disability": r.disability or "",
            "labour_ability": label_of(LABOUR_LABELS, r.labour_ability),
            "migrant_months": str(r.migrant_months),
            "medical_insurance": _yes_no(r.medical_insurance),
            "pension_insurance": _yes_no(r.pension_insurance),
        }
        for header, source in INCOME_COLUMNS.items():
            amount = amounts.get(source.value)
            by_field[next(c.field for c in COLUMNS if c.header == header)] = (
                f"{amount:.2f}" if amount is not None else ""
            )
        return [by_field.get(c.field, "") for c in COLUMNS]

    async def batches(self) -> AsyncIterator[list[list[str]]]:
        result = await self.session.stream(
            text(_REGISTER).execution_options(yield_per=BATCH),
            {"prefix": _escape_like(self.jurisdiction), "statuses": list(EXPORTED_STATUSES)},
        )
        async for partition in result.partitions(BATCH):
            rows = [self._cells(r) for r in partition]
            self.count += len(rows)
            yield rows


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [inert(cell) for cell in row] for row in rows
    )
    return buffer.getvalue()


async def stream_csv(
    header: Iterable[str], batches: AsyncIterator[list[list[str]]]
) -> AsyncIterator[bytes]:
    yield (BOM + csv_text([header])).encode()
    async for rows in batches:
        yield csv_text(rows).encode()


EXCEL_MAX_ROWS = 1_048_576


class XlsxFile:
    """An .xlsx written row by row to a temporary file (constant memory), all cells text.

    Cells are written with ``write_string``: text such as ``=HYPERLINK(…)`` stays text and is
    never a formula. A full sheet (``rows_per_sheet`` rows, Excel's limit, header included)
    continues on a new sheet with the same header row.
    """

    def __init__(
        self, sheet_name: str, header: Iterable[str], rows_per_sheet: int = EXCEL_MAX_ROWS
    ) -> None:
        handle = tempfile.NamedTemporaryFile(prefix="fupin-export-", suffix=".xlsx", delete=False)
        handle.close()
        self.path = Path(handle.name)
        self.book = xlsxwriter.Workbook(
            str(self.path),
            {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False},
        )
        self.sheet_name = sheet_name
        self.header = list(header)
        self.rows_per_sheet = rows_per_sheet
        self.bold = self.book.add_format({"bold": True})
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = self.sheet_name if self.sheets == 1 else f"{self.sheet_name} ({self.sheets})"
        self.sheet = self.book.add_worksheet(name)
        for column, value in enumerate(self.header):
            self.sheet.write_string(0, column, value, self.bold)
        self.next_row = 1

    def write(self, rows: list[list[str]]) -> None:
        write_string = self.sheet.write_string
        for cells in rows:
            if self.next_row >= self.rows_per_sheet:
                self._new_sheet()
                write_string = self.sheet.write_string
            for column, value in enumerate(cells):
                if value and write_string(self.next_row, column, value) == -1:
                    raise ValueError(f"cell {self.next_row}/{column} was not written")
            self.next_row += 1

    def close(self) -> Path:
        self.book.close()
        return self.path

    def discard(self) -> None:
        """Give up a file that failed part way: nothing is left in the temporary directory."""
        try:
            self.book.close()
        except Exception:  # the file is deleted either way
            pass
        finally:
            self.path.unlink(missing_ok=True)


def template_xlsx() -> bytes:
    """The import template: headers (text-formatted columns) and an instructions sheet."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("贫困户信息")
    instructions = book.add_worksheet("填写说明")
    as_text = book.add_format({"num_format": "@"})
    required = book.add_format({"bold": True, "bg_color": "#FCE4D6", "num_format": "@"})
    optional = book.add_format({"bold": True, "bg_color": "#DDEBF7", "num_format": "@"})
    for index, column in enumerate(COLUMNS):
        sheet.write_string(0, index, column.header, required if column.required else optional)
        sheet.set_column(index, index, max(10, len(column.header) * 2), as_text)
        if column.choices and len("、".join(column.choices)) < 200:
            sheet.data_validation(
                1,
                index,
                100_000,
                index,
                {
                    "validate": "list",
                    "source": list(column.choices),
                    "ignore_blank": True,
                    "error_type": "warning",
                },
            )
    sheet.freeze_panes(1, 0)
    notes = ("列名", "必填", "示例", "说明", "可选值")
    instructions.write_row(0, 0, notes, required)
    for row, column in enumerate(COLUMNS, start=1):
        instructions.write_row(
            row,
            0,
            [
                column.header,
                "是" if column.required else "否",
                column.example,
                column.note,
                "、".join(column.choices),
            ],
        )
    instructions.set_column(0, 0, 30)
    instructions.set_column(3, 4, 60)
    instructions.write_string(
        len(COLUMNS) + 2,
        0,
        "每行一名家庭成员；同一户的各行须相邻，户信息在每行重复（空白视为与首行相同）。",
    )
    book.close()
    return buffer.getvalue()


def template_csv() -> bytes:
    return (BOM + csv_text([HEADERS])).encode()


_DIGIT = re.compile(r"\d")
# How a report value is masked by its column without pii:read: the personal fields as
# everywhere, and a birth date's digits starred (they would fill a masked ID number in; the
# shape still shows the mistake).
# A name keeps its first character as everywhere, but never a digit: a name has none, so a
# digit there is a number typed into the wrong column.
REPORT_MASKS: dict[str, Callable[[str], str]] = {
    header: MASKS[field] for header, field in PII_HEADERS.items()
} | {
    BY_FIELD["birth_date"].header: lambda value: _DIGIT.sub("*", value),
    BY_FIELD["name"].header: lambda value: _DIGIT.sub("*", MASKS["name"](value)),
}
# A shifted row or an unclosed quote puts ID numbers, phones and bank accounts into any column,
# so without pii:read every value is masked by its content too: each run of 7 or more digits
# (with single spaces or hyphens between them, as phones and accounts are often written, and an
# ID number's final X) is starred. Reasons quote the file in a few places only and name rows
# (at most 7 digits), so there runs of 8 or more are starred.
_VALUE_NUMBERS = re.compile(r"\d(?:[ -]?\d){6,}(?:[ -]?[Xx])?")
_REASON_NUMBERS = re.compile(r"\d(?:[ -]?\d){7,}(?:[ -]?[Xx])?")
_DIGIT_OR_X = re.compile(r"[\dXx]")
# A value of its column's own shape is shown as it is: a village code has 12 digits, which no ID
# number, phone or bank account has, and the officer correcting the file needs to see it.
_OWN_SHAPE = {BY_FIELD["village_code"].header: re.compile(r"\s*\d{12}\s*")}


def _starred(match: re.Match[str]) -> str:
    return _DIGIT_OR_X.sub("*", match.group())


def _value_masked(value: str) -> str:
    return _VALUE_NUMBERS.sub(_starred, value)


# The parts of a reason naming a household or a village (:mod:`.reasons`), as the report shows
# them: a village code and a jurisdiction are region codes (their form admits only their
# digits: a village code is shown as its column's value is); a household number is masked as
# any value is, so one that could be a phone, an ID number or an account is starred.
_PART_MASKS: dict[str, Callable[[str], str]] = {
    "village": str,
    "jurisdiction": str,
    "number": _value_masked,
}


def _whole_reason(error: Any) -> str:
    """The stored reason; one stored before reasons were shortened arrives cut to its first
    characters, and says how long it was."""
    if error.reason_chars <= len(error.reason):
        return str(error.reason)
    return f"{error.reason}…(truncated, {error.reason_chars:,} characters)"


class ErrorReport:
    """A job's row errors as report cells (行号, 列, 内容, 原因).

    ``clear`` (the reader holds pii:read, and the read is audited): values and reasons as
    stored. Otherwise a value is masked by its column and by its content, a reason that names
    the household already holding a person says only that it is another household, and a
    reason naming a household by its village code and number shows the village code.
    """

    def __init__(self, privacy: Privacy, field: str, *, clear: bool) -> None:
        self.privacy = privacy
        self.field = field  # the encryption context of the stored values
        self.clear = clear

    def cells(self, errors: Iterable[Any]) -> list[list[str]]:
        return [
            [str(e.row_number), e.column_name, self.value(e), self.reason(_whole_reason(e))]
            for e in errors
        ]

    def value(self, error: Any) -> str:
        if error.value_enc is None:
            # Too large to be one the import stores now: never decrypted whole.
            return f"…(truncated, {error.value_bytes:,} bytes stored)" if error.value_bytes else ""
        value = self.privacy.open(error.value_enc, self.field) or ""
        if not self.clear and not self._of_own_shape(error.column_name, value):
            mask = REPORT_MASKS.get(error.column_name)
            value = _value_masked(mask(value) if mask else value)
        return shorten(value)

    @staticmethod
    def _of_own_shape(column: str, value: str) -> bool:
        shape = _OWN_SHAPE.get(column)
        return shape is not None and shape.fullmatch(value) is not None

    def reason(self, reason: str) -> str:
        if not self.clear:
            if reason.startswith(NAMED_REFUSAL):
                return REGISTERED_ELSEWHERE
            reason = _reason_masked(reason)
        return shorten(reason, STORED_REASON_CHARS)


def _reason_masked(reason: str) -> str:
    """A reason as a caller without pii:read reads it: one naming a household or a village by
    a form of :mod:`.reasons` with each part masked by its own rule, any other with its long
    digit runs starred."""
    found = parts_of(reason)
    if found is None:
        return _REASON_NUMBERS.sub(_starred, reason)
    form, parts = found
    return form(**{name: _PART_MASKS[name](part) for name, part in parts.items()})


__all__ = [
    "ERROR_HEADERS",
    "HEADERS",
    "PII_HEADERS",
    "RegisterRows",
    "XlsxFile",
    "YES_NO",
    "inert",
    "ErrorReport",
    "REPORT_MASKS",
    "stream_csv",
    "template_csv",
    "template_xlsx",
]
