"""Express routes: served in front of the middleware stack, yet wrapped in the app's own
middlewares (same order, same settings) and answered by its exception handlers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from fupin_kit.errors import install_handlers
from fupin_kit.lean import ExpressLane, LeanEndpoint, ServiceApp, json_body
from fupin_kit.middleware import BodyGuardMiddleware, RequestContextMiddleware
from fupin_kit.problems import Conflict


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int


class Tag:
    """A middleware that records that it ran; ``seen`` is shared by every instance made with the
    same keyword arguments, like a bulkhead's gate."""

    def __init__(self, app: Any, name: str, seen: list[str]) -> None:
        self.app, self.name, self.seen = app, name, seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append(self.name)
        await self.app(scope, receive, send)


async def answer(request: Request) -> tuple[int, bytes, dict[str, str]]:
    name = request.path_params["name"]
    if name == "taken":
        raise Conflict("that name is taken")
    if name == "broken":
        raise RuntimeError("a defect")
    thing = await json_body(request, Thing)
    return 201, b'{"name": "%s", "size": %d}' % (name.encode(), thing.size), {"X-Lane": "express"}


def make_app(seen: list[str]) -> ServiceApp:
    app = ServiceApp()
    install_handlers(app)
    app.add_middleware(Tag, name="inner", seen=seen)
    app.add_middleware(BodyGuardMiddleware, max_body_bytes=200, max_upload_bytes=1000)
    app.add_middleware(Tag, name="outer", seen=seen)
    app.add_middleware(RequestContextMiddleware, service="kit-test")

    @app.post("/things/{name}", status_code=201)
    async def documented(name: str, thing: Thing) -> dict[str, Any]:
        return {"name": name, "size": thing.size, "lane": "framework"}

    @app.get("/things/{name}")
    async def read(name: str) -> dict[str, str]:
        return {"name": name}

    app.add_express_route("/things/{name}", LeanEndpoint(answer), "POST")
    return app


@pytest.fixture
def seen() -> list[str]:
    return []


@pytest.fixture
async def client(seen: list[str]):
    app = make_app(seen)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


async def test_the_express_route_answers_inside_the_apps_middlewares(client, seen):
    response = await client.post("/things/box", json={"size": 3})
    assert response.status_code == 201
    assert response.json() == {"name": "box", "size": 3}
    assert response.headers["x-lane"] == "express"
    assert response.headers["x-request-id"]  # RequestContextMiddleware ran
    assert seen == ["outer", "inner"]  # the app's order, around the endpoint
    assert isinstance(client.app.middleware_stack, ExpressLane)
    metrics = await client.get("/metrics")
    assert metrics.status_code == 404  # this bare app has no metrics route; the stack answered


async def test_other_methods_and_paths_go_down_the_full_stack(client, seen):
    read = await client.get("/things/box")
    assert read.json() == {"name": "box"}
    deeper = await client.post("/things/box/more", json={"size": 3})
    assert deeper.status_code == 404
    assert deeper.headers["content-type"] == "application/problem+json"
    assert seen == ["outer", "inner", "outer", "inner"]


async def test_errors_are_the_apps_problems(client):
    invalid = await client.post("/things/box", json={"size": "big", "colour": "red"})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    pointers = {e["pointer"] for e in invalid.json()["errors"]}
    assert pointers == {"#/body/size", "#/body/colour"}
    taken = await client.post("/things/taken", json={"size": 1})
    assert taken.status_code == 409 and taken.json()["detail"] == "that name is taken"
    assert taken.headers["x-request-id"]
    broken = await client.post("/things/broken", json={"size": 1})
    assert broken.status_code == 500
    assert broken.headers["content-type"] == "application/problem+json"
    assert "a defect" not in broken.text


async def test_the_body_guard_still_applies(client):
    nul = await client.post(
        "/things/box",
        content=b'{"size": 1, "x": "a\\u0000"}',
        headers={"content-type": "application/json"},
    )
    assert nul.status_code == 422 and nul.json()["errors"][0]["pointer"] == "#/body/x"
    large = await client.post("/things/box", json={"size": 1, "pad": "x" * 300})
    assert large.status_code == 413


async def test_without_the_express_route_the_documented_route_answers(seen):
    app = make_app(seen)
    app.express_routes.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/things/box", json={"size": 3})
    assert response.json() == {"name": "box", "size": 3, "lane": "framework"}
    assert not isinstance(app.middleware_stack, ExpressLane)


async def test_express_routes_are_fixed_once_the_app_serves(client):
    await client.get("/things/box")
    with pytest.raises(RuntimeError, match="before the app serves"):
        client.app.add_express_route("/other", LeanEndpoint(answer), "POST")


async def test_a_mounted_app_matches_express_routes_below_its_root_path(seen):
    app = make_app(seen)
    transport = httpx.ASGITransport(app=app, root_path="/registry")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/registry/things/box", json={"size": 2})
    assert response.status_code == 201 and response.headers["x-lane"] == "express"
