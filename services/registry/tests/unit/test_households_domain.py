"""Pure household rules: identity from the ID number, causes, heads, incomes; tiers; IDs."""

import random
from datetime import date
from decimal import Decimal

import pytest

from fupin_events.values import validate_resident_id
from fupin_registry.access import Tier, tier_allows
from fupin_registry.households.domain import (
    MemberPeriod,
    cause_findings,
    duplicate_positions,
    head_findings,
    household_size_at_year_end,
    identity_findings,
    income_findings,
    name_problem,
    net_income,
    per_capita_net_income,
)
from fupin_registry.synthetic import PeopleFactory, resident_id

ID = resident_id("220622", date(1970, 5, 1), 12, "male")


def test_synthetic_ids_are_valid_and_encode_birth_and_sex():
    assert validate_resident_id(ID) == ID and ID.startswith("22062219700501")
    factory = PeopleFactory("220581", seed=3)
    ids = {factory.id_number() for _ in range(2000)}
    assert len(ids) == 2000 and all(validate_resident_id(i) == i for i in ids)
    female = resident_id("220581", date(2001, 2, 28), 7, "female")
    assert int(female[16]) % 2 == 0
    with pytest.raises(ValueError):
        resident_id("2205", date(2001, 1, 1), 1, "male")
    # every check character, X included, comes out right
    rng = random.Random(1)
    checks = {
        resident_id("220622", date(1980, 1, 1 + rng.randrange(28)), rng.randrange(500), "male")[-1]
        for _ in range(400)
    }
    assert "X" in checks and len(checks) == 11


def test_identity_is_derived_and_must_match():
    assert identity_findings(ID, None, None, "#/body/members/0") == []
    assert identity_findings(ID, date(1970, 5, 1), "male", "#/body/members/0") == []
    findings = identity_findings(ID, date(1970, 5, 2), "female", "#/body/members/0")
    assert [f.pointer for f in findings] == ["#/body/members/0/birth_date", "#/body/members/0/sex"]


@pytest.mark.parametrize(
    ("primary", "secondary", "bad"),
    [
        ("illness", [], False),
        ("illness", ["disaster", "lack_of_land"], False),
        ("illness", ["illness"], True),
        ("illness", ["disaster", "disaster"], True),
        ("illness", ["disaster", "lack_of_land", "lack_of_water"], True),
    ],
)
def test_causes(primary, secondary, bad):
    findings = cause_findings(primary, secondary)
    assert bool(findings) is bad
    assert all(f.pointer == "#/body/secondary_causes" for f in findings)


def test_exactly_one_head_and_duplicates():
    assert head_findings(["head", "spouse", "child"], "#/body/members") == []
    assert head_findings(["spouse"], "#/body/members")[0].detail.endswith("(found 0)")
    assert head_findings(["head", "head"], "#/body/members")[0].detail.endswith("(found 2)")
    assert duplicate_positions([b"a", b"b", b"a", b"c", b"b"]) == [2, 4]


def test_per_capita_net_income():
    amounts = {
        "wages": Decimal("3000"),
        "production": Decimal("2500"),
        "transfer": Decimal("900.50"),
        "property": Decimal("0"),
        "production_costs": Decimal("700"),
    }
    assert net_income(amounts) == Decimal("5700.50")
    assert per_capita_net_income(amounts, 3) == Decimal("1900.17")
    assert per_capita_net_income(amounts, 0) is None
    assert per_capita_net_income({"production_costs": Decimal("100")}, 2) == Decimal("-50.00")
    assert per_capita_net_income({}, 4) == Decimal("0.00")


def test_income_guards():
    ceiling = Decimal("10000000")
    assert income_findings({"wages": Decimal("5")}, ceiling, "#/body") == []
    assert income_findings({"wages": Decimal("-1")}, ceiling, "#/body")[0].pointer == "#/body/wages"
    assert (
        income_findings({"wages": Decimal("10000001")}, ceiling, "#/body")[0].pointer
        == "#/body/wages"
    )
    total = income_findings(
        {"wages": Decimal("6000000"), "production": Decimal("6000000")}, ceiling, "#/body"
    )
    assert [f.pointer for f in total] == ["#/body"]


@pytest.mark.parametrize(
    ("jurisdiction", "tier", "allowed"),
    [
        ("220622100201", Tier.VILLAGE, True),
        ("220622100201", Tier.TOWNSHIP, False),
        ("220622100", Tier.TOWNSHIP, True),
        ("220622100", Tier.COUNTY, False),
        ("220622", Tier.COUNTY, True),
        ("22", Tier.COUNTY, True),
        ("220581", Tier.VILLAGE, False),  # does not see the village at all
        ("220622101", Tier.TOWNSHIP, False),  # another township
    ],
)
def test_tiered_responsibility(jurisdiction, tier, allowed):
    assert tier_allows(jurisdiction, "220622100201", tier) is allowed


def test_household_size_at_a_years_end_counts_who_belonged_then():
    members = [
        MemberPeriod(date(1960, 1, 1), None),  # head, still here
        MemberPeriod(date(1935, 5, 5), date(2017, 2, 1)),  # died the next year: counted in 2016
        MemberPeriod(date(1990, 3, 3), date(2016, 12, 31)),  # left on the last day: gone by then
        MemberPeriod(date(2017, 8, 8), None),  # born the next year: not counted for 2016
        MemberPeriod(None, None),  # no birth date known: counted
        MemberPeriod(date(1992, 2, 2), None, joined=date(2018, 5, 1)),  # married in in 2018
    ]
    assert household_size_at_year_end(members, 2016) == 3
    assert household_size_at_year_end(members, 2017) == 3
    assert household_size_at_year_end(members, 2018) == 4
    assert household_size_at_year_end(members, 2015) == 4
    assert household_size_at_year_end([], 2016) == 0


@pytest.mark.parametrize(
    "name",
    [
        "王芳",
        "阿依古丽·买买提",
        "John Smith",
        "Ｏ'Brien",
        "扎西顿珠",
        "玛丽-安",
        "王\u3000芳",
        "Jose\u0301",  # a decomposed é
        "བཀྲ་ཤིས",  # Tibetan: its vowels are combining marks
    ],
)
def test_names_of_people_are_accepted(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("张三1", "no digits or symbols"),
        ("张三１", "no digits or symbols"),  # full-width
        ("¹²³", "no digits or symbols"),  # superscript
        ("李①", "no digits or symbols"),  # circled
        ("王Ⅻ", "no digits or symbols"),  # Roman numeral
        ("王😀", "no digits or symbols"),  # emoji
        ("王$", "no digits or symbols"),
        ("王@", "no digits or symbols"),
        ("王¥", "no digits or symbols"),
        ("\x07", "control or invisible"),
        ("王\n李", "control or invisible"),
        ("王\t", "control or invisible"),
        ("\u202e王", "control or invisible"),  # right-to-left override
        ("\u200b", "control or invisible"),  # zero-width space alone
        ("王\u200b芳", "control or invisible"),
        ("·", "control or invisible"),  # no letter
        ("-王芳", "starts with a letter"),
        ("·王芳", "starts with a letter"),
        (" 王", "control or invisible"),
        ("王  芳", "control or invisible"),
        ("王\u3000\u3000芳", "control or invisible"),  # two ideographic spaces
        ("王\u00a0 芳", "control or invisible"),  # a no-break space and a space
        ("王芳\u3000", "control or invisible"),
        ("王\u2028芳", "control or invisible"),  # line separator
        ("王\u0301", "combining mark"),  # on a Chinese character
        ("\u0301王", "combining mark"),  # on nothing
        ("Jose\u0301\u0301\u0301", "combining mark"),  # stacked
    ],
)
def test_names_that_are_not_names_are_refused_with_the_reason(name, reason):
    problem = name_problem(name)
    assert problem is not None and reason in problem
