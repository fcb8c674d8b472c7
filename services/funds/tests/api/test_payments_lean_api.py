"""Payments from a project are served by an express route in front of the middleware stack: the
same middlewares, validation, errors, idempotency and ledger effects, and the operation is still
in the OpenAPI document."""

import json

import pytest
from funds_testkit import after_notice, announced_project, assert_problem, open_fund

from fupin_kit.lean import ExpressLane


async def funded_project(client, amount: str = "100.00") -> tuple[str, int, str]:
    await open_fund(client, amount="5000.00")
    project = await announced_project(client)
    on = after_notice(project)
    funded = await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": amount, "on": on},
    )
    assert funded.status_code == 201, funded.text
    return project["id"], funded.json()["to_account_id"], on


async def balance(client, account: int) -> str:
    return (await client.get(f"/v1/accounts/{account}")).json()["balance"]


async def test_the_express_route_serves_payments_and_the_operation_stays_documented(app, client):
    [route] = app.express_routes
    assert (route.method, route.path) == ("POST", "/v1/projects/{project_id}/payments")
    operation = app.openapi()["paths"]["/v1/projects/{project_id}/payments"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ProjectPaymentCreate"
    )
    pid, account, on = await funded_project(client)
    paid = await client.post(
        f"/v1/projects/{pid}/payments", json={"amount": "1.00", "payee": "builder", "on": on}
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["amount"] == "1.00" and paid.json()["kind"] == "project_payment"
    assert await balance(client, account) == "99.00"
    assert isinstance(app.middleware_stack, ExpressLane)
    assert paid.headers["x-request-id"]  # the app's own middlewares wrap the express route
    metrics = (await client.get("/metrics")).text
    assert 'route="/v1/projects/{project_id}/payments"' in metrics


@pytest.mark.parametrize(
    ("content", "pointer"),
    [
        (b'{"amount": "1.00", "payee": "x"', "#/body"),  # truncated JSON
        (b'{"amount": "1.005", "payee": "x"}', "#/body/amount"),
        (b'{"amount": 1.5, "payee": "x"}', "#/body/amount"),  # floats are never money
        (b'{"amount": "' + b"9" * 40 + b'", "payee": "x"}', "#/body/amount"),
        (b'{"amount": "-1.00", "payee": "x"}', "#/body/amount"),
        (b'{"amount": "1.00", "payee": "x", "colour": "red"}', "#/body/colour"),
        (b'{"amount": "1.00", "payee": "x\\u0000y"}', "#/body/payee"),
        (b'{"amount": "1.00", "payee": "   "}', "#/body/payee"),  # blank
        (b'{"amount": "1.00", "payee": "x", "on": "2024-02-30"}', "#/body/on"),
        (b"[1, 2]", "#/body"),
        (b'{"amount": "1.00", "payee": "x", "household_id": "hh-1"}', "#/body/payee"),  # both
    ],
)
async def test_bad_payments_are_named_and_nothing_moves(client, content, pointer):
    pid, account, _ = await funded_project(client)
    response = await client.post(
        f"/v1/projects/{pid}/payments",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    body = assert_problem(response, 422)
    assert any(e["pointer"].startswith(pointer) for e in body["errors"]), body
    assert await balance(client, account) == "100.00"


async def test_a_payment_from_a_project_never_funded_says_so(client):
    await open_fund(client, amount="5000.00")
    project = await announced_project(client)
    response = await client.post(
        f"/v1/projects/{project['id']}/payments",
        json={"payee": "supplier", "amount": "10.00", "on": after_notice(project)},
    )
    body = assert_problem(response, 409, "#/body/amount")
    assert "holds no money yet" in body["detail"] and body["account_id"] is None


async def test_bad_headers_paths_and_tokens(app, client):
    pid, account, on = await funded_project(client)
    good = {"amount": "1.00", "payee": "x", "on": on}
    spaced = await client.post(
        f"/v1/projects/{pid}/payments", json=good, headers={"Idempotency-Key": "a key"}
    )
    assert_problem(spaced, 422, "#/header/Idempotency-Key")
    long_id = await client.post(f"/v1/projects/{'p' * 65}/payments", json=good)
    assert_problem(long_id, 422, "#/path/project_id")
    assert_problem(await client.post("/v1/projects/nope/payments", json=good), 404)
    anonymous = await client.post(
        f"/v1/projects/{pid}/payments", json=good, headers={"Authorization": ""}
    )
    assert_problem(anonymous, 401)
    for content_type in ("text/plain", None):  # a body not sent as JSON, as FastAPI's routes
        headers = {"Content-Type": content_type} if content_type else {}
        not_json = await client.post(
            f"/v1/projects/{pid}/payments",
            content=json.dumps(good).encode(),
            headers=headers,
        )
        assert_problem(not_json, 422, "#/body")
    assert await balance(client, account) == "100.00"


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/x-payment+json",  # +json, but not an application type
        "application/jsonx",
    ],
)
async def test_a_body_not_sent_as_json_is_refused_as_by_every_json_command(client, content_type):
    """JSON is application/json or application/*+json: the express route refuses any other media
    type exactly as the FastAPI routes do (422 on #/body), and nothing moves."""
    pid, account, on = await funded_project(client)
    headers = {"Content-Type": content_type} if content_type else {}
    payment = json.dumps({"amount": "1.00", "payee": "x", "on": on}).encode()
    funding = json.dumps({"source": "central", "amount": "1.00", "on": on}).encode()
    for path, content in (
        (f"/v1/projects/{pid}/payments", payment),
        (f"/v1/projects/{pid}/fundings", funding),
    ):
        refused = await client.post(path, content=content, headers=headers)
        assert_problem(refused, 422, "#/body")
    assert await balance(client, account) == "100.00"


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.fupin+json"],
)
async def test_json_is_accepted_under_its_media_types(client, content_type):
    pid, account, on = await funded_project(client)
    paid = await client.post(
        f"/v1/projects/{pid}/payments",
        content=json.dumps({"amount": "1.00", "payee": "x", "on": on}).encode(),
        headers={"Content-Type": content_type},
    )
    assert paid.status_code == 201, paid.text
    assert await balance(client, account) == "99.00"


async def test_a_key_replays_its_payment_and_refuses_another_request(client):
    pid, account, on = await funded_project(client)
    headers = {"Idempotency-Key": "pay-once"}
    request = {"amount": "7.00", "payee": "builder", "on": on}
    first = await client.post(f"/v1/projects/{pid}/payments", json=request, headers=headers)
    again = await client.post(f"/v1/projects/{pid}/payments", json=request, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await client.post(
        f"/v1/projects/{pid}/payments", json={**request, "amount": "8.00"}, headers=headers
    )
    assert_problem(other, 422, "#/header/Idempotency-Key")
    assert await balance(client, account) == "93.00"


async def test_a_key_replays_its_payment_after_the_project_moved_on(client):
    pid, account, on = await funded_project(client)
    headers = {"Idempotency-Key": "pay-before-acceptance"}
    request = {"amount": "7.00", "payee": "builder", "on": on}
    first = await client.post(f"/v1/projects/{pid}/payments", json=request, headers=headers)
    assert first.status_code == 201, first.text
    for action in ("start", "complete", "accept"):
        moved = await client.post(f"/v1/projects/{pid}/{action}", json={"on": on})
        assert moved.status_code == 200, moved.text
    again = await client.post(f"/v1/projects/{pid}/payments", json=request, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await client.post(
        f"/v1/projects/{pid}/payments", json={**request, "amount": "8.00"}, headers=headers
    )
    assert_problem(other, 422, "#/header/Idempotency-Key")
    fresh = await client.post(
        f"/v1/projects/{pid}/payments", json=request, headers={"Idempotency-Key": "pay-after"}
    )
    unkeyed = await client.post(f"/v1/projects/{pid}/payments", json=request)
    assert fresh.status_code == unkeyed.status_code == 409, fresh.text
    assert "Idempotent-Replayed" not in fresh.headers
    assert await balance(client, account) == "93.00"
