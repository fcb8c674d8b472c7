"""Row validation: text cells → register values, or precise errors (row, column, value, reason).

A chunk of rows is validated at once with pydantic ``TypeAdapter``s of the household and the
member columns (shapes, closed vocabularies by Chinese label, numbers, dates; the household
columns only where they differ from the row before); a chunk with errors is validated again
without its bad rows. Rules pydantic cannot see follow in plain Python: the GB 11643 check
character, village codes against the region table and the caller's jurisdiction, income
ceilings, agreement between the rows of one household, exactly one head.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from operator import mul
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from fupin_registry.households.domain import name_problem
from fupin_registry.imports.columns import (
    ATTRIBUTE_LABELS,
    BY_FIELD,
    CAUSE_LABELS,
    COLUMNS,
    DEFAULT_SUPPORT,
    EDUCATION_LABELS,
    ETHNICITY_LABELS,
    HEALTH_LABELS,
    HOUSEHOLD_FIELDS,
    HOUSING_LABELS,
    LABOUR_LABELS,
    PERSONAL_HOUSEHOLD_FIELDS,
    RELATION_LABELS,
    SCHOOL_LABELS,
    SEX_LABELS,
    STANDARD_LABELS,
    STATUS_LABELS,
    SUPPORT_LABELS,
    YES_NO,
    HeaderMap,
)
from fupin_registry.imports.limits import TOO_LONG, is_too_long, too_long_reason
from fupin_registry.imports.readers import FORMULA_WITHOUT_VALUE, LOSSY_NUMBER, RawRow
from fupin_registry.imports.reasons import NOT_A_VILLAGE, OUTSIDE_JURISDICTION
from fupin_registry.vocabulary import HouseholdStatus, IncomeSource, Relation

# ASCII digits throughout: \d also takes full-width and other Unicode digits.
_DATE_FORMS = re.compile(
    r"^([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})$"
    r"|^([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日$|^([0-9]{4})([0-9]{2})([0-9]{2})$"
)
DATE_FORMS_TEXT = "2015-06-30, 2015/6/30, 2015.6.30, 2015年6月30日 or 20150630"
_SCIENTIFIC = re.compile(r"^[0-9](\.[0-9]+)?[eE]\+?[0-9]+$")
_ID_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")  # ASCII digits only (\d also takes ０-９)
# Control characters a cell or a form field may not hold (tab, line feed, carriage return
# aside): NUL above all, which the database refuses.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Control characters, line breaks and the first character of each marker the readers put in a
# cell (a number that lost digits, a formula without a value, a cell longer than Excel allows).
_SUSPECT = re.compile(
    "[\x00-\x1f\x7f"
    + "".join(re.escape(marker[:1]) for marker in (LOSSY_NUMBER, FORMULA_WITHOUT_VALUE, TOO_LONG))
    + "]"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_ZEROS = ord("0") * sum(_ID_WEIGHTS)  # the weighted sum of the ASCII codes of "0"
_SEPARATORS = re.compile(r"[、,，;；/\s]+")
# An amount with text after it ("1234.5元") or before it ("￥1234.5", "约3000").
_TEXT_AFTER_NUMBER = re.compile(r"^[+-]?(?>[0-9]+(\.[0-9]*)?)[^0-9.]")
_TEXT_BEFORE_NUMBER = re.compile(r"^\D+[0-9]+(\.[0-9]+)?$")
_EXPONENT = re.compile(r"^[+-]?[0-9]+(\.[0-9]*)?[eE][+-]?[0-9]+$")
_FULL_WIDTH_DIGITS = re.compile("[０-９．]")
_WHITESPACE = re.compile(r"\s+")


def _date_text(value: Any) -> dt.date:
    """Only 2015-06-30, 2015/6/30, 2015.6.30, 2015年6月30日 and 20150630 (date cells arrive
    as 2015-06-30): pydantic alone would also take "0" or "1577836800" as Unix timestamps and
    "2015-06-30T00:00" as a date."""
    if not isinstance(value, str):
        raise PydanticCustomError("date_form", "not a date")
    match = _DATE_FORMS.match(value)
    if match is None:
        if value.isascii() and value.isdigit():
            reason = (
                "a number, not a date (a date cell formatted as a number?):"
                f" write it as {DATE_FORMS_TEXT}"
            )
        elif ":" in value or "T" in value:
            reason = f"a date without a time of day: write it as {DATE_FORMS_TEXT}"
        else:
            reason = f"not a date: write it as {DATE_FORMS_TEXT}"
        raise PydanticCustomError("date_form", reason)
    groups = match.groups()
    if groups[0]:
        year, month, day = groups[0], groups[2], groups[3]
    else:
        year, month, day = groups[4:7] if groups[4] else groups[7:10]
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError as exc:
        raise PydanticCustomError("date_form", f"not a real date: {exc}") from exc


def _labels(mapping: dict[str, Any]) -> Any:
    return Literal[tuple(mapping)]  # type: ignore[valid-type]


Text = Annotated[str, Field(max_length=200)]
Date = Annotated[dt.date, BeforeValidator(_date_text)]
# Years and counts stay text through pydantic, whose int parsing would also take "2_015",
# "+2015" or "6.0", and become int once the pattern has proven them plain ASCII digits. A year's
# range is a rule (earliest_register_year … this year), checked with its reason.
Year = Annotated[str, Field(pattern=r"^[0-9]{4}$")]
Months = Annotated[str, Field(pattern=r"^(0?[0-9]|1[0-2])$")]
# Amounts stay text through pydantic (its Decimal parsing costs more than all other columns
# together) and become Decimal once the pattern has proven them plain non-negative numbers.
Amount = Annotated[str, Field(pattern=r"^[0-9]{1,12}(\.[0-9]{1,2})?$")]
YesNo = Literal["是", "否"]


class HouseholdColumns(BaseModel):
    """The household columns of a row as text, checked for shape; labels still Chinese.

    They repeat on every member row, so a row whose household cells equal the row before's
    is not validated again (the result would be the same).
    """

    # The readers strip every cell already; the member columns are in the same dict.
    model_config = ConfigDict(extra="ignore")

    village_code: Annotated[str, Field(pattern=r"^[0-9]{12}$")]
    # Not starting with '-': an export writes such a cell '-… (a spreadsheet would take it for
    # a formula), which would not import again.
    household_number: Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z-]{0,31}$")]
    attribute: _labels(ATTRIBUTE_LABELS)  # type: ignore[valid-type]
    support_type: _labels(SUPPORT_LABELS) | None = None  # type: ignore[valid-type]
    primary_cause: _labels(CAUSE_LABELS)  # type: ignore[valid-type]
    secondary_causes: Text | None = None
    identification_standard: _labels(STANDARD_LABELS) | None = None  # type: ignore[valid-type]
    status: _labels(STATUS_LABELS) | None = None  # type: ignore[valid-type]
    year: Year
    registered_on: Date | None = None
    exited_on: Date | None = None
    phone: Annotated[str, Field(pattern=r"^(1[0-9]{10}|0[0-9]{2,3}-?[0-9]{7,8})$")] | None = None
    bank_account: Annotated[str, Field(pattern=r"^[0-9]{12,30}$")] | None = None
    housing_safety: _labels(HOUSING_LABELS) | None = None  # type: ignore[valid-type]
    drinking_water_safe: YesNo | None = None
    income_year: Year | None = None
    wages: Amount | None = None
    production: Amount | None = None
    property: Amount | None = None
    transfer: Amount | None = None
    production_costs: Amount | None = None


class MemberColumns(BaseModel):
    """The member columns of a row as text, checked for shape; labels still Chinese."""

    model_config = ConfigDict(extra="ignore")

    name: Annotated[str, Field(min_length=1, max_length=50)]
    id_number: Annotated[str, Field(max_length=40)]
    sex: Literal["男", "女"] | None = None
    birth_date: Date | None = None
    relation: _labels(RELATION_LABELS)  # type: ignore[valid-type]
    ethnicity: _labels(ETHNICITY_LABELS) | None = None  # type: ignore[valid-type]
    education: _labels(EDUCATION_LABELS) | None = None  # type: ignore[valid-type]
    school_status: _labels(SCHOOL_LABELS) | None = None  # type: ignore[valid-type]
    health: _labels(HEALTH_LABELS) | None = None  # type: ignore[valid-type]
    disability: Annotated[str, Field(max_length=100)] | None = None
    labour_ability: _labels(LABOUR_LABELS) | None = None  # type: ignore[valid-type]
    migrant_months: Months | None = None
    medical_insurance: YesNo | None = None
    pension_insurance: YesNo | None = None


YEAR_FORM = "a year is written as four digits 0-9, e.g. 2015"
ETHNICITY_REASON = (
    "not one of the 56 ethnic groups (民族) of the national standard (GB 3304): write the full"
    " name, e.g. 汉族、朝鲜族、满族"
)
HOUSEHOLD_ROWS = TypeAdapter(list[HouseholdColumns])
MEMBER_ROWS = TypeAdapter(list[MemberColumns])
INCOME_FIELDS = ("wages", "production", "property", "transfer", "production_costs")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str  # the template header ("" for the whole row)
    value: str
    reason: str


@dataclass(frozen=True)
class Rules:
    """What validation needs besides the row: reference data and configured limits."""

    villages: frozenset[str]
    jurisdiction: str
    max_income: Decimal
    max_members: int
    earliest_year: int
    today: dt.date


@dataclass
class Member:
    row: int
    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    relation: str
    ethnicity: str
    education: str | None
    school_status: str | None
    health: str
    disability: str | None
    labour_ability: str
    migrant_months: int
    medical_insurance: bool
    pension_insurance: bool


@dataclass
class Household:
    village_code: str
    household_number: str
    attribute: str
    support_type: str
    primary_cause: str
    secondary_causes: list[str]
    identification_standard: str
    status: str
    year: int
    registered_on: dt.date | None
    exited_on: dt.date | None
    phone: str | None
    bank_account: str | None
    housing_safety: str
    drinking_water_safe: bool
    income_year: int
    incomes: dict[str, Decimal]
    members: list[Member] = field(default_factory=list)

    @property
    def first_row(self) -> int:
        return self.members[0].row

    @property
    def last_row(self) -> int:
        return self.members[-1].row


@dataclass
class Checked:
    """A validated row: its household part and its member part (or its errors)."""

    row: int
    key: tuple[str, str]
    household_cells: tuple[str | None, ...]
    household: Household | None
    member: Member | None
    errors: list[RowError]


class RowDicts:
    """Rows as {field: text}; a blank household cell repeats the household's previous row.

    A row whose village code and household number are both blank continues the household of
    the row before (counties fill them in on a household's first row only). Holds the
    previous row across batches, so a household may straddle two batches.
    """

    def __init__(self, headers: HeaderMap) -> None:
        # 年人均纯收入 is computed by the register and never read.
        self.positions = [
            (n, i) for n, i in headers.positions.items() if n != "per_capita_net_income"
        ]
        self.key: tuple[str | None, str | None] = (None, None)
        self.household: dict[str, str] = {}

    def __call__(self, rows: Iterable[RawRow]) -> list[tuple[RawRow, dict[str, str]]]:
        out = []
        for raw in rows:
            cells = raw.cells
            size = len(cells)
            values = {name: cells[i] for name, i in self.positions if i < size and cells[i]}
            key = (values.get("village_code"), values.get("household_number"))
            if key == (None, None) and self.key[0] and self.key[1]:
                key = self.key
            if key == self.key and key[0] and key[1]:
                missing = self.household.keys() - values.keys()
                for name in missing:
                    values[name] = self.household[name]
            else:
                self.key = key
                self.household = {n: values[n] for n in HOUSEHOLD_FIELDS if n in values}
            out.append((raw, values))
        return out


def row_dicts(rows: Iterable[RawRow], headers: HeaderMap) -> list[tuple[RawRow, dict[str, str]]]:
    return RowDicts(headers)(rows)


def _header(field_name: str) -> str:
    column = BY_FIELD.get(field_name)
    return column.header if column else field_name


_HOUSEHOLD_HEADERS = frozenset(map(_header, HOUSEHOLD_FIELDS))


def _reason(error: ErrorDetails, field_name: str) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required: the cell is empty"
    if kind == "literal_error" and field_name == "ethnicity":
        return ETHNICITY_REASON
    if kind == "literal_error":
        choices = BY_FIELD[field_name].choices or ()
        return "not one of: " + "、".join(choices) if choices else error["msg"]
    if kind == "string_pattern_mismatch" and field_name in INCOME_FIELDS:
        return _amount_reason(str(error.get("input", "")))
    if kind == "string_pattern_mismatch" and field_name == "household_number":
        text = str(error.get("input", ""))
        if text.startswith("-"):
            return (
                "starts with a letter or digit: spreadsheet programs take a cell starting with"
                " '-' for a formula (an export writes it with a leading quote)"
            )
        if text.startswith("'-"):
            return (
                "starts with a letter or digit: '-… is how a CSV export writes a household"
                " number starting with '-', which is not accepted"
            )
    if kind == "string_pattern_mismatch":
        return {
            "village_code": "a village code has exactly 12 digits",
            "household_number": (
                "letters, digits and '-' only, starting with a letter or digit,"
                " at most 32 characters"
            ),
            "phone": "not a phone number (11-digit mobile or 0-area-code landline)",
            "bank_account": "a bank account number has 12 to 30 digits",
            "year": YEAR_FORM,
            "income_year": YEAR_FORM,
            "migrant_months": "a whole number of months from 0 to 12, in plain digits 0-9",
        }.get(field_name, error["msg"])
    if kind == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length")
        held = len(str(error.get("input", "")))
        return f"at most {limit} characters (the cell holds {held:,})"
    if kind in ("decimal_parsing", "decimal_type"):
        return "not a number"
    if kind == "greater_than_equal":
        return "cannot be negative" if field_name in INCOME_FIELDS else error["msg"]
    if kind in ("decimal_max_places",):
        return "at most two decimal places (fen)"
    if kind in ("decimal_max_digits", "decimal_whole_digits"):
        return "implausibly large"
    if kind == "date_form":
        return error["msg"]
    if kind.startswith("date") or kind.startswith("datetime"):
        return "not a real date (YYYY-MM-DD): " + error["msg"].split(",", 1)[-1].strip()
    return error["msg"]


def _amount_reason(text: str) -> str:
    """Why an amount cell is not plain digits with at most two decimals (it is not)."""
    if "," in text or "，" in text:
        return "thousands separators are not accepted: write 3200.00, not 3,200.00"
    if _FULL_WIDTH_DIGITS.search(text):
        return "only the digits 0-9 and a decimal point (full-width digits are not accepted)"
    if _EXPONENT.match(text):
        return "exponent form is not accepted: write the amount in plain digits"
    if _TEXT_AFTER_NUMBER.match(text):
        return (
            "text after the number (a unit such as 元?): write the amount in yuan as plain"
            " digits, e.g. 3200.50"
        )
    if _TEXT_BEFORE_NUMBER.match(text) and not text.startswith(("+", "-")):
        return (
            "text before the number (a currency sign?): write the amount in yuan as plain"
            " digits, e.g. 3200.50"
        )
    if not text.isascii():
        return "only the digits 0-9 and a decimal point"
    try:
        amount = Decimal(text)
    except ArithmeticError:
        return "not a number"
    if not amount.is_finite():
        return "not a number"
    if amount < 0:
        return "cannot be negative"
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        return "at most two decimal places (fen)"
    if amount >= 10**12:
        return "implausibly large"
    return "write the amount as plain digits with at most two decimals, e.g. 3200.50"


def _pydantic_errors(raw: RawRow, values: dict[str, str], error: ErrorDetails) -> RowError:
    field_name = str(error["loc"][1]) if len(error["loc"]) > 1 else ""
    return RowError(
        raw.number, _header(field_name), values.get(field_name, ""), _reason(error, field_name)
    )


def _too_large(rules: Rules) -> str:
    return f"implausibly large (above {rules.max_income} yuan a year)"


def _year_range(field_name: str, rules: Rules) -> str:
    first = rules.earliest_year - 1 if field_name == "income_year" else rules.earliest_year
    return f"must lie between {first} and {rules.today.year}"


def _lossy_reason(field_name: str, number: str, rules: Rules) -> str:
    """Why a number cell of 16 digits or more is refused: in a column of amounts, years or
    months it is out of range whatever its last digits were; elsewhere (an ID number or a bank
    account typed into a number cell) its last digits may be lost."""
    if field_name in INCOME_FIELDS:
        return "cannot be negative" if number.startswith("-") else _too_large(rules)
    if field_name in ("year", "income_year"):
        return _year_range(field_name, rules)
    if field_name == "migrant_months":
        return "must lie between 0 and 12"
    return (
        "stored as a number: the spreadsheet kept only 15 significant digits and the"
        " rest may be lost; format the column as text and enter the value again"
    )


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"  # a control character as \x00 … \x7f


def _pre_checks(raw: RawRow, values: dict[str, str], rules: Rules) -> list[RowError]:
    """Problems of the cell text itself, before shapes: lost digits, formulas without a value,
    cells longer than Excel allows, control characters."""
    errors = []
    if raw.problem:
        errors.append(RowError(raw.number, "", "", raw.problem))
    if not _SUSPECT.search("".join(values.values())):
        return errors  # the usual case: one scan of the whole row
    for name in list(values):
        text = values[name]
        if text.startswith(LOSSY_NUMBER):
            number = text[len(LOSSY_NUMBER) :]
            errors.append(
                RowError(raw.number, _header(name), number, _lossy_reason(name, number, rules))
            )
            del values[name]
        elif is_too_long(text):
            errors.append(RowError(raw.number, _header(name), "", too_long_reason(text)))
            del values[name]
        elif text == FORMULA_WITHOUT_VALUE:
            errors.append(
                RowError(
                    raw.number,
                    _header(name),
                    "",
                    "formula without a calculated value; enter the value",
                )
            )
            del values[name]
        elif CONTROL_CHARACTERS.search(text):
            shown = CONTROL_CHARACTERS.sub(_escaped, text)  # visible, and inert in the report
            errors.append(RowError(raw.number, _header(name), shown, "contains control characters"))
            del values[name]
        elif "\n" in text or "\r" in text or "\t" in text:
            values[name] = _WHITESPACE.sub(" ", text)
    return errors


def _validate(
    adapter: TypeAdapter[Any], batch: list[tuple[RawRow, dict[str, str]]], positions: list[int]
) -> tuple[dict[int, Any], dict[int, list[RowError]]]:
    """Validate the rows at ``positions`` at once; a list with errors is validated again
    without its bad rows. Returns the models and the shape errors, by position."""
    dicts = [batch[i][1] for i in positions]
    errors: dict[int, list[RowError]] = {}
    try:
        return dict(zip(positions, adapter.validate_python(dicts), strict=True)), errors
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            position = positions[int(error["loc"][0])]
            raw, values = batch[position]
            errors.setdefault(position, []).append(_pydantic_errors(raw, values, error))
    keep = [i for i in positions if i not in errors]
    valid = adapter.validate_python([batch[i][1] for i in keep])
    return dict(zip(keep, valid, strict=True)), errors


def check_rows(batch: list[tuple[RawRow, dict[str, str]]], rules: Rules) -> list[Checked]:
    """Validate a chunk of rows; every row comes back, valid or with its errors."""
    pre = [_pre_checks(raw, values, rules) for raw, values in batch]
    cells = [tuple(map(values.get, HOUSEHOLD_FIELDS)) for _, values in batch]
    # Household columns: only where they differ from the row before (whose result would repeat).
    fresh = [i for i in range(len(batch)) if i == 0 or cells[i] != cells[i - 1]]
    households, household_errors_ = _validate(HOUSEHOLD_ROWS, batch, fresh)
    members, member_errors = _validate(MEMBER_ROWS, batch, list(range(len(batch))))
    checked = []
    last_cells: tuple[str | None, ...] | None = None
    last_household: Household | None = None
    household_columns: HouseholdColumns | None = None
    shape: list[RowError] = []
    for position, (raw, values) in enumerate(batch):
        if position in households or position in household_errors_:
            household_columns = households.get(position)
            shape = household_errors_.get(position, [])
            if shape:
                # Other household cells have the wrong shape: the rules still run over the
                # cells that have the right one, so that one upload names every problem.
                shape = shape + _rules_despite_shape(raw.number, values, shape, rules)
        errors = pre[position] + member_errors.get(position, [])
        if shape:
            # A repeated row with bad household cells reports them again, on its own row.
            errors[len(pre[position]) : len(pre[position])] = [
                RowError(raw.number, e.column, e.value, e.reason) for e in shape
            ]
        key = (values.get("village_code", ""), values.get("household_number", ""))
        row_cells = cells[position]
        household = member = None
        member_columns = members.get(position)
        # Each half's rules run when its cells have the right shape, whatever the other half's
        # are: a bad phone does not hide a wrong check character until the next upload.
        if household_columns is not None:
            if row_cells == last_cells:
                # Same household columns as the row before: same household, checked already.
                household = last_household
            else:
                # A cell dropped by the text checks is unknown, not blank: 状态 with a control
                # character does not make the household 已识别 for the 脱贫日期 rule.
                unknown = _fields_named(pre[position]) if pre[position] else frozenset()
                household, more = _convert_household(
                    raw.number, household_columns, values, rules, unknown
                )
                errors += more
                last_cells, last_household = row_cells, household
        if member_columns is not None:
            member, more = _convert_member(raw.number, member_columns, values, rules)
            errors += more
        if household is None or member is None:
            household = member = None
        if pre[position]:
            # A cell already reported for its text is not reported again as missing (nor as
            # required by another cell: 残疾情况 when 健康状况 is 残疾).
            reported = {e.column for e in pre[position]}
            errors = [
                e for e in errors if not (e.reason.startswith("required") and e.column in reported)
            ]
        checked.append(Checked(raw.number, key, row_cells, household, member, errors))
    return checked


def check_id_number(text: str, today: dt.date) -> str | None:
    """The reason an ID number is not valid (GB 11643), or None."""
    value = text.strip().upper()
    if _SCIENTIFIC.match(value):
        return (
            "written in exponent form: the spreadsheet stored the ID number as a number and lost"
            " its last digits; format the column as text and enter it again"
        )
    if not _ID_SHAPE.match(value):
        if len(value) == 18 and not value.isascii():
            return (
                "a resident ID number is written with ASCII digits 0-9 and X (this one has"
                " full-width or other non-ASCII characters: retype it in half-width)"
            )
        return (
            "a resident ID number has 17 digits and a check digit or X"
            f" (got {len(value)} characters)"
        )
    # The reasons name no date: digits 7-14 are what a masked ID number hides.
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "the birth date in the ID number (its digits 7-14) is not a real date"
    if born.year < 1900 or born > today:
        return "the birth date in the ID number (its digits 7-14) is impossible"
    # Weighted sum over the ASCII codes, less the codes of "0": no int() per digit.
    expected = _ID_CHECK[(sum(map(mul, value[:17].encode(), _ID_WEIGHTS)) - _ID_ZEROS) % 11]
    if expected != value[17]:
        return f"wrong check character: {value[17]} given, {expected} expected for these 17 digits"
    return None


def _village_errors(
    number: int, village_code: str, values: dict[str, str], rules: Rules
) -> list[RowError]:
    """A village the division codes do not hold, or one outside the importer's jurisdiction."""
    if village_code not in rules.villages:
        reason = NOT_A_VILLAGE(village=village_code)
    elif not village_code.startswith(rules.jurisdiction):
        reason = OUTSIDE_JURISDICTION(village=village_code, jurisdiction=rules.jurisdiction)
    else:
        return []
    return [RowError(number, _header("village_code"), values.get("village_code", ""), reason)]


_FIELD_BY_HEADER = {_header(name): name for name in HOUSEHOLD_FIELDS}
_DATE_FIELDS = ("registered_on", "exited_on")


def _fields_named(errors: list[RowError]) -> frozenset[str]:
    """The household fields whose cells these errors reject."""
    return frozenset(_FIELD_BY_HEADER[e.column] for e in errors if e.column in _FIELD_BY_HEADER)


def _rules_despite_shape(
    number: int, values: dict[str, str], shape: list[RowError], rules: Rules
) -> list[RowError]:
    """The household rules over the cells that passed their shape, the others unknown."""
    unknown = _fields_named(shape)
    cells: dict[str, Any] = {
        name: None if name in unknown else values.get(name) for name in HOUSEHOLD_FIELDS
    }
    for name in _DATE_FIELDS:
        if cells[name] is not None:
            cells[name] = _date_text(cells[name])  # passed its shape: the same date again
    # Every cell given has been validated by HouseholdColumns already (its errors name the
    # others), so the model is built without validating again.
    partial = HouseholdColumns.model_construct(**cells)
    return _convert_household(number, partial, values, rules, unknown)[1]


def _convert_household(
    number: int,
    row: HouseholdColumns,
    values: dict[str, str],
    rules: Rules,
    unknown: frozenset[str] = frozenset(),
) -> tuple[Household | None, list[RowError]]:
    """The household columns of a row (checked once per household: the rows repeat them).

    ``unknown`` names the cells rejected already (they are None in ``row``): the rules that
    need them are skipped, and no household is built."""
    errors: list[RowError] = []

    def fail(field_name: str, reason: str) -> None:
        errors.append(RowError(number, _header(field_name), values.get(field_name, ""), reason))

    if row.village_code is not None:
        errors += _village_errors(number, row.village_code, values, rules)
    year = int(row.year) if row.year is not None else None
    income_year = int(row.income_year) if row.income_year is not None else None
    year_in_range = year is not None and rules.earliest_year <= year <= rules.today.year
    if year is not None and not year_in_range:
        fail("year", _year_range("year", rules))
    primary = CAUSE_LABELS[row.primary_cause] if row.primary_cause is not None else None
    secondary: list[str] = []
    if row.secondary_causes:
        for label in _SEPARATORS.split(row.secondary_causes):
            if not label:
                continue
            cause = CAUSE_LABELS.get(label)
            if cause is None:
                fail("secondary_causes", f"'{label}' is not one of: " + "、".join(CAUSE_LABELS))
            elif cause == primary:
                fail("secondary_causes", f"'{label}' is already the primary cause")
            elif cause in secondary:
                fail("secondary_causes", f"'{label}' is given twice")
            else:
                secondary.append(cause)
        if len(secondary) > 2:
            fail("secondary_causes", "at most two secondary causes")
    amounts = ((name, getattr(row, name)) for name in INCOME_FIELDS)
    incomes = {name: Decimal(text) for name, text in amounts if text is not None}
    for name, amount in incomes.items():
        if amount > rules.max_income:
            fail(name, _too_large(rules))
    if income_year is not None and not rules.earliest_year - 1 <= income_year <= rules.today.year:
        fail("income_year", _year_range("income_year", rules))
    status: str | None = HouseholdStatus.IDENTIFIED
    if row.status:
        status = STATUS_LABELS[row.status]
    elif "status" in unknown:
        status = None
    # The dates as the register's steps have them: none before its first year nor in the future,
    # registration in the identification year (the identification workflow sets 识别年度 to the
    # year of the registration), the exit after both. (Their order against the head's birth is
    # a rule over the members: household_errors.)
    registered, exited = row.registered_on, row.exited_on
    if registered is not None:
        if registered > rules.today:
            fail("registered_on", "lies in the future")
        elif registered.year < rules.earliest_year:
            fail("registered_on", _before_register(rules))
        elif year_in_range and registered.year != year:
            fail(
                "registered_on",
                f"lies in {registered.year}, not in 识别年度 {year}: a household is"
                " registered in its identification year",
            )
    if exited is not None:
        # A returned household (返贫) keeps the date it exited before, as the register does.
        if status is not None and status not in (HouseholdStatus.EXITED, HouseholdStatus.RETURNED):
            fail(
                "exited_on", "only an exited (已脱贫) or returned (返贫) household has an exit date"
            )
        elif exited > rules.today:
            fail("exited_on", "lies in the future")
        elif exited.year < rules.earliest_year:
            fail("exited_on", _before_register(rules))
        elif registered is not None and exited < registered:
            fail("exited_on", "lies before 登记日期: a household exits after it was registered")
        elif year_in_range and exited.year < year:
            fail(
                "exited_on",
                f"lies in {exited.year}, before 识别年度 {year}: a household exits after"
                " its identification",
            )
    if errors or unknown:
        return None, errors
    assert year is not None and primary is not None and status is not None
    attribute = ATTRIBUTE_LABELS[row.attribute]
    household = Household(
        village_code=row.village_code,
        household_number=row.household_number,
        attribute=attribute,
        support_type=(
            SUPPORT_LABELS[row.support_type] if row.support_type else DEFAULT_SUPPORT[attribute]
        ),
        primary_cause=primary,
        secondary_causes=secondary,
        identification_standard=(
            STANDARD_LABELS[row.identification_standard]
            if row.identification_standard
            else "national"
        ),
        status=status,
        year=year,
        registered_on=row.registered_on,
        exited_on=row.exited_on,
        phone=row.phone,
        bank_account=row.bank_account,
        housing_safety=HOUSING_LABELS[row.housing_safety] if row.housing_safety else "safe",
        drinking_water_safe=YES_NO[row.drinking_water_safe] if row.drinking_water_safe else True,
        income_year=income_year or year,
        incomes=incomes,
    )
    return household, errors


def _before_register(rules: Rules) -> str:
    # The year alone: a reason's long digit runs (a whole date) are starred in the report.
    return f"lies before {rules.earliest_year}, the register's first year (earliest_register_year)"


def _convert_member(
    number: int, row: MemberColumns, values: dict[str, str], rules: Rules
) -> tuple[Member | None, list[RowError]]:
    errors: list[RowError] = []

    def fail(field_name: str, reason: str) -> None:
        errors.append(RowError(number, _header(field_name), values.get(field_name, ""), reason))

    reason = check_id_number(row.id_number, rules.today)
    if reason:
        fail("id_number", reason)
    id_number = row.id_number.upper()
    name_reason = name_problem(row.name)
    if name_reason is not None:
        fail("name", name_reason)
    health = HEALTH_LABELS[row.health] if row.health else "healthy"
    if health == "disabled" and not row.disability:
        fail("disability", "required when 健康状况 is 残疾: kind and grade of the disability")
    if errors:
        return None, errors
    sex = "male" if int(id_number[16]) % 2 else "female"
    born = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    if row.sex is not None and SEX_LABELS[row.sex] != sex:
        fail("sex", "does not match the sex encoded in the ID number")
    if row.birth_date is not None and row.birth_date != born:
        # The reason names no date: with the ID number masked (first 6 and last 4 digits),
        # the birth date would give the hidden digits away.
        fail("birth_date", "does not match the birth date in the ID number (its digits 7-14)")
    if errors:
        return None, errors
    member = Member(
        row=number,
        id_number=id_number,
        name=row.name,
        sex=sex,
        birth_date=born,
        relation=RELATION_LABELS[row.relation],
        ethnicity=ETHNICITY_LABELS[row.ethnicity] if row.ethnicity else "han",
        education=EDUCATION_LABELS[row.education] if row.education else None,
        school_status=SCHOOL_LABELS[row.school_status] if row.school_status else None,
        health=health,
        disability=row.disability,
        labour_ability=LABOUR_LABELS[row.labour_ability] if row.labour_ability else "ordinary",
        migrant_months=int(row.migrant_months) if row.migrant_months else 0,
        medical_insurance=YES_NO[row.medical_insurance] if row.medical_insurance else True,
        pension_insurance=YES_NO[row.pension_insurance] if row.pension_insurance else False,
    )
    return member, errors


def row_errors(rows: list[Checked]) -> list[RowError]:
    """The errors of one household's rows. A row whose household cells differ from the first
    row's is reported for that: the checks of its household cells (登记日期 against 识别年度)
    mixed the cells it gives with those it repeats from the first row, and would blame a cell
    it left blank."""
    errors = [e for r in rows for e in r.errors]
    # Against a first row's cell that is wrong itself, the later rows' differ rightly.
    wrong_first = {e.column for e in rows[0].errors}
    differing = [e for e in differing_household_cells(rows) if e.column not in wrong_first]
    if not differing:
        return errors
    at_fault = {e.row for e in differing}
    kept = [e for e in errors if e.row not in at_fault or e.column not in _HOUSEHOLD_HEADERS]
    return sorted(kept + differing, key=lambda e: e.row)


def differing_household_cells(rows: list[Checked]) -> list[RowError]:
    """Household columns repeat on every row: a blank repeats the first row, others must
    agree."""
    first = rows[0]
    errors = []
    for row in rows[1:]:
        for position, text in enumerate(row.household_cells):
            expected = first.household_cells[position]
            if text and text != expected:
                name = HOUSEHOLD_FIELDS[position]
                # A personal field's first value is not quoted: reasons are never masked.
                shown = "" if name in PERSONAL_HOUSEHOLD_FIELDS else f" ('{expected or ''}')"
                errors.append(
                    RowError(
                        row.row,
                        _header(name),
                        text,
                        f"differs from row {first.row} of the same household{shown}",
                    )
                )
    return errors


def household_errors(rows: list[Checked], max_members: int) -> list[RowError]:
    """Rules over all rows of one household; the rows are all valid on their own."""
    first = rows[0]
    errors = differing_household_cells(rows)
    heads = [r for r in rows if r.member and r.member.relation == Relation.HEAD]
    if len(heads) != 1:
        rows_text = ", ".join(str(r.row) for r in heads) if heads else "none"
        errors.append(
            RowError(
                first.row,
                _header("relation"),
                "",
                f"a household has exactly one head (户主); found {len(heads)} (rows: {rows_text})",
            )
        )
    if len(heads) == 1:
        errors += _dates_before_birth(first, heads[0])
    if len(rows) > max_members:
        errors.append(RowError(first.row, "", "", f"a household has at most {max_members} members"))
    seen: dict[str, int] = {}
    for row in rows:
        if row.member is None:
            continue
        earlier = seen.get(row.member.id_number)
        if earlier is not None:
            errors.append(
                RowError(
                    row.row,
                    _header("id_number"),
                    "",
                    f"this person is already listed at row {earlier}",
                )
            )
        seen.setdefault(row.member.id_number, row.row)
    return errors


_REGISTERED_AT = HOUSEHOLD_FIELDS.index("registered_on")
_EXITED_AT = HOUSEHOLD_FIELDS.index("exited_on")
_YEAR_AT = HOUSEHOLD_FIELDS.index("year")


def _dates_before_birth(first: Checked, head: Checked) -> list[RowError]:
    """The household's registration and exit dates, and without a registration date its
    identification year, lie on or after its head's birth."""
    household, member = first.household, head.member
    if household is None or member is None:
        return []
    errors = []
    for name, when, at in (
        ("registered_on", household.registered_on, _REGISTERED_AT),
        ("exited_on", household.exited_on, _EXITED_AT),
    ):
        if when is not None and when < member.birth_date:
            # No date in the reason: the head's birth date is what a masked ID number hides.
            errors.append(
                RowError(
                    first.row,
                    _header(name),
                    first.household_cells[at] or "",
                    f"lies before the birth of the head of the household (户主, row {head.row})",
                )
            )
    if household.registered_on is None and household.year < member.birth_date.year:
        # Without 登记日期 the household is registered in 识别年度: not before its head's birth.
        errors.append(
            RowError(
                first.row,
                _header("year"),
                first.household_cells[_YEAR_AT] or "",
                f"lies before the birth of the head of the household (户主, row {head.row})",
            )
        )
    return errors


def rejected_with_household(rows: list[Checked], bad_rows: set[int]) -> list[RowError]:
    """The other rows of a rejected household: nothing of a household is half-written."""
    listed = ", ".join(str(r) for r in sorted(bad_rows)[:10])
    return [
        RowError(r.row, "", "", f"not imported: the household's row(s) {listed} have errors")
        for r in rows
        if r.row not in bad_rows
    ]


def assemble(rows: list[Checked]) -> Household:
    household = rows[0].household
    assert household is not None
    household.members = [r.member for r in rows if r.member is not None]
    return household


__all__ = [
    "COLUMNS",
    "Checked",
    "Household",
    "IncomeSource",
    "HouseholdColumns",
    "Member",
    "MemberColumns",
    "RowError",
    "Rules",
    "assemble",
    "check_id_number",
    "check_rows",
    "household_errors",
    "rejected_with_household",
    "row_errors",
    "RowDicts",
    "row_dicts",
]
