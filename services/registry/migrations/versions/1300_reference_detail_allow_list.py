"""reference_entries.detail: keep only the allowed detail columns of each list kind, under their
standard names, and drop values that hold a long run of digits (a phone, account or ID number)
unless they have the column's own shape — the rule new uploads follow (crosscheck/columns.py)

Entries stored before held every column whose header did not name personal data by one of a few
words, so 车主, 手机号码, 银行卡号 or 联系方式 were kept in clear. Nothing reads those columns
(a dibao list's ``household_ref`` and ``village_code``, which its report reads, are kept as
they are), so scrubbing them loses nothing the service uses. It cannot be undone: the
downgrade leaves the entries as they are.

Revision ID: 1300
Revises: 1200
"""

import sqlalchemy as sa
from alembic import op

revision = "1300"
down_revision = "1200"
branch_labels = None
depends_on = None

# A frozen copy of the rule as of this revision (a unit test keeps it equal to the code's):
# list kind -> (standard name, aliases, shape) of each allowed column.
DETAIL_COLUMNS: dict[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    "vehicles": (
        ("号牌号码", ("车牌号码", "车牌号", "号牌", "plate_number"), "text"),
        ("号牌种类", ("plate_type",), "text"),
        ("车辆类型", ("车型", "vehicle_type"), "text"),
        ("品牌型号", ("车辆品牌", "brand_model"), "text"),
        ("使用性质", ("use_type",), "text"),
        ("登记日期", ("初次登记日期", "注册登记日期", "registration_date"), "date"),
    ),
    "companies": (
        ("企业名称", ("公司名称", "市场主体名称", "company_name"), "text"),
        ("统一社会信用代码", ("信用代码", "credit_code"), "credit_code"),
        ("职务", ("任职", "职位", "人员身份", "身份", "角色", "role"), "text"),
        ("出资比例", ("持股比例", "认缴比例", "share"), "text"),
        ("成立日期", ("established_on",), "date"),
        ("登记状态", ("经营状态", "registration_status"), "text"),
    ),
    "public_employees": (
        ("工作单位", ("单位名称", "所在单位", "employer"), "text"),
        ("职务", ("岗位", "职位", "post"), "text"),
        ("人员类别", ("编制类型", "staff_category"), "text"),
        ("入职日期", ("参加工作日期", "参加工作时间", "start_date"), "date"),
    ),
    "urban_housing": (
        ("城市", ("所在城市", "市", "city"), "text"),
        ("区县", ("所在区县", "区", "district"), "text"),
        ("购房日期", ("网签日期", "合同签订日期", "purchase_date"), "date"),
        ("建筑面积", ("面积", "area"), "text"),
    ),
    "deaths": (
        ("死亡日期", ("死亡时间", "date_of_death", "died_on"), "date"),
        ("死亡地点", ("死亡地", "place_of_death"), "text"),
        ("注销日期", ("户籍注销日期", "deregistered_on"), "date"),
    ),
    "dibao": (
        ("保障人数", ("享受人数", "people"), "text"),
        ("月保障金额", ("保障金额", "月保障金", "amount"), "text"),
        ("保障类别", ("category",), "text"),
        ("开始享受日期", ("保障开始日期", "start_date"), "date"),
    ),
}
# Written by the upload itself and read by the dibao report: kept as they are.
DIBAO_KEYS = ("household_ref", "village_code")
DIGIT_RUN = "[0-9](?:[ -]?[0-9]){6,}"
DATE_VALUE = (
    "[0-9]{4}(?:[-/.年][0-9]{1,2}(?:[-/.月][0-9]{1,2}日?)?月?|[0-9]{4})"
    "(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?"
)
CREDIT_CODE_VALUE = "[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}"

# A stored key compared as the upload compares a header: NFKC, no spaces, '*', byte-order marks
# or zero-width characters (a spreadsheet program may save them in a header), any case.
_IGNORED_IN_HEADERS = "[[:space:]*\ufeff\u200b-\u200d\u2060]+"
_KEY = f"lower(regexp_replace(normalize(d.key, NFKC), '{_IGNORED_IN_HEADERS}', '', 'g'))"
_VALUE = "upper(normalize(d.value #>> '{}', NFKC))"


def scrub_statement(rows: str) -> str:
    """The UPDATE that rewrites every entry's detail by the rule (``rows``: the VALUES list)."""
    return f"""
WITH allowed(kind, header, name, shape) AS (VALUES {rows}),
scrubbed AS (
    SELECT e.id,
           COALESCE(jsonb_object_agg(a.name, d.value) FILTER (WHERE a.name IS NOT NULL), '{{}}')
               AS detail
      FROM reference_entries e
      JOIN reference_lists l ON l.id = e.list_id
     CROSS JOIN LATERAL jsonb_each(e.detail) d
      LEFT JOIN allowed a
        ON a.kind = l.kind AND a.header = {_KEY}
       AND (a.shape = 'as_given'
            OR jsonb_typeof(d.value) = 'null'
            OR (a.shape = 'date' AND {_VALUE} ~ '^(?:{DATE_VALUE})$')
            OR (a.shape = 'credit_code' AND {_VALUE} ~ '^(?:{CREDIT_CODE_VALUE})$')
            OR {_VALUE} !~ '{DIGIT_RUN}')
     WHERE jsonb_typeof(e.detail) = 'object'
     GROUP BY e.id
)
UPDATE reference_entries e SET detail = s.detail
  FROM scrubbed s
 WHERE e.id = s.id AND e.detail <> s.detail
"""  # noqa: S608 - only this module's constants are interpolated


def allowed_rows() -> list[tuple[str, str, str, str]]:
    """(list kind, header as compared, standard name, shape) for every accepted header."""
    rows = [
        (kind, header.lower(), name, shape)
        for kind, columns in DETAIL_COLUMNS.items()
        for name, aliases, shape in columns
        for header in (name, *aliases)
    ]
    rows += [("dibao", key, key, "as_given") for key in DIBAO_KEYS]
    return rows


def _literal(text: str) -> str:
    assert "'" not in text and "\\" not in text  # the constants above hold neither
    return f"'{text}'"


def upgrade() -> None:
    rows = ", ".join(f"({', '.join(map(_literal, row))})" for row in allowed_rows())
    op.execute(sa.text(scrub_statement(rows)))


def downgrade() -> None:
    """The dropped values are gone: nothing to restore."""
