"""The eligibility hot path: requests are served by the express routes in front of the
middleware stack, with the same errors the framework path gives; the OpenAPI document still
describes both operations, and the declared routes answer the same without the express routes."""

import uuid

import pytest

from fupin_kit.testing.plugin import api_client, bearer
from fupin_registry.eligibility.endpoint import EligibilityEndpoint
from fupin_registry.main import create_app
from fupin_registry.privacy import Privacy

from .test_eligibility_api import ANSWER_KEYS, SCOPE, adult, check, resident_id, seed_household

CHECKS, BATCH = "/v1/eligibility/checks", "/v1/eligibility/checks/batch"


@pytest.fixture
def bank(make_token):
    return bearer(make_token("22", scopes=[SCOPE], client_id=f"bank-{uuid.uuid4().hex[:6]}"))


async def test_checks_are_served_by_the_fast_endpoints(settings, bank, engine):
    app = create_app(settings)
    routes = app.express_routes
    assert [(r.method, r.path) for r in routes] == [("POST", CHECKS), ("POST", BATCH)]
    assert all(isinstance(r.endpoint, EligibilityEndpoint) for r in routes)
    served: list[str] = []
    for route in routes:
        inner = route.endpoint

        async def spy(scope, receive, send, inner=inner):
            served.append(scope["path"])
            await inner(scope, receive, send)

        route.endpoint = spy
    person = resident_id(adult())
    await seed_household(engine, Privacy(settings), members=[(person, True)])
    async with api_client(app) as client:
        one = await client.post(CHECKS, json=check(person), headers=bank)
        many = await client.post(BATCH, json={"items": [check(person)] * 2}, headers=bank)
        metrics = (await client.get("/metrics")).text
    assert served == [CHECKS, BATCH]
    assert one.status_code == 200 and one.headers["content-type"] == "application/json"
    assert set(one.json()) == ANSWER_KEYS and one.json()["reason_code"] == "eligible"
    assert [a["reason_code"] for a in many.json()["items"]] == ["eligible", "eligible"]
    assert one.headers["x-request-id"]  # the kit's middlewares still wrap the endpoint
    assert f'route="{CHECKS}"' in metrics and f'route="{BATCH}"' in metrics


async def test_openapi_still_describes_both_operations(settings):
    app = create_app(settings)
    async with api_client(app) as client:
        document = (await client.get("/openapi.json")).json()
    for path, request, answer in (
        (CHECKS, "EligibilityCheckCreate", "EligibilityCheckRead"),
        (BATCH, "EligibilityBatchCreate", "EligibilityBatchRead"),
    ):
        operation = document["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith(request)
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith(answer)
        assert {"401", "403", "422", "429", "503"} <= set(operation["responses"])
    read = document["components"]["schemas"]["EligibilityCheckRead"]
    assert set(read["properties"]) == ANSWER_KEYS


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "declared"])
@pytest.mark.parametrize(
    ("path", "body", "pointer", "detail"),
    [
        (CHECKS, {**check("220622198001011237"), "name": "张三"}, "#/body/name", "unknown field"),
        (CHECKS, check("220622198001011238"), "#/body/id_number", "check character"),
        (CHECKS, {"purpose": "microcredit", "consent_reference": "C"}, "#/body/id_number", ""),
        (
            BATCH,
            {"items": [check("220622198001011237"), check("220622198013011237")]},
            "#/body/items/1/id_number",
            "birth date",
        ),
        (BATCH, {"items": []}, "#/body/items", ""),
    ],
)
async def test_bad_input_is_the_same_problem_on_both_paths(
    settings, bank, fast, path, body, pointer, detail
):
    app = create_app(settings)
    if not fast:
        app.express_routes.clear()
    async with api_client(app) as client:
        response = await client.post(path, json=body, headers=bank)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/validation-error") and problem["instance"] == path
    [error] = [e for e in problem["errors"] if e["pointer"] == pointer]
    assert detail in error["detail"]


@pytest.mark.parametrize("raw", [b"", b"{", b'{"id_number": 5', b"[]", b"\xff\xfe"])
async def test_malformed_bodies_are_422_never_500(settings, bank, raw):
    app = create_app(settings)
    async with api_client(app) as client:
        for path in (CHECKS, BATCH):
            response = await client.post(
                path, content=raw, headers={**bank, "content-type": "application/json"}
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["errors"][0]["pointer"].startswith("#/body")


async def test_auth_comes_before_parsing(settings, make_token):
    app = create_app(settings)
    async with api_client(app) as client:
        anonymous = await client.post(CHECKS, content=b"{")
        assert anonymous.status_code == 401
        assert anonymous.json()["detail"] == "a bearer token is required"
        assert "Bearer" in anonymous.headers["www-authenticate"]
        basic = await client.post(CHECKS, content=b"{", headers={"Authorization": "Basic x"})
        assert basic.status_code == 401 and "Bearer <token>" in basic.json()["detail"]
        forged = await client.post(BATCH, content=b"{", headers=bearer("not.a.token"))
        assert forged.status_code == 401
        no_scope = bearer(make_token("22", scopes=["pii:read"]))
        refused = await client.post(BATCH, content=b"{", headers=no_scope)
        assert refused.status_code == 403 and SCOPE in refused.json()["detail"]
        wrong_method = await client.get(CHECKS, headers=no_scope)
        assert wrong_method.status_code == 405


async def test_declared_routes_answer_the_same_without_the_fast_endpoints(settings, bank, engine):
    app = create_app(settings)
    app.express_routes.clear()
    person = resident_id(adult())
    await seed_household(engine, Privacy(settings), members=[(person, True)])
    async with api_client(app) as client:
        one = await client.post(CHECKS, json=check(person), headers=bank)
        many = await client.post(BATCH, json={"items": [check(person)]}, headers=bank)
        history = await app.state.eligibility.history.checks_about(
            Privacy(settings).index.hex(person)
        )
    assert one.status_code == 200 and set(one.json()) == ANSWER_KEYS
    assert many.json()["items"][0]["reason_code"] == "eligible"
    assert [c["decision_id"] for c in history] == [
        one.json()["decision_id"],
        many.json()["items"][0]["decision_id"],
    ]
