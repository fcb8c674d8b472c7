import json
import re

from funds_testkit import COUNTY, after_notice, announced_project, assert_problem, open_fund


async def test_health_ready_and_metrics(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": True, "kafka": True}
    metrics = await client.get("/metrics")
    assert "fupin_http_requests_total" in metrics.text


async def test_unknown_route_is_problem_json(client):
    response = await client.get("/v1/does-not-exist")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_no_json_command_takes_a_body_sent_as_another_media_type(app, client):
    """Every command with a JSON body (from the OpenAPI document; the path names existing objects
    where they are cheap to make) refuses a body sent as text or as a non-application +json type:
    a problem document, never an answer."""
    fund = await open_fund(client, amount="1000.00")
    project = await announced_project(client)
    funding = await client.post(
        f"/v1/projects/{project['id']}/fundings",
        json={"source": "central", "amount": "10.00", "on": after_notice(project)},
    )
    assert funding.status_code == 201, funding.text
    known = {
        "project_id": project["id"],
        "fund_id": fund["id"],
        "entry_id": funding.json()["entry_id"],
        "code": "poverty_incidence",
        "level": "county",
        "county_code": COUNTY,
    }
    commands = [
        (method, re.sub(r"\{(\w+)\}", lambda m: known.get(m[1], "unknown"), path))
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(commands) > 30
    body = json.dumps({"on": "2024-03-01"}).encode()
    for content_type in ("text/plain", "text/x-command+json"):
        for method, path in commands:
            response = await client.request(
                method.upper(),
                path,
                content=body,
                headers={"Content-Type": content_type, "If-Match": '"any"'},
            )
            assert response.status_code in (404, 422), (content_type, method, path, response.text)
            assert_problem(response, response.status_code)
            if all(value != "unknown" for value in re.findall(r"[^/]+", path)):
                assert_problem(response, 422, "#/body")


def test_routes_answering_files_document_xlsx_and_csv(app):
    paths = app.openapi()["paths"]
    for path in (
        "/v1/allocations/{allocation_id}/export",
        "/v1/projects/export",
        "/v1/accounts/{account_id}/statement",
        "/v1/supervision/report",
    ):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "text/csv",
        } <= content.keys(), path


def test_every_operation_but_the_public_ones_documents_its_token(app):
    schema = app.openapi()
    open_paths = {"/healthz", "/readyz"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if path in open_paths or path.startswith("/v1/public/"):
                assert "security" not in operation, (method, path)
                continue
            assert operation.get("security") == [{"bearerAuth": []}], (method, path)
            assert {"401", "403"} <= operation["responses"].keys(), (method, path)
