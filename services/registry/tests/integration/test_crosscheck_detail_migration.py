"""Migration 1300 scrubs the detail of reference entries stored before the allow list."""

import asyncio
import json
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from fupin_kit.testing.database import downgrade, migrated_database, upgrade

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"

# What uploads kept before: every column whose header did not name personal data by a few words.
STORED_BEFORE = [
    (
        "vehicles",
        {
            "车主": "王小明",
            "手机号码": "13812345678",
            "银行卡号": "6222020200112233445",
            "联系方式": "王 13900001111",
            "\ufeff号牌号码": "吉A12345",
            "车辆 类型": "小型轿车",
            "登记日期": "20140302",
        },
        {"号牌号码": "吉A12345", "车辆类型": "小型轿车", "登记日期": "20140302"},
    ),
    (
        "companies",
        {
            "企业名称": "某某农机合作社",
            "信用代码": "91220101MA0Y2K3X1B",
            "职务": "股东 6222020200112233445",
            "法人代表": "李四",
        },
        {"企业名称": "某某农机合作社", "统一社会信用代码": "91220101MA0Y2K3X1B"},
    ),
    (
        "public_employees",
        {"工作单位": "县财政局 １３９００００１１１１", "岗位": "科员"},
        {"职务": "科员"},
    ),
    (
        "dibao",
        {
            "低保户编号": "2206221000010001",
            "household_ref": "2206221000010001",
            "village_code": "220622100001",
            "户主": "赵六",
            "保障人数": "3",
        },
        {"household_ref": "2206221000010001", "village_code": "220622100001", "保障人数": "3"},
    ),
    (
        "dibao",
        {"household_ref": None, "village_code": None},
        {"household_ref": None, "village_code": None},
    ),
    ("deaths", {}, {}),
]


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def store_entries(dsn: str) -> list[int]:
    connection = await asyncpg.connect(dsn)
    try:
        ids = []
        for kind, detail, _ in STORED_BEFORE:
            list_id = uuid.uuid4()
            await connection.execute(
                "INSERT INTO reference_lists (id, kind, agency, uploaded_by, jurisdiction)"
                " VALUES ($1, $2, 'gaj', 'client:gaj', '22')",
                list_id,
                kind,
            )
            ids.append(
                await connection.fetchval(
                    "INSERT INTO reference_entries (list_id, id_index, detail)"
                    " VALUES ($1, $2, $3::jsonb) RETURNING id",
                    list_id,
                    uuid.uuid4().bytes,
                    json.dumps(detail, ensure_ascii=False),
                )
            )
        return ids
    finally:
        await connection.close()


async def details_of(dsn: str, ids: list[int]) -> list[dict]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, detail::text FROM reference_entries WHERE id = ANY($1::int[])", ids
        )
    finally:
        await connection.close()
    by_id = {row["id"]: json.loads(row["detail"]) for row in rows}
    return [by_id[i] for i in ids]


@pytest.fixture(scope="module")
def database_before_1300(database_url: str):
    with migrated_database(database_url, ALEMBIC_INI, "scrub") as url:
        downgrade(ALEMBIC_INI, url, "1200")
        yield url


def test_migration_1300_keeps_only_allowed_detail_under_standard_names(database_before_1300):
    dsn = asyncpg_dsn(database_before_1300)
    ids = asyncio.run(store_entries(dsn))
    upgrade(ALEMBIC_INI, database_before_1300, "1300")
    assert asyncio.run(details_of(dsn, ids)) == [expected for _, _, expected in STORED_BEFORE]
