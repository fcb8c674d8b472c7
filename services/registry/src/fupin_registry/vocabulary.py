"""Closed vocabularies of the national registration form (建档立卡), with Chinese labels."""

from __future__ import annotations

from enum import StrEnum

from fupin_events.registry import HouseholdAttribute, HouseholdStatus, SupportType


class PovertyCause(StrEnum):
    ILLNESS = "illness"  # 因病
    DISABILITY = "disability"  # 因残
    SCHOOLING = "schooling"  # 因学
    DISASTER = "disaster"  # 因灾
    LACK_OF_LAND = "lack_of_land"  # 缺土地
    LACK_OF_WATER = "lack_of_water"  # 缺水
    LACK_OF_SKILLS = "lack_of_skills"  # 缺技术
    LACK_OF_LABOUR = "lack_of_labour"  # 缺劳力
    LACK_OF_CAPITAL = "lack_of_capital"  # 缺资金
    POOR_TRANSPORT = "poor_transport"  # 交通条件落后
    LACK_OF_DRIVE = "lack_of_drive"  # 自身发展动力不足


class Relation(StrEnum):
    HEAD = "head"  # 户主
    SPOUSE = "spouse"  # 配偶
    CHILD = "child"  # 子女
    PARENT = "parent"  # 父母
    GRANDCHILD = "grandchild"  # 孙子女
    SIBLING = "sibling"  # 兄弟姐妹
    OTHER = "other"  # 其他


class Education(StrEnum):
    ILLITERATE = "illiterate"  # 文盲或半文盲
    PRIMARY = "primary"  # 小学
    JUNIOR_HIGH = "junior_high"  # 初中
    SENIOR_HIGH = "senior_high"  # 高中
    VOCATIONAL = "vocational"  # 中专/职高
    COLLEGE = "college"  # 大专及以上
    PRESCHOOL = "preschool"  # 学龄前


class SchoolStatus(StrEnum):
    NOT_IN_SCHOOL = "not_in_school"
    PRESCHOOL = "preschool"
    PRIMARY = "primary"
    JUNIOR_HIGH = "junior_high"
    SENIOR_HIGH = "senior_high"
    VOCATIONAL = "vocational"
    COLLEGE = "college"
    DROPPED_OUT = "dropped_out"  # 辍学


class Health(StrEnum):
    HEALTHY = "healthy"  # 健康
    CHRONIC_ILLNESS = "chronic_illness"  # 长期慢性病
    SERIOUS_ILLNESS = "serious_illness"  # 患有大病
    DISABLED = "disabled"  # 残疾


class LabourAbility(StrEnum):
    ORDINARY = "ordinary"  # 普通劳动力
    SKILLED = "skilled"  # 技能劳动力
    WEAK = "weak"  # 弱劳动力或半劳动力
    NONE = "none"  # 丧失劳动力
    NOT_OF_AGE = "not_of_age"  # 无劳动力 (儿童、在校生)


class HousingSafety(StrEnum):
    SAFE = "safe"
    GRADE_C = "grade_c"  # C级危房
    GRADE_D = "grade_d"  # D级危房


class IncomeSource(StrEnum):
    WAGES = "wages"  # 工资性收入
    PRODUCTION = "production"  # 生产经营性收入
    PROPERTY = "property"  # 财产性收入
    TRANSFER = "transfer"  # 转移性收入 (含低保、五保、养老金、生态补偿)
    PRODUCTION_COSTS = "production_costs"  # 生产经营性支出 (deducted)


class MeasureType(StrEnum):
    """Kinds of targeted measures in a household's assistance plan (一户一策)."""

    INDUSTRY = "industry"  # 产业扶持
    EMPLOYMENT = "employment"  # 转移就业
    RELOCATION = "relocation"  # 易地扶贫搬迁
    EDUCATION = "education"  # 教育扶贫
    HEALTH = "health"  # 健康扶贫
    ECOLOGY = "ecology"  # 生态补偿
    HOUSING = "housing"  # 危房改造
    MICROCREDIT = "microcredit"  # 扶贫小额信贷
    GUARANTEE = "guarantee"  # 社保兜底
    INFRASTRUCTURE = "infrastructure"  # 基础设施
    OTHER = "other"


class MemberDeparture(StrEnum):
    """Why a person left a household."""

    DEATH = "death"  # 死亡
    MIGRATION = "migration"  # 迁出
    MARRIAGE = "marriage"  # 婚出
    SEPARATE_HOUSEHOLD = "separate_household"  # 分户
    OTHER = "other"


class BasicNeed(StrEnum):
    """两不愁三保障: secured food and clothing; compulsory education, basic medical care and
    housing safety guaranteed."""

    FOOD = "food"
    CLOTHING = "clothing"
    COMPULSORY_EDUCATION = "compulsory_education"
    BASIC_MEDICAL_CARE = "basic_medical_care"
    HOUSING_SAFETY = "housing_safety"


class IdentificationStandard(StrEnum):
    NATIONAL = "national"  # 国家标准
    PROVINCIAL = "provincial"  # 省定标准


__all__ = [
    "BasicNeed",
    "Education",
    "Health",
    "HouseholdAttribute",
    "HouseholdStatus",
    "HousingSafety",
    "IdentificationStandard",
    "IncomeSource",
    "LabourAbility",
    "MeasureType",
    "MemberDeparture",
    "PovertyCause",
    "Relation",
    "SchoolStatus",
    "SupportType",
]


class HistoryBasis(StrEnum):
    """How the register is read as of a past date."""

    EFFECTIVE = "effective"  # as in effect on the date, as known now (business dates)
    RECORDED = "recorded"  # as the register stood at the end of the date (transaction time)


class Ethnicity(StrEnum):
    """The 56 nationalities of GB 3304 (民族), by their romanised names."""

    HAN = "han"  # 汉族
    MONGOL = "mongol"  # 蒙古族
    HUI = "hui"  # 回族
    ZANG = "zang"  # 藏族
    UYGUR = "uygur"  # 维吾尔族
    MIAO = "miao"  # 苗族
    YI = "yi"  # 彝族
    ZHUANG = "zhuang"  # 壮族
    BUYEI = "buyei"  # 布依族
    KOREAN = "korean"  # 朝鲜族
    MANCHU = "manchu"  # 满族
    DONG = "dong"  # 侗族
    YAO = "yao"  # 瑶族
    BAI = "bai"  # 白族
    TUJIA = "tujia"  # 土家族
    HANI = "hani"  # 哈尼族
    KAZAK = "kazak"  # 哈萨克族
    DAI = "dai"  # 傣族
    LI = "li"  # 黎族
    LISU = "lisu"  # 傈僳族
    VA = "va"  # 佤族
    SHE = "she"  # 畲族
    GAOSHAN = "gaoshan"  # 高山族
    LAHU = "lahu"  # 拉祜族
    SUI = "sui"  # 水族
    DONGXIANG = "dongxiang"  # 东乡族
    NAXI = "naxi"  # 纳西族
    JINGPO = "jingpo"  # 景颇族
    KIRGIZ = "kirgiz"  # 柯尔克孜族
    TU = "tu"  # 土族
    DAUR = "daur"  # 达斡尔族
    MULAO = "mulao"  # 仫佬族
    QIANG = "qiang"  # 羌族
    BLANG = "blang"  # 布朗族
    SALAR = "salar"  # 撒拉族
    MAONAN = "maonan"  # 毛南族
    GELAO = "gelao"  # 仡佬族
    XIBE = "xibe"  # 锡伯族
    ACHANG = "achang"  # 阿昌族
    PUMI = "pumi"  # 普米族
    TAJIK = "tajik"  # 塔吉克族
    NU = "nu"  # 怒族
    UZBEK = "uzbek"  # 乌孜别克族
    RUSS = "russ"  # 俄罗斯族
    EWENKI = "ewenki"  # 鄂温克族
    DEANG = "deang"  # 德昂族
    BONAN = "bonan"  # 保安族
    YUGUR = "yugur"  # 裕固族
    GIN = "gin"  # 京族
    TATAR = "tatar"  # 塔塔尔族
    DERUNG = "derung"  # 独龙族
    OROQEN = "oroqen"  # 鄂伦春族
    HEZHEN = "hezhen"  # 赫哲族
    MONBA = "monba"  # 门巴族
    LHOBA = "lhoba"  # 珞巴族
    JINO = "jino"  # 基诺族
