"""The body guard answers in problem+json, except on path prefixes whose service registered its
own responder (a standard that defines its own error bodies)."""

from fastapi.responses import JSONResponse

PROBLEM = "application/problem+json"


def standard_error(scope, problem) -> JSONResponse:
    return JSONResponse({"error": {"code": "bad", "status": problem.status}}, problem.status)


async def test_registered_prefixes_get_their_own_answers(app, client):
    app.state.guard_responders = {"/v1/standard/": standard_error}
    nul = b'{"a": "\\u0000"}'
    huge = b'{"pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    for body, status in ((nul, 422), (b'{"a": "\x00"}', 422), (huge, 413)):
        own = await client.post(
            "/v1/standard/anything", content=body, headers={"content-type": "application/json"}
        )
        assert own.status_code == status
        assert own.headers["content-type"] == "application/json"
        assert own.json() == {"error": {"code": "bad", "status": status}}
        other = await client.post(
            "/v1/widgets", content=body, headers={"content-type": "application/json"}
        )
        assert other.status_code == status and other.headers["content-type"] == PROBLEM
    query_nul = await client.get("/v1/standard/x?cursor=a%00b")
    assert query_nul.json()["error"]["status"] == 422


async def test_deeply_nested_bodies_with_escaped_nul_are_refused(client):
    body = '{"b": ' + "[" * 5000 + "]" * 5000 + ', "a": "\\u0000"}'
    response = await client.post(
        "/v1/widgets", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
