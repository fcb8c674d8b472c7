"""DCI query parsing: the closed attribute list, operators, value validation, limits, and the
event-side evaluation used for subscriptions."""

import pytest

from fupin_events.values import id_check_character
from fupin_registry.dci.query import (
    AllOf,
    AnyOf,
    Condition,
    Negation,
    QueryError,
    from_json,
    map_values,
    matches,
    parse_query,
    to_json,
    values_tested,
)
from fupin_registry.dci.records import select_fields


def predicate(name, operator, value, **more):
    return {
        "expression1": {"attribute_name": name, "operator": operator, "attribute_value": value},
        **more,
    }


def test_idtype_value():
    assert parse_query("idtype-value", {"type": "UIN", "value": "220622198001011237"}) == Condition(
        "UIN", "eq", "220622198001011237"
    )
    with pytest.raises(QueryError):
        parse_query(
            "idtype-value", {"type": "UIN", "value": "220622198001011238"}
        )  # check character
    with pytest.raises(QueryError):
        parse_query("idtype-value", {"type": "MOBILE", "value": "13912345678"})
    with pytest.raises(QueryError):
        parse_query("idtype-value", {"type": "HOUSEHOLD_ID", "value": "not-a-uuid"})


def test_expression_documents():
    query = {
        "type": "expression",
        "value": {
            "expression": {
                "collection": "Group",
                "query": {
                    "$and": [
                        {"region": {"$eq": "220622"}},
                        {"$or": [{"status": "identified"}, {"YOB": {"$gte": 1990, "$lt": 2000}}]},
                    ],
                    "$not": {"attribute": {"$in": ["dibao", "wubao"]}},
                },
            }
        },
    }
    node = parse_query("expression", query)
    assert node == AllOf(
        (
            AllOf(
                (
                    Condition("region", "eq", "220622"),
                    AnyOf(
                        (
                            Condition("status", "eq", "identified"),
                            AllOf((Condition("YOB", "ge", 1990), Condition("YOB", "lt", 2000))),
                        )
                    ),
                )
            ),
            Negation(Condition("attribute", "in", ("dibao", "wubao"))),
        )
    )


@pytest.mark.parametrize("collection", ["Person", "group", 7, None, "x" * 500])
def test_an_expression_for_another_collection_is_refused(collection):
    query = {"expression": {"collection": collection, "query": {"status": "identified"}}}
    with pytest.raises(QueryError) as refused:
        parse_query("expression", {"type": "expression", "value": query})
    assert "searches the collection 'Group' (households)" in str(refused.value)
    assert len(str(refused.value)) < 120
    assert parse_query(
        "expression",
        {"type": "expression", "value": {"expression": {"query": {"status": "identified"}}}},
    ) == Condition("status", "eq", "identified")


def test_predicate_order_and_conditions():
    node = parse_query(
        "predicate",
        [
            predicate("status", "eq", "identified", seq_num=2),
            predicate(
                "region",
                "eq",
                "2206",
                seq_num=1,
                condition="or",
                expression2={
                    "attribute_name": "region",
                    "operator": "eq",
                    "attribute_value": "2202",
                },
            ),
            predicate(
                "sex",
                "eq",
                "female",
                seq_num=3,
                condition="not",
                expression2={
                    "attribute_name": "birth_date",
                    "operator": "lt",
                    "attribute_value": "1960-01-01",
                },
            ),
        ],
    )
    assert isinstance(node, AllOf)
    assert node.parts[0] == AnyOf(
        (Condition("region", "eq", "2206"), Condition("region", "eq", "2202"))
    )
    assert node.parts[1] == Condition("status", "eq", "identified")
    assert isinstance(node.parts[2].parts[1], Negation)


@pytest.mark.parametrize(
    "query",
    [
        [predicate("name", "eq", "张三")],  # not queryable
        [predicate("status", "lt", "identified")],  # operator not allowed on the attribute
        [predicate("status", "eq", "rich")],  # not a status
        [predicate("region", "eq", "22'; DROP TABLE members; --")],  # values are validated
        [predicate("region", "eq", "2206221")],  # 7 digits is no region level
        [predicate("birth_date", "ge", "1980-13-01")],
        # a day is YYYY-MM-DD alone: no time of day, nothing after it
        [predicate("registration_date", "le", "2016-01-01T23:59:59")],
        [predicate("registration_date", "le", "2016-01-01garbage")],
        [predicate("birth_date", "ge", "1980-1-1")],
        [predicate("YOB", "eq", True)],
        [predicate("status", "in", [])],
        [predicate("status", "in", ["identified"] * 101)],
        [
            predicate(
                "status",
                "eq",
                "identified",
                condition="xor",
                expression2={"attribute_name": "sex", "operator": "eq", "attribute_value": "male"},
            )
        ],
        [predicate("status", "eq", "identified")] * 21,  # too many conditions
        [],
        {"not": "a list"},
    ],
)
def test_refused_predicates(query):
    with pytest.raises(QueryError) as refused:
        parse_query("predicate", query)
    assert refused.value.reason_code == "rjct.search_criteria.invalid"


def test_expression_depth_is_bounded():
    document: dict = {"status": "identified"}
    for _ in range(8):
        document = {"$and": [document]}
    with pytest.raises(QueryError):
        parse_query("expression", {"value": {"expression": {"query": document}}})


def test_subscription_filters_round_trip_and_match_events():
    node = parse_query(
        "predicate",
        [
            predicate("region", "eq", "220622"),
            predicate("status", "in", ["returned", "identified"]),
            predicate("UIN", "eq", "220622198001011237"),
        ],
    )
    stored = to_json(map_values(node, "UIN", lambda v: "index-of-" + v[-4:]))
    restored = from_json(stored)
    facts = {
        "village_code": "220622100201",
        "status": "returned",
        "member_indexes": ["index-of-1237", "x"],
    }
    assert matches(restored, facts)
    assert not matches(restored, {**facts, "village_code": "220281100201"})
    assert not matches(restored, {**facts, "status": "exited"})
    assert not matches(restored, {**facts, "member_indexes": ["x"]})


def test_response_fields():
    assert select_fields("Group", ["group_identifier", "member_list.member_identifier"]) == {
        "group_identifier": None,
        "member_list": frozenset({"member_identifier"}),
    }
    for order in (
        ["member_list.member_identifier", "member_list"],
        ["member_list", "member_list.member_identifier"],
    ):
        assert select_fields("Group", order) == {"member_list": None}  # the whole member wins
    with pytest.raises(QueryError):
        select_fields("Group", ["bank_account"])
    with pytest.raises(QueryError):
        select_fields("Member", ["member_list.member_identifier"])
    assert set(select_fields("Member", None)) >= {"member_identifier", "demographic_info"}


def test_in_takes_the_specs_comma_separated_string_or_a_list():
    expected = Condition("status", "in", ("identified", "returned"))
    assert parse_query("predicate", [predicate("status", "in", "identified,returned")]) == expected
    assert parse_query("predicate", [predicate("status", "in", "identified, returned")]) == expected
    assert parse_query("predicate", [predicate("status", "in", ["identified", "returned"])]) == (
        expected
    )
    assert parse_query("predicate", [predicate("YOB", "in", "1980,1981")]) == Condition(
        "YOB", "in", (1980, 1981)
    )
    for bad in ("identified,", "identified,nonsense", ",".join(["identified"] * 101)):
        with pytest.raises(QueryError):
            parse_query("predicate", [predicate("status", "in", bad)])


def test_values_tested_weighs_each_value_of_an_in():
    """What a partner's rate limit counts: one per condition, one per value of an ``in``."""
    ids = [f"22062219800101{n:03d}" for n in (123, 124, 125)]
    ids = [body + id_check_character(body) for body in ids]
    assert values_tested("idtype-value", {"type": "UIN", "value": ids[0]}) == 1
    assert values_tested("predicate", [predicate("UIN", "in", ids)]) == 3
    assert values_tested("predicate", [predicate("UIN", "in", ",".join(ids[:2]))]) == 2
    two_conditions = [
        predicate(
            "status",
            "in",
            ["identified", "returned"],
            condition="and",
            expression2={"attribute_name": "region", "operator": "eq", "attribute_value": "2206"},
        )
    ]
    assert values_tested("predicate", two_conditions) == 3
    assert values_tested("predicate", "not a predicate") == 1  # refused item by item
