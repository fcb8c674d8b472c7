"""Listings page by keyset cursors: a cursor holding a value the listing's key cannot take is a
422 on the cursor, never a server error; a genuine next cursor still pages on."""

import base64
import json

import pytest
from funds_testkit import assert_problem, open_fund


def cursor_of(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


TEXT_KEYED = [
    "/v1/funds",
    "/v1/projects",
    "/v1/allocations",
    "/v1/loans",
    "/v1/findings",
    "/v1/anomalies",
    "/v1/public/announcements",
]


@pytest.mark.parametrize("path", TEXT_KEYED)
async def test_a_number_in_a_text_keyed_cursor_is_refused(client, path):
    for values in ([1], [10**30], [-5]):
        response = await client.get(path, params={"cursor": cursor_of(values)})
        assert_problem(response, 422, "#/query/cursor")


async def test_account_cursors_hold_a_64_bit_integer(client):
    for values in (["abc"], ["12"], [10**30], [2**63], [-(2**63) - 1], [True]):
        response = await client.get("/v1/accounts", params={"cursor": cursor_of(values)})
        assert_problem(response, 422, "#/query/cursor")
    for values in ([-5], [2**63 - 1]):
        response = await client.get("/v1/accounts", params={"cursor": cursor_of(values)})
        assert response.status_code == 200, response.text


async def test_next_cursors_page_on(client):
    for year in (2023, 2024, 2025):
        await open_fund(client, year=year)
    first = (await client.get("/v1/funds", params={"limit": 2})).json()
    second = (
        await client.get("/v1/funds", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    accounts = (await client.get("/v1/accounts", params={"limit": 1})).json()
    following = await client.get(
        "/v1/accounts", params={"limit": 1, "cursor": accounts["next_cursor"]}
    )
    assert following.status_code == 200
    assert following.json()["items"][0]["id"] > accounts["items"][0]["id"]
