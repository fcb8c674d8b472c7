"""The county spreadsheet template (建档立卡贫困户信息采集表): one row per member.

Household columns repeat on every member row of the household; rows of one household are
grouped by village code + household number and must be contiguous. Closed vocabularies are
written as their Chinese labels and mapped to the register's values here. An export uses the
same headers, so an exported file imports again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from fupin_registry.imports.limits import listed
from fupin_registry.vocabulary import (
    Education,
    Ethnicity,
    Health,
    HouseholdAttribute,
    HouseholdStatus,
    HousingSafety,
    IdentificationStandard,
    IncomeSource,
    LabourAbility,
    PovertyCause,
    Relation,
    SchoolStatus,
    SupportType,
)

ATTRIBUTE_LABELS = {
    "一般贫困户": HouseholdAttribute.ORDINARY_POOR,
    "低保户": HouseholdAttribute.DIBAO,
    "五保户": HouseholdAttribute.WUBAO,
    "特困户": HouseholdAttribute.WUBAO,
    "特困供养户": HouseholdAttribute.WUBAO,
    "低保贫困户": HouseholdAttribute.DIBAO_POOR,
}
SUPPORT_LABELS = {
    "开发式扶贫": SupportType.DEVELOPMENT,
    "兜底保障": SupportType.GUARANTEE,
    "开发与兜底": SupportType.BOTH,
    "两者兼有": SupportType.BOTH,
}
# When 帮扶类型 is left blank it follows from the attribute (低保/五保 are bottom-line guarantee).
DEFAULT_SUPPORT = {
    HouseholdAttribute.ORDINARY_POOR: SupportType.DEVELOPMENT,
    HouseholdAttribute.DIBAO: SupportType.GUARANTEE,
    HouseholdAttribute.WUBAO: SupportType.GUARANTEE,
    HouseholdAttribute.DIBAO_POOR: SupportType.BOTH,
}
CAUSE_LABELS = {
    "因病": PovertyCause.ILLNESS,
    "因残": PovertyCause.DISABILITY,
    "因学": PovertyCause.SCHOOLING,
    "因灾": PovertyCause.DISASTER,
    "缺土地": PovertyCause.LACK_OF_LAND,
    "缺水": PovertyCause.LACK_OF_WATER,
    "缺技术": PovertyCause.LACK_OF_SKILLS,
    "缺劳力": PovertyCause.LACK_OF_LABOUR,
    "缺资金": PovertyCause.LACK_OF_CAPITAL,
    "交通条件落后": PovertyCause.POOR_TRANSPORT,
    "自身发展动力不足": PovertyCause.LACK_OF_DRIVE,
}
STANDARD_LABELS = {
    "国家标准": IdentificationStandard.NATIONAL,
    "省定标准": IdentificationStandard.PROVINCIAL,
}
STATUS_LABELS = {
    "已识别": HouseholdStatus.IDENTIFIED,
    "未脱贫": HouseholdStatus.IDENTIFIED,
    "已脱贫": HouseholdStatus.EXITED,
    "返贫": HouseholdStatus.RETURNED,
}
HOUSING_LABELS = {
    "安全": HousingSafety.SAFE,
    "C级危房": HousingSafety.GRADE_C,
    "D级危房": HousingSafety.GRADE_D,
}
RELATION_LABELS = {
    "户主": Relation.HEAD,
    "配偶": Relation.SPOUSE,
    "子女": Relation.CHILD,
    "之子": Relation.CHILD,
    "之女": Relation.CHILD,
    "父母": Relation.PARENT,
    "之父": Relation.PARENT,
    "之母": Relation.PARENT,
    "孙子女": Relation.GRANDCHILD,
    "之孙子": Relation.GRANDCHILD,
    "之孙女": Relation.GRANDCHILD,
    "兄弟姐妹": Relation.SIBLING,
    "其他": Relation.OTHER,
}
EDUCATION_LABELS = {
    "文盲或半文盲": Education.ILLITERATE,
    "文盲": Education.ILLITERATE,
    "半文盲": Education.ILLITERATE,
    "小学": Education.PRIMARY,
    "初中": Education.JUNIOR_HIGH,
    "高中": Education.SENIOR_HIGH,
    "中专/职高": Education.VOCATIONAL,
    "中专": Education.VOCATIONAL,
    "职高": Education.VOCATIONAL,
    "大专及以上": Education.COLLEGE,
    "学龄前": Education.PRESCHOOL,
}
SCHOOL_LABELS = {
    "非在校生": SchoolStatus.NOT_IN_SCHOOL,
    "学前教育": SchoolStatus.PRESCHOOL,
    "小学": SchoolStatus.PRIMARY,
    "初中": SchoolStatus.JUNIOR_HIGH,
    "高中": SchoolStatus.SENIOR_HIGH,
    "中职": SchoolStatus.VOCATIONAL,
    "大专及以上": SchoolStatus.COLLEGE,
    "辍学": SchoolStatus.DROPPED_OUT,
}
HEALTH_LABELS = {
    "健康": Health.HEALTHY,
    "长期慢性病": Health.CHRONIC_ILLNESS,
    "患有大病": Health.SERIOUS_ILLNESS,
    "残疾": Health.DISABLED,
}
LABOUR_LABELS = {
    "普通劳动力": LabourAbility.ORDINARY,
    "技能劳动力": LabourAbility.SKILLED,
    "弱劳动力或半劳动力": LabourAbility.WEAK,
    "弱劳动力": LabourAbility.WEAK,
    "半劳动力": LabourAbility.WEAK,
    "丧失劳动力": LabourAbility.NONE,
    "无劳动力": LabourAbility.NOT_OF_AGE,
}
SEX_LABELS = {"男": "male", "女": "female"}
YES_NO = {"是": True, "否": False}
# The 56 nationalities of GB 3304, stored by their romanised names.
ETHNICITY_LABELS = {
    "汉族": Ethnicity.HAN,
    "蒙古族": Ethnicity.MONGOL,
    "回族": Ethnicity.HUI,
    "藏族": Ethnicity.ZANG,
    "维吾尔族": Ethnicity.UYGUR,
    "苗族": Ethnicity.MIAO,
    "彝族": Ethnicity.YI,
    "壮族": Ethnicity.ZHUANG,
    "布依族": Ethnicity.BUYEI,
    "朝鲜族": Ethnicity.KOREAN,
    "满族": Ethnicity.MANCHU,
    "侗族": Ethnicity.DONG,
    "瑶族": Ethnicity.YAO,
    "白族": Ethnicity.BAI,
    "土家族": Ethnicity.TUJIA,
    "哈尼族": Ethnicity.HANI,
    "哈萨克族": Ethnicity.KAZAK,
    "傣族": Ethnicity.DAI,
    "黎族": Ethnicity.LI,
    "傈僳族": Ethnicity.LISU,
    "佤族": Ethnicity.VA,
    "畲族": Ethnicity.SHE,
    "高山族": Ethnicity.GAOSHAN,
    "拉祜族": Ethnicity.LAHU,
    "水族": Ethnicity.SUI,
    "东乡族": Ethnicity.DONGXIANG,
    "纳西族": Ethnicity.NAXI,
    "景颇族": Ethnicity.JINGPO,
    "柯尔克孜族": Ethnicity.KIRGIZ,
    "土族": Ethnicity.TU,
    "达斡尔族": Ethnicity.DAUR,
    "仫佬族": Ethnicity.MULAO,
    "羌族": Ethnicity.QIANG,
    "布朗族": Ethnicity.BLANG,
    "撒拉族": Ethnicity.SALAR,
    "毛南族": Ethnicity.MAONAN,
    "仡佬族": Ethnicity.GELAO,
    "锡伯族": Ethnicity.XIBE,
    "阿昌族": Ethnicity.ACHANG,
    "普米族": Ethnicity.PUMI,
    "塔吉克族": Ethnicity.TAJIK,
    "怒族": Ethnicity.NU,
    "乌孜别克族": Ethnicity.UZBEK,
    "俄罗斯族": Ethnicity.RUSS,
    "鄂温克族": Ethnicity.EWENKI,
    "德昂族": Ethnicity.DEANG,
    "保安族": Ethnicity.BONAN,
    "裕固族": Ethnicity.YUGUR,
    "京族": Ethnicity.GIN,
    "塔塔尔族": Ethnicity.TATAR,
    "独龙族": Ethnicity.DERUNG,
    "鄂伦春族": Ethnicity.OROQEN,
    "赫哲族": Ethnicity.HEZHEN,
    "门巴族": Ethnicity.MONBA,
    "珞巴族": Ethnicity.LHOBA,
    "基诺族": Ethnicity.JINO,
}

INCOME_COLUMNS = {
    "工资性收入": IncomeSource.WAGES,
    "生产经营性收入": IncomeSource.PRODUCTION,
    "财产性收入": IncomeSource.PROPERTY,
    "转移性收入": IncomeSource.TRANSFER,
    "生产经营性支出": IncomeSource.PRODUCTION_COSTS,
}


def label_of(labels: Mapping[str, object], value: object) -> str:
    """The first (canonical) label of a value, for exports and the template."""
    for label, mapped in labels.items():
        if mapped == value:
            return label
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    household: bool  # repeated on every member row of the household
    required: bool = False
    aliases: tuple[str, ...] = ()
    example: str = ""
    note: str = ""
    exported_only: bool = False  # computed by the register; ignored on import
    choices: tuple[str, ...] = ()


def _choices(labels: Mapping[str, object]) -> tuple[str, ...]:
    seen: dict[object, str] = {}
    for label, value in labels.items():
        seen.setdefault(value, label)
    return tuple(seen.values())


COLUMNS: tuple[Column, ...] = (
    Column(
        "行政区划代码(村)",
        "village_code",
        True,
        True,
        ("村行政区划代码", "村代码", "行政区划代码"),
        "220622100201",
        "12 位村级统计用区划代码",
    ),
    Column(
        "户编号",
        "household_number",
        True,
        True,
        ("户编码", "户号"),
        "0001",
        "村内唯一，字母、数字和 -，以字母或数字开头，至多 32 位",
    ),
    Column("户属性", "attribute", True, True, (), "一般贫困户", choices=_choices(ATTRIBUTE_LABELS)),
    Column(
        "帮扶类型",
        "support_type",
        True,
        False,
        (),
        "开发式扶贫",
        "空白时按户属性：一般贫困户开发式扶贫，低保/五保兜底保障，低保贫困户开发与兜底",
        choices=_choices(SUPPORT_LABELS),
    ),
    Column("主要致贫原因", "primary_cause", True, True, (), "因病", choices=_choices(CAUSE_LABELS)),
    Column(
        "次要致贫原因",
        "secondary_causes",
        True,
        False,
        (),
        "缺技术、缺资金",
        "至多两项，用顿号或逗号分隔",
        choices=_choices(CAUSE_LABELS),
    ),
    Column(
        "识别标准",
        "identification_standard",
        True,
        False,
        (),
        "国家标准",
        choices=_choices(STANDARD_LABELS),
    ),
    Column(
        "贫困户状态",
        "status",
        True,
        False,
        ("户状态",),
        "已识别",
        "空白为已识别",
        choices=_choices(STATUS_LABELS),
    ),
    Column("识别年度", "year", True, True, (), "2015"),
    Column("登记日期", "registered_on", True, False, ("建档立卡日期",), "2015-06-30", "YYYY-MM-DD"),
    Column("脱贫日期", "exited_on", True, False, (), "", "YYYY-MM-DD，已脱贫户、返贫户填写"),
    Column("联系电话", "phone", True, False, ("电话",), "13904351234"),
    Column(
        "开户银行账号",
        "bank_account",
        True,
        False,
        ("银行账号", "银行卡号"),
        "6228480012345678901",
        "请设为文本格式",
    ),
    Column(
        "住房安全",
        "housing_safety",
        True,
        False,
        ("住房安全等级",),
        "安全",
        choices=_choices(HOUSING_LABELS),
    ),
    Column(
        "饮水安全",
        "drinking_water_safe",
        True,
        False,
        ("是否饮水安全",),
        "是",
        choices=("是", "否"),
    ),
    Column("收入年度", "income_year", True, False, (), "2014", "空白为识别年度"),
    Column("工资性收入", "wages", True, False, (), "3200.00", "元/年"),
    Column("生产经营性收入", "production", True, False, (), "1500.00", "元/年"),
    Column("财产性收入", "property", True, False, (), "0", "元/年"),
    Column(
        "转移性收入", "transfer", True, False, (), "800.00", "元/年，含低保、五保、养老金、生态补偿"
    ),
    Column("生产经营性支出", "production_costs", True, False, (), "600.00", "元/年，从收入中扣除"),
    Column(
        "年人均纯收入",
        "per_capita_net_income",
        True,
        False,
        ("人均纯收入",),
        "",
        "由系统计算，导入时忽略",
        exported_only=True,
    ),
    Column("姓名", "name", False, True, (), "张三"),
    Column(
        "证件号码",
        "id_number",
        False,
        True,
        ("身份证号码", "身份证号", "公民身份号码"),
        "220622198001011237",
        "18 位居民身份证号码，请设为文本格式",
    ),
    Column("性别", "sex", False, False, (), "男", "可空；须与证件号码一致", choices=("男", "女")),
    Column("出生日期", "birth_date", False, False, (), "1980-01-01", "可空；须与证件号码一致"),
    Column("与户主关系", "relation", False, True, (), "户主", choices=_choices(RELATION_LABELS)),
    Column(
        "民族",
        "ethnicity",
        False,
        False,
        (),
        "汉族",
        "空白为汉族；56 个民族的全称",
        choices=_choices(ETHNICITY_LABELS),
    ),
    Column("文化程度", "education", False, False, (), "初中", choices=_choices(EDUCATION_LABELS)),
    Column(
        "在校生状况", "school_status", False, False, (), "非在校生", choices=_choices(SCHOOL_LABELS)
    ),
    Column(
        "健康状况",
        "health",
        False,
        False,
        (),
        "健康",
        "空白为健康",
        choices=_choices(HEALTH_LABELS),
    ),
    Column("残疾情况", "disability", False, False, ("残疾类别及等级",), "", "健康状况为残疾时必填"),
    Column(
        "劳动技能",
        "labour_ability",
        False,
        False,
        (),
        "普通劳动力",
        "空白为普通劳动力",
        choices=_choices(LABOUR_LABELS),
    ),
    Column("务工时间(月)", "migrant_months", False, False, ("务工时间", "务工月数"), "6", "0–12"),
    Column(
        "是否参加城乡居民基本医疗保险",
        "medical_insurance",
        False,
        False,
        ("是否参加新型农村合作医疗", "是否参加医疗保险"),
        "是",
        "空白为是",
        choices=("是", "否"),
    ),
    Column(
        "是否参加城乡居民基本养老保险",
        "pension_insurance",
        False,
        False,
        ("是否参加新型农村社会养老保险", "是否参加养老保险"),
        "否",
        "空白为否",
        choices=("是", "否"),
    ),
)
HEADERS = tuple(c.header for c in COLUMNS)
BY_FIELD = {c.field: c for c in COLUMNS}
HOUSEHOLD_FIELDS = tuple(c.field for c in COLUMNS if c.household and not c.exported_only)
# Household columns holding personal data (encrypted, masked without pii:read).
PERSONAL_HOUSEHOLD_FIELDS = frozenset({"phone", "bank_account"})
KEY_FIELDS = ("village_code", "household_number")

# Spaces, line breaks, required-marks (*) and the invisible characters a header may carry: a
# byte order mark (U+FEFF, e.g. a CSV saved twice with one) and zero-width spaces and joiners.
_SPACES = re.compile(r"[\s\u3000*＊\ufeff\u200b-\u200d\u2060]+")


def normalise_header(text: str) -> str:
    """Full-width forms folded (（）→()), spaces, line breaks, required-marks (*) and
    invisible characters (byte order marks, zero-width spaces) removed."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


_LOOKUP: dict[str, Column] = {}
for _column in COLUMNS:
    for _name in (_column.header, *_column.aliases):
        _LOOKUP[normalise_header(_name)] = _column


@dataclass(frozen=True)
class HeaderMap:
    """Which spreadsheet column holds which template field."""

    positions: dict[str, int]  # field -> 0-based column index
    ignored: tuple[str, ...]  # headers not in the template (shortened, the first few dozen)

    def letter(self, field_name: str) -> str:
        return column_letter(self.positions[field_name])


class HeaderError(ValueError):
    """The header row cannot be used: names missing or duplicated columns."""


def map_headers(cells: list[str]) -> HeaderMap:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    duplicates: list[str] = []
    for index, raw in enumerate(cells):
        name = normalise_header(raw or "")
        if not name:
            continue
        column = _LOOKUP.get(name)
        if column is None:
            ignored.append(raw.strip())
            continue
        if column.field in positions:
            duplicates.append(
                f"{column.header} (columns {column_letter(positions[column.field])}"
                f" and {column_letter(index)})"
            )
            continue
        positions[column.field] = index
    missing = [c.header for c in COLUMNS if c.required and c.field not in positions]
    problems = []
    if missing:
        problems.append("missing required columns: " + ", ".join(missing))
    if duplicates:
        problems.append("columns given twice: " + ", ".join(duplicates))
    if problems:
        raise HeaderError("; ".join(problems))
    return HeaderMap(positions, tuple(listed(ignored)))


def header_score(cells: list[str]) -> int:
    """How many template headers a row holds (to find the header row below a title)."""
    return sum(1 for raw in cells if raw and normalise_header(raw) in _LOOKUP)


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters
