"""Filters and sorts that disclose what a masked ID number hides (the birth date: birth_date,
YOB) need pii:read, and with it they are audited as unmasked reads."""

from datetime import date

import pytest
from sqlalchemy import text

SYNC = "/registry/sync/search"


def predicate(*expressions: dict) -> list[dict]:
    return [{"seq_num": i, "expression1": e} for i, e in enumerate(expressions)]


def expression(name: str, operator: str, value) -> dict:
    return {"attribute_name": name, "operator": operator, "attribute_value": value}


async def search(registry, partner, dci, criteria: dict, *, pii: bool = False) -> dict:
    message = dci.search_message(criteria)
    response = await registry.post(
        SYNC, json=partner.envelope("search", message), headers=partner.headers(pii)
    )
    assert response.status_code == 200, response.text
    dci.validate_response(SYNC, 200, response.json())
    [item] = response.json()["message"]["search_response"]
    return {**item, "transaction_id": message["transaction_id"]}


@pytest.mark.parametrize(
    ("entity", "condition"),
    [
        ("Member", expression("birth_date", "eq", "1983-07-19")),
        ("Member", expression("birth_date", "lt", "1983-07-20")),
        ("Member", expression("YOB", "ge", 1983)),
        ("Member", expression("yob", "in", "1983,1984")),
        ("Group", expression("birth_date", "gt", "1983-07-18")),  # some member born after
    ],
)
async def test_birth_date_filters_are_refused_without_pii_read(
    registry, new_partner, seed, dci, entity, condition
):
    partner = await new_partner()
    born = date(1983, 7, 19)
    household = await seed(
        dci.fresh_township() + "401", members=[(dci.resident_id(born), "张三", born)]
    )
    query = predicate(expression("HOUSEHOLD_ID", "eq", household.household_id), condition)
    item = await search(
        registry, partner, dci, dci.criteria("predicate", query, response_entity=entity)
    )
    assert (item["status"], item["status_reason_code"]) == ("rjct", "rjct.search_criteria.invalid")
    assert "pii:read" in item["status_reason_message"] and "data" not in item


async def test_birth_date_sorts_are_refused_without_pii_read(registry, new_partner, seed, dci):
    partner = await new_partner()
    township = dci.fresh_township()
    await seed(township + "402")
    for name in ("birth_date", "YOB"):
        item = await search(
            registry,
            partner,
            dci,
            dci.criteria(
                "predicate",
                predicate(expression("region", "eq", township)),
                response_entity="Member",
                sort=[{"attribute_name": name, "sort_order": "desc"}],
            ),
        )
        assert (item["status"], item["status_reason_code"]) == ("rjct", "rjct.sort.invalid")


async def test_birth_date_queries_with_pii_read_are_audited(
    registry, new_partner, seed, dci, engine
):
    partner = await new_partner()
    born = date(1983, 7, 19)
    household = await seed(
        dci.fresh_township() + "403", members=[(dci.resident_id(born), "张三", born)]
    )
    query = predicate(
        expression("HOUSEHOLD_ID", "eq", household.household_id),
        expression("birth_date", "eq", "1983-07-19"),
    )
    # Only the household's identifier is shown: the query itself still reads the birth date.
    item = await search(
        registry,
        partner,
        dci,
        dci.criteria(
            "predicate",
            query,
            response_entity="Member",
            response_fields=["group_identifier"],
            sort=[{"attribute_name": "YOB"}],
        ),
        pii=True,
    )
    assert item["status"] == "succ" and item["pagination"]["total_count"] == 1
    async with engine.connect() as conn:
        [row] = (
            await conn.execute(
                text(
                    "SELECT actor, object_type, details FROM audit_log"
                    " WHERE action = 'pii.read_unmasked' AND object_id = :t"
                ),
                {"t": item["transaction_id"]},
            )
        ).all()
    assert (row.actor, row.object_type) == (f"client:{partner.client_id}", "dci_transaction")
    assert row.details["fields"] == ["YOB", "birth_date"]
    assert row.details["used_in"] == "query" and row.details["matched"] == 1
    assert row.details["consent"]["purpose"]["code"] == "dibao-review"


async def test_other_member_filters_need_no_pii_read(registry, new_partner, seed, dci):
    partner = await new_partner()
    household = await seed(dci.fresh_township() + "404")
    query = predicate(
        expression("HOUSEHOLD_ID", "eq", household.household_id),
        expression("sex", "in", "male,female"),
    )
    item = await search(
        registry, partner, dci, dci.criteria("predicate", query, response_entity="Member")
    )
    assert item["status"] == "succ" and item["pagination"]["total_count"] == 1
