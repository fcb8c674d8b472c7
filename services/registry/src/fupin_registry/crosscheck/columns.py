"""The detail columns a reference list may keep next to a blind index, by list kind.

Only the columns listed here are stored (an allow list: a column named in a way nobody
foresaw — 车主, 手机号码, 银行卡号, 联系方式 — is dropped, not kept). Each is stored under its
standard name, whatever alias the file used. A kept column's value is also checked by content:
one holding seven or more digits in a row (spaces and hyphens between them included) may be a
phone, bank account or ID number typed into the wrong column, so it is dropped — unless it has
the column's own shape (a date in a date column, a unified social credit code in the credit-code
column).

Migration 1300 applies the same rule, from a frozen copy of these tables, to entries stored
before it (a unit test keeps the copy equal to :data:`DETAIL_COLUMNS`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from fupin_registry.crosscheck.schemas import ListKind
from fupin_registry.imports.columns import normalise_header


class Shape(StrEnum):
    """What a column's values look like, beyond free text."""

    TEXT = "text"
    DATE = "date"
    CREDIT_CODE = "credit_code"  # 统一社会信用代码 (GB 32100)


# The same patterns are written into migration 1300's SQL (PostgreSQL's regular expressions
# read them alike: no backslashes, '-' last in a bracket).
DIGIT_RUN = "[0-9](?:[ -]?[0-9]){6,}"
DATE_VALUE = (
    "[0-9]{4}(?:[-/.年][0-9]{1,2}(?:[-/.月][0-9]{1,2}日?)?月?|[0-9]{4})"
    "(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?"
)
CREDIT_CODE_VALUE = "[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}"

_DIGIT_RUN = re.compile(DIGIT_RUN)
_SHAPES = {Shape.DATE: re.compile(DATE_VALUE), Shape.CREDIT_CODE: re.compile(CREDIT_CODE_VALUE)}


@dataclass(frozen=True)
class DetailColumn:
    name: str  # the key in ``reference_entries.detail``
    aliases: tuple[str, ...] = ()
    shape: Shape = Shape.TEXT

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


DETAIL_COLUMNS: dict[ListKind, tuple[DetailColumn, ...]] = {
    ListKind.VEHICLES: (
        DetailColumn("号牌号码", ("车牌号码", "车牌号", "号牌", "plate_number")),
        DetailColumn("号牌种类", ("plate_type",)),
        DetailColumn("车辆类型", ("车型", "vehicle_type")),
        DetailColumn("品牌型号", ("车辆品牌", "brand_model")),
        DetailColumn("使用性质", ("use_type",)),
        DetailColumn("登记日期", ("初次登记日期", "注册登记日期", "registration_date"), Shape.DATE),
    ),
    ListKind.COMPANIES: (
        DetailColumn("企业名称", ("公司名称", "市场主体名称", "company_name")),
        DetailColumn("统一社会信用代码", ("信用代码", "credit_code"), Shape.CREDIT_CODE),
        DetailColumn("职务", ("任职", "职位", "人员身份", "身份", "角色", "role")),
        DetailColumn("出资比例", ("持股比例", "认缴比例", "share")),
        DetailColumn("成立日期", ("established_on",), Shape.DATE),
        DetailColumn("登记状态", ("经营状态", "registration_status")),
    ),
    ListKind.PUBLIC_EMPLOYEES: (
        DetailColumn("工作单位", ("单位名称", "所在单位", "employer")),
        DetailColumn("职务", ("岗位", "职位", "post")),
        DetailColumn("人员类别", ("编制类型", "staff_category")),
        DetailColumn("入职日期", ("参加工作日期", "参加工作时间", "start_date"), Shape.DATE),
    ),
    ListKind.URBAN_HOUSING: (
        DetailColumn("城市", ("所在城市", "市", "city")),
        DetailColumn("区县", ("所在区县", "区", "district")),
        DetailColumn("购房日期", ("网签日期", "合同签订日期", "purchase_date"), Shape.DATE),
        DetailColumn("建筑面积", ("面积", "area")),
    ),
    ListKind.DEATHS: (
        DetailColumn("死亡日期", ("死亡时间", "date_of_death", "died_on"), Shape.DATE),
        DetailColumn("死亡地点", ("死亡地", "place_of_death")),
        DetailColumn("注销日期", ("户籍注销日期", "deregistered_on"), Shape.DATE),
    ),
    # The civil-affairs household number and village code are read apart (service).
    ListKind.DIBAO: (
        DetailColumn("保障人数", ("享受人数", "people")),
        DetailColumn("月保障金额", ("保障金额", "月保障金", "amount")),
        DetailColumn("保障类别", ("category",)),
        DetailColumn("开始享受日期", ("保障开始日期", "start_date"), Shape.DATE),
    ),
}


def header_key(header: str) -> str:
    """A header as the allow list compares it: normalised, English names in any case."""
    return normalise_header(header).lower()


_BY_HEADER = {
    kind: {header_key(h): column for column in columns for h in column.headers}
    for kind, columns in DETAIL_COLUMNS.items()
}


def kept_columns(kind: ListKind, header: list[str]) -> list[tuple[int, DetailColumn]]:
    """The positions of the header's allowed columns (the first of two with one name)."""
    lookup = _BY_HEADER[kind]
    chosen: dict[str, tuple[int, DetailColumn]] = {}
    for position, text in enumerate(header):
        column = lookup.get(header_key(text))
        if column is not None:
            chosen.setdefault(column.name, (position, column))
    return list(chosen.values())


def kept_value(column: DetailColumn, value: str) -> bool:
    """Whether a value may be stored: it has the column's own shape, or holds no long run of
    digits (full-width digits count: the value is compared in NFKC form)."""
    folded = unicodedata.normalize("NFKC", value)
    shape = _SHAPES.get(column.shape)
    if shape is not None and shape.fullmatch(folded.upper()):
        return True
    return _DIGIT_RUN.search(folded) is None
