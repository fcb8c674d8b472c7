"""The body guard on its own app: the upload limit only where an upload is expected, JSON text
checked whatever the media type's parameters, and an upload over the limit a 413 even when it
is sent in chunks."""

from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, File, UploadFile
from pydantic import BaseModel

from fupin_kit.errors import install_handlers
from fupin_kit.middleware import BodyGuardMiddleware


class Note(BaseModel):
    name: str


def guarded_app() -> FastAPI:
    app = FastAPI()
    install_handlers(app)

    @app.post("/notes")
    async def note(body: Note) -> dict[str, str]:
        return {"name": body.name.encode().decode()}

    @app.post("/uploads")
    async def upload(file: Annotated[UploadFile, File()]) -> dict[str, int]:
        return {"size": len(await file.read())}

    app.add_middleware(BodyGuardMiddleware, max_body_bytes=1000, max_upload_bytes=5000)
    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=guarded_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://guarded") as client:
        yield client


@pytest.mark.parametrize("media", ["text/csv", "application/octet-stream", "multipart/form-data"])
async def test_a_json_route_holds_any_body_to_the_small_limit(client, media):
    # Between the two limits: only an upload may be that large.
    response = await client.post("/notes", content=b"x" * 3000, headers={"content-type": media})
    assert response.status_code == 413, response.text


async def test_an_upload_route_takes_the_upload_limit(client):
    small = await client.post("/uploads", files={"file": ("a.csv", b"x" * 3000)})
    assert small.status_code == 200 and small.json() == {"size": 3000}
    large = await client.post("/uploads", files={"file": ("a.csv", b"x" * 9000)})
    assert large.status_code == 413, large.text


async def test_a_chunked_upload_over_the_limit_is_413(client):
    body = httpx.Request("POST", "http://guarded/uploads", files={"file": ("a.csv", b"x" * 9000)})
    payload = body.read()

    async def chunks():
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    response = await client.post(
        "/uploads", content=chunks(), headers={"content-type": body.headers["content-type"]}
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("text", [b'{"name": "a\\u0000b"}', b'{"name": "a\\ud800b"}'])
async def test_json_text_is_checked_with_media_type_parameters(client, text):
    response = await client.post(
        "/notes",
        content=text,
        headers={"content-type": "application/merge-patch+json; charset=utf-8"},
    )
    assert response.status_code == 422, response.text
