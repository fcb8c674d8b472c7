"""DCI queries (idtype-value, expression, predicate) parsed into a small, closed filter tree.

Only the attributes below can be queried, each with its own operators and value type; every
value is validated before it gets near SQL, and the repository turns the tree into bound
parameters (never text). The same tree, evaluated in Python, filters event notifications.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from fupin_events.registry import HouseholdAttribute, HouseholdStatus, SupportType
from fupin_events.values import region_level, validate_resident_id
from fupin_registry.vocabulary import PovertyCause

MAX_CONDITIONS = 20
MAX_DEPTH = 6
MAX_IN_VALUES = 100

# Predicate / expression operators → canonical operator names.
OPERATORS = {
    "eq": "eq",
    "$eq": "eq",
    "lt": "lt",
    "$lt": "lt",
    "le": "le",
    "$le": "le",
    "$lte": "le",
    "gt": "gt",
    "$gt": "gt",
    "ge": "ge",
    "$ge": "ge",
    "$gte": "ge",
    "in": "in",
    "$in": "in",
}
EQUALITY = frozenset({"eq", "in"})
ORDERED = frozenset({"eq", "lt", "le", "gt", "ge", "in"})


class QueryError(ValueError):
    """``reason_code`` is the DCI status reason code to answer with."""

    def __init__(self, message: str, reason_code: str = "rjct.search_criteria.invalid") -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class Condition:
    attribute: str
    op: str
    value: Any  # a validated scalar, or a tuple of them for "in"


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Negation:
    part: Node


Node = Condition | AllOf | AnyOf | Negation


# --- attributes ---------------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError("a string")
    text = str(value).strip()
    if not text or len(text) > 64:
        raise ValueError("a non-empty string of at most 64 characters")
    return text


def _enum(values: set[str]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text_of(value)
        if text not in values:
            raise ValueError(f"one of {sorted(values)}")
        return text

    return parse


def _uin(value: Any) -> str:
    return validate_resident_id(_text_of(value))


def _household_id(value: Any) -> str:
    return str(uuid.UUID(_text_of(value)))


def _region(value: Any) -> str:
    text = _text_of(value)
    region_level(text)
    return text


def _village(value: Any) -> str:
    text = _text_of(value)
    if not re.fullmatch(r"[0-9]{12}", text):
        raise ValueError("a village code has 12 digits")
    return text


_ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _date(value: Any) -> date:
    """A day written YYYY-MM-DD, nothing before or after it (a time of day is not a day)."""
    text = _text_of(value)
    if not _ISO_DAY.match(text):
        raise ValueError("a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError("a date as YYYY-MM-DD") from exc


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("an integer")
        try:
            number = int(value)
        except ValueError as exc:
            raise ValueError("an integer") from exc
        if not low <= number <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return number

    return parse


@dataclass(frozen=True)
class Attribute:
    parse: Callable[[Any], Any]
    operators: frozenset[str]
    level: str  # "household" or "member": where the condition applies
    in_events: bool = False  # can subscriptions filter on it?
    # Filtering or sorting on it discloses the digits a masked ID number hides (the birth
    # date: digits 7-14), so it needs pii:read like the clear ID number itself.
    personal: bool = False


ATTRIBUTES: dict[str, Attribute] = {
    "UIN": Attribute(_uin, EQUALITY, "member", in_events=True),
    "HOUSEHOLD_ID": Attribute(_household_id, EQUALITY, "household", in_events=True),
    "region": Attribute(_region, EQUALITY, "household", in_events=True),
    "village_code": Attribute(_village, EQUALITY, "household", in_events=True),
    "status": Attribute(
        _enum({s.value for s in HouseholdStatus}), EQUALITY, "household", in_events=True
    ),
    "attribute": Attribute(
        _enum({a.value for a in HouseholdAttribute}), EQUALITY, "household", in_events=True
    ),
    "support_type": Attribute(_enum({s.value for s in SupportType}), EQUALITY, "household"),
    "primary_cause": Attribute(_enum({c.value for c in PovertyCause}), EQUALITY, "household"),
    "poverty_cause": Attribute(_enum({c.value for c in PovertyCause}), EQUALITY, "household"),
    "year": Attribute(_int_between(2000, 2100), ORDERED, "household"),
    "registration_date": Attribute(_date, ORDERED, "household"),
    "group_size": Attribute(_int_between(0, 100), ORDERED, "household"),
    "birth_date": Attribute(_date, ORDERED, "member", personal=True),
    "YOB": Attribute(_int_between(1900, 2100), ORDERED, "member", personal=True),
    "sex": Attribute(_enum({"male", "female"}), EQUALITY, "member"),
}
ALIASES = {
    "uin": "UIN",
    "household_id": "HOUSEHOLD_ID",
    "region_code": "region",
    "household_attribute": "attribute",
    "yob": "YOB",
}


def condition(name: Any, operator: Any, value: Any) -> Condition:
    attribute_name = ALIASES.get(str(name), str(name)) if isinstance(name, str) else None
    attribute = ATTRIBUTES.get(attribute_name or "")
    if attribute is None:
        raise QueryError(f"unknown attribute {name!r}; queryable: {sorted(ATTRIBUTES)}")
    assert attribute_name is not None
    op = OPERATORS.get(str(operator)) if isinstance(operator, str) else None
    if op is None or op not in attribute.operators:
        raise QueryError(f"operator {operator!r} is not allowed on {attribute_name}")
    try:
        if op == "in":
            # The spec's attribute_value is a scalar: "identified,returned". A JSON list is
            # accepted as well (an extension). No queryable value contains a comma.
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",")]
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
                raise ValueError(f"1 to {MAX_IN_VALUES} values, comma-separated (or a JSON list)")
            parsed: Any = tuple(attribute.parse(v) for v in value)
        else:
            parsed = attribute.parse(value)
    except ValueError as exc:
        raise QueryError(f"{attribute_name}: expected {exc}") from exc
    return Condition(attribute_name, op, parsed)


# --- the three query types ------------------------------------------------------------------------


def parse_query(query_type: str, query: Any) -> Node:
    if query_type == "idtype-value":
        node = parse_idtype_value(query)
    elif query_type == "expression":
        node = parse_expression(query)
    elif query_type == "predicate":
        node = parse_predicate(query)
    else:
        raise QueryError(f"query_type {query_type!r} is not supported")
    _check_size(node)
    return node


def parse_idtype_value(query: Any) -> Node:
    """``{"type": "UIN" | "HOUSEHOLD_ID", "value": ...}``."""
    if not isinstance(query, dict) or set(query) - {"type", "value"} or "type" not in query:
        raise QueryError("an idtype-value query is {'type': 'UIN' | 'HOUSEHOLD_ID', 'value': ...}")
    id_type = ALIASES.get(str(query["type"]), query["type"])
    if id_type not in ("UIN", "HOUSEHOLD_ID"):
        raise QueryError("idtype-value queries support the id types UIN and HOUSEHOLD_ID")
    return condition(id_type, "eq", query.get("value"))


GROUP_COLLECTION = "Group"


def shorten_value(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_expression(query: Any) -> Node:
    """``{"type": ..., "value": {"expression": {"collection": ..., "query": {"$and": [...]}}}}``,
    a MongoDB-like document: ``{"attr": {"$op": value}}``, ``$and``, ``$or``, ``$not``."""
    document = query
    if isinstance(document, dict) and "value" in document:
        document = document["value"]
    if isinstance(document, dict) and "expression" in document:
        document = document["expression"]
    if (
        isinstance(document, dict)
        and "query" in document
        and set(document) <= {"collection", "query"}
    ):
        collection = document.get("collection", GROUP_COLLECTION)
        if collection != GROUP_COLLECTION:
            # The register's records are households (groups); a query meant for another
            # collection would otherwise be answered about households.
            raise QueryError(
                f"this registry searches the collection {GROUP_COLLECTION!r} (households),"
                f" not {shorten_value(collection)}"
            )
        document = document["query"]
    if not isinstance(document, dict) or not document:
        raise QueryError("an expression query is {'value': {'expression': {'query': {...}}}}")
    return _expression(document, 0)


def _expression(document: Any, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise QueryError(f"expressions nest at most {MAX_DEPTH} deep")
    if not isinstance(document, dict) or not document:
        raise QueryError("each expression is a non-empty object")
    parts: list[Node] = []
    for key, value in document.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise QueryError(f"{key} takes a non-empty list")
            children = tuple(_expression(v, depth + 1) for v in value)
            parts.append(AllOf(children) if key == "$and" else AnyOf(children))
        elif key == "$not":
            parts.append(Negation(_expression(value, depth + 1)))
        elif isinstance(value, dict):
            if not value:
                raise QueryError(f"{key}: no operator given")
            parts.extend(condition(key, op, operand) for op, operand in value.items())
        else:
            parts.append(condition(key, "eq", value))
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def parse_predicate(query: Any) -> Node:
    """A list of ``{seq_num, expression1, condition, expression2}``, combined with AND in
    ``seq_num`` order; ``condition`` joins the two expressions of one item (``not`` = and not)."""
    if not isinstance(query, list) or not query:
        raise QueryError("a predicate query is a non-empty list of predicates")
    items = []
    for position, item in enumerate(query):
        if not isinstance(item, dict) or "expression1" not in item:
            raise QueryError("each predicate has at least expression1")
        seq = item.get("seq_num", position)
        if isinstance(seq, bool) or not isinstance(seq, int | float):
            raise QueryError("seq_num is a number")
        items.append((seq, position, item))
    nodes: list[Node] = []
    for _, _, item in sorted(items, key=lambda t: (t[0], t[1])):
        first = _predicate_expression(item["expression1"])
        if "expression2" not in item:
            nodes.append(first)
            continue
        second = _predicate_expression(item["expression2"])
        joiner = item.get("condition", "and")
        if joiner == "and":
            nodes.append(AllOf((first, second)))
        elif joiner == "or":
            nodes.append(AnyOf((first, second)))
        elif joiner == "not":
            nodes.append(AllOf((first, Negation(second))))
        else:
            raise QueryError("condition is one of and, or, not")
    return nodes[0] if len(nodes) == 1 else AllOf(tuple(nodes))


def _predicate_expression(expression: Any) -> Condition:
    if not isinstance(expression, dict) or not {
        "attribute_name",
        "operator",
        "attribute_value",
    } <= set(expression):
        raise QueryError("an expression has attribute_name, operator and attribute_value")
    return condition(
        expression["attribute_name"], expression["operator"], expression["attribute_value"]
    )


def _check_size(node: Node) -> None:
    if sum(1 for _ in conditions(node)) > MAX_CONDITIONS:
        raise QueryError(f"a query has at most {MAX_CONDITIONS} conditions")


def values_tested(query_type: str, query: Any) -> int:
    """How many values a query tests: one per condition, one per value of an ``in``. It is what
    a partner's rate limit counts, so that one criterion listing 2,000 ID numbers weighs what
    2,000 criteria weigh. A query that does not parse costs one (its item is refused)."""
    try:
        node = parse_query(query_type, query)
    except QueryError:
        return 1
    return sum(len(c.value) if c.op == "in" else 1 for c in conditions(node))


def personal_attributes(node: Node, sort: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The attributes of ``node`` and ``sort`` that may only be used with pii:read."""
    used = {c.attribute for c in conditions(node)} | {ALIASES.get(s, s) for s in sort}
    return sorted(a for a in used if a in ATTRIBUTES and ATTRIBUTES[a].personal)


def conditions(node: Node) -> list[Condition]:
    if isinstance(node, Condition):
        return [node]
    if isinstance(node, Negation):
        return conditions(node.part)
    return [c for part in node.parts for c in conditions(part)]


# --- storage and evaluation (subscriptions) ------------------------------------------------------


def to_json(node: Node) -> Any:
    if isinstance(node, Condition):
        value = list(node.value) if isinstance(node.value, tuple) else node.value
        return {"attribute": node.attribute, "op": node.op, "value": value}
    if isinstance(node, Negation):
        return {"not": to_json(node.part)}
    return {"all" if isinstance(node, AllOf) else "any": [to_json(p) for p in node.parts]}


def from_json(document: Any) -> Node:
    if "not" in document:
        return Negation(from_json(document["not"]))
    if "all" in document:
        return AllOf(tuple(from_json(d) for d in document["all"]))
    if "any" in document:
        return AnyOf(tuple(from_json(d) for d in document["any"]))
    value = document["value"]
    return Condition(
        document["attribute"], document["op"], tuple(value) if isinstance(value, list) else value
    )


def map_values(node: Node, attribute: str, transform: Callable[[Any], Any]) -> Node:
    """The same tree with ``attribute``'s values transformed (e.g. ID numbers → blind index)."""
    if isinstance(node, Condition):
        if node.attribute != attribute:
            return node
        value = (
            tuple(transform(v) for v in node.value) if node.op == "in" else transform(node.value)
        )
        return Condition(node.attribute, node.op, value)
    if isinstance(node, Negation):
        return Negation(map_values(node.part, attribute, transform))
    parts = tuple(map_values(p, attribute, transform) for p in node.parts)
    return AllOf(parts) if isinstance(node, AllOf) else AnyOf(parts)


def matches(node: Node, facts: dict[str, Any]) -> bool:
    """Evaluate against an event's facts. ``region`` is a prefix of ``village_code``; ``UIN``
    (stored as blind-index hex) matches when any member carries it."""
    if isinstance(node, AllOf):
        return all(matches(p, facts) for p in node.parts)
    if isinstance(node, AnyOf):
        return any(matches(p, facts) for p in node.parts)
    if isinstance(node, Negation):
        return not matches(node.part, facts)
    wanted = node.value if node.op == "in" else (node.value,)
    if node.attribute == "region":
        village = facts.get("village_code") or ""
        return any(village.startswith(prefix) for prefix in wanted)
    if node.attribute == "UIN":
        return bool(set(wanted) & set(facts.get("member_indexes") or ()))
    return facts.get(node.attribute) in wanted
