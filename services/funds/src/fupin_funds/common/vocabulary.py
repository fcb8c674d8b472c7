"""The funds vocabulary: fund sources, account kinds, project types and states (English names,
Chinese labels in docs)."""

from __future__ import annotations

from enum import StrEnum


class FundSource(StrEnum):
    CENTRAL = "central"  # 中央
    PROVINCIAL = "provincial"  # 省级
    CITY = "city"  # 市级
    COUNTY = "county"  # 县级
    INTEGRATED = "integrated"  # 整合资金
    SOCIAL = "social"  # 社会扶贫资金


class AccountKind(StrEnum):
    """Ledger accounts. ``appropriation`` is the credit-normal source of every inflow; all others
    are debit-normal holdings whose balance can never go below zero."""

    APPROPRIATION = "appropriation"  # 资金来源: budget appropriations and donations received
    FUND_POOL = "fund_pool"  # money a region holds per source and year
    ALLOCATION = "allocation"  # an approved allocation held during its notice period
    PROJECT = "project"  # money transferred to a project
    HOUSEHOLD_SUBSIDY = "household_subsidy"  # paid to households (per county)
    LOAN_SUBSIDY = "loan_subsidy"  # interest subsidies paid to banks (per county)
    BANK_SETTLEMENT = "bank_settlement"  # paid to implementing units and banks (per county)
    RISK_COMPENSATION = "risk_compensation"  # 风险补偿金 per county


CREDIT_NORMAL = frozenset({AccountKind.APPROPRIATION})


class EntryKind(StrEnum):
    APPROPRIATION = "appropriation"
    DONATION = "donation"
    ALLOCATION_RESERVE = "allocation_reserve"
    ALLOCATION_RELEASE = "allocation_release"
    ALLOCATION_RETURN = "allocation_return"
    PROJECT_FUNDING = "project_funding"
    PROJECT_PAYMENT = "project_payment"
    HOUSEHOLD_PAYMENT = "household_payment"
    DIRECT_SUBSIDY = "direct_subsidy"
    LOAN_SUBSIDY = "loan_subsidy"
    RISK_DEPOSIT = "risk_deposit"
    RISK_COMPENSATION = "risk_compensation"
    REVERSAL = "reversal"


PAYMENTS_TO_HOUSEHOLDS = (EntryKind.HOUSEHOLD_PAYMENT, EntryKind.DIRECT_SUBSIDY)
OUTFLOWS = (
    EntryKind.PROJECT_PAYMENT,
    EntryKind.HOUSEHOLD_PAYMENT,
    EntryKind.DIRECT_SUBSIDY,
    EntryKind.LOAN_SUBSIDY,
    EntryKind.RISK_COMPENSATION,
)


class KeyTask(StrEnum):
    """The ten key tasks of the provincial plan (十项重点工作)."""

    ROADS = "roads"
    WATER = "water"
    POWER = "power"
    HOUSING = "housing"
    INDUSTRY = "industry"
    TOURISM = "tourism"
    EDUCATION = "education"
    HEALTH = "health"
    CULTURE = "culture"
    INFORMATIZATION = "informatization"


class MeasureType(StrEnum):
    """Targeted measure types; ``purchased_public_service`` is 政府购买公共服务."""

    INDUSTRY = "industry"
    EMPLOYMENT = "employment"
    EDUCATION_SUBSIDY = "education_subsidy"
    HEALTH = "health"
    HOUSING = "housing"
    RELOCATION = "relocation"
    CREDIT = "credit"
    PURCHASED_PUBLIC_SERVICE = "purchased_public_service"


class ProjectCategory(StrEnum):
    KEY_TASK = "key_task"
    MEASURE = "measure"


class LoanProduct(StrEnum):
    MICROCREDIT = "microcredit"  # 扶贫小额信贷 / 贴息贷款
    FOUR_RIGHTS_MORTGAGE = "four_rights_mortgage"  # 四权抵押
    LAND_INCOME_GUARANTEE = "land_income_guarantee"  # 土地收益保证贷款
    DIRECT_SUBSIDY_GUARANTEE = "direct_subsidy_guarantee"  # 直补资金担保贷款


REGISTERED_STATUSES = frozenset({"identified", "returned"})
