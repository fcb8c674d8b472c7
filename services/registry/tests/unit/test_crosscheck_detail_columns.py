"""Which detail columns of a reference list are kept, and which of their values."""

import importlib.util
from pathlib import Path

import pytest

from fupin_registry.crosscheck import columns
from fupin_registry.crosscheck.columns import (
    DETAIL_COLUMNS,
    DetailColumn,
    Shape,
    header_key,
    kept_columns,
    kept_value,
)
from fupin_registry.crosscheck.schemas import ListKind

MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "migrations"
    / "versions"
    / "1300_reference_detail_allow_list.py"
)
TEXT = DetailColumn("工作单位")
DATE = DetailColumn("登记日期", shape=Shape.DATE)
CREDIT_CODE = DetailColumn("统一社会信用代码", shape=Shape.CREDIT_CODE)


def test_only_allowed_columns_are_kept_under_their_standard_names():
    header = [
        "证件号码",
        "车主",
        "手机号码",
        "银行卡号",
        "联系方式",
        "车牌号",
        " 车辆 类型 ",
        "PLATE_TYPE",
    ]
    kept = [(position, column.name) for position, column in kept_columns(ListKind.VEHICLES, header)]
    assert kept == [(5, "号牌号码"), (6, "车辆类型"), (7, "号牌种类")]


def test_a_column_allowed_for_one_kind_is_not_kept_for_another():
    assert (
        kept_columns(ListKind.DEATHS, ["证件号码", "号牌号码", "死亡日期"])[0][1].name == "死亡日期"
    )
    assert len(kept_columns(ListKind.DEATHS, ["号牌号码"])) == 0


def test_the_first_of_two_columns_with_one_standard_name_is_kept():
    [(position, column)] = kept_columns(ListKind.VEHICLES, ["号牌号码", "车牌号码"])
    assert (position, column.name) == (0, "号牌号码")


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        "县财政局 13900001111",
        "139 0000 1111",
        "139-0000-1111",
        "１３８１２３４５６７８",  # full-width digits
        "6222020200112233445",
        "22010219900101011X",
        "0431-8888888",
    ],
)
def test_a_value_with_a_long_run_of_digits_is_dropped(value):
    assert not kept_value(TEXT, value)


@pytest.mark.parametrize("value", ["县财政局", "吉A12345", "89.50", "51%", "2014年3月", "科员"])
def test_an_ordinary_value_is_kept(value):
    assert kept_value(TEXT, value)


@pytest.mark.parametrize(
    "value", ["20140302", "2014-03-02", "2014/3/2", "2014年3月2日", "2014-03-02 09:30:00"]
)
def test_a_date_is_kept_in_a_date_column(value):
    assert kept_value(DATE, value)


@pytest.mark.parametrize("value", ["20140302", "2014-03-02"])
def test_a_date_of_eight_digits_in_a_row_is_kept_only_in_a_date_column(value):
    assert not kept_value(TEXT, value)


def test_a_credit_code_is_kept_in_its_column_but_a_phone_there_is_not():
    assert kept_value(CREDIT_CODE, "91220101MA0Y2K3X1B")
    assert kept_value(CREDIT_CODE, "91220101ma0y2k3x1b")
    assert not kept_value(TEXT, "91220101MA0Y2K3X1B")
    assert not kept_value(CREDIT_CODE, "13812345678")
    assert not kept_value(DATE, "2014-03-02 13812345678")


def test_no_header_names_two_columns_of_one_kind():
    for kind, kind_columns in DETAIL_COLUMNS.items():
        headers = [header_key(h) for column in kind_columns for h in column.headers]
        assert len(headers) == len(set(headers)), kind


def test_every_list_kind_has_its_allow_list():
    assert set(DETAIL_COLUMNS) == set(ListKind)


def test_migration_1300_scrubs_stored_entries_by_the_same_rule():
    spec = importlib.util.spec_from_file_location("migration_1300", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    frozen = {
        ListKind(kind): tuple(
            DetailColumn(name, aliases, Shape(shape)) for name, aliases, shape in c
        )
        for kind, c in migration.DETAIL_COLUMNS.items()
    }
    assert frozen == DETAIL_COLUMNS
    assert (migration.DIGIT_RUN, migration.DATE_VALUE, migration.CREDIT_CODE_VALUE) == (
        columns.DIGIT_RUN,
        columns.DATE_VALUE,
        columns.CREDIT_CODE_VALUE,
    )
    assert all(h == header_key(h) for _, h, _, _ in migration.allowed_rows())
