"""Fixtures of the DCI API tests: a running registry, a partner with its own Ed25519 key, signed
envelopes, a local callback receiver (uvicorn on 127.0.0.1), seeded households, and validation of
every body against the copied DCI specification."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy.ext.asyncio import AsyncSession

from fupin_events.values import id_check_character
from fupin_kit.testing.plugin import api_client, bearer
from fupin_registry.households.models import Household, Member
from fupin_registry.main import create_app
from fupin_registry.privacy import Privacy

SPEC_URI = "urn:dci:social-registry:1.0.0"


# --- the specification ---------------------------------------------------------------------------


def _load_spec() -> dict[str, Any]:
    text = (
        resources.files("fupin_registry.dci")
        .joinpath("spec/social_api_v1.0.0.yaml")
        .read_text("utf-8")
    )
    return yaml.safe_load(text)


SPEC = _load_spec()
REGISTRY = Registry().with_resource(SPEC_URI, Resource(contents=SPEC, specification=DRAFT202012))


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(_escape(p) for p in parts)


def _resolve(node: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Follow an OpenAPI-level ``$ref`` (e.g. a shared response object)."""
    ref = node.get("$ref")
    if not ref:
        return node, []
    parts = [p.replace("~1", "/").replace("~0", "~") for p in ref.removeprefix("#/").split("/")]
    target: Any = SPEC
    for part in parts:
        target = target[part]
    return target, parts


def validate_response(path: str, status: int, body: Any) -> None:
    """Validate ``body`` against the spec's response for ``status`` (or ``default``)."""
    responses = SPEC["paths"][path]["post"]["responses"]
    key = str(status) if str(status) in responses else "default"
    response, parts = _resolve(responses[key])
    base = parts or ["paths", path, "post", "responses", key]
    assert "application/json" in response["content"], f"{path} {key} has no JSON body"
    _validate(_pointer(*base, "content", "application/json", "schema"), body)


def validate_request(path: str, body: Any) -> None:
    """Validate a callback we received (the partner side of the spec) against its request body."""
    _validate(
        _pointer("paths", path, "post", "requestBody", "content", "application/json", "schema"),
        body,
    )


def validate_schema(name: str, body: Any) -> None:
    _validate(_pointer("components", "schemas", name), body)


def validate_ack(body: Any) -> None:
    """The acknowledgement (``#/components/responses/Response``): ACK, NACK or ERR."""
    _validate(
        _pointer("components", "responses", "Response", "content", "application/json", "schema"),
        body,
    )


def _validate(pointer: str, body: Any) -> None:
    validator = Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=REGISTRY)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    _assert_timestamps(body)


def _assert_timestamps(node: Any) -> None:
    """date-time fields carry a timezone (jsonschema does not check formats here)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("timestamp", "message_ts") and isinstance(value, str):
                assert datetime.fromisoformat(value).tzinfo is not None, (key, value)
            _assert_timestamps(value)
    elif isinstance(node, list):
        for value in node:
            _assert_timestamps(value)


# --- signatures (written independently of the registry's implementation) -------------------------


def _canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(header: Any, message: Any) -> str:
    document = {k: v for k, v in (("header", header), ("message", message)) if v is not None}
    return base64.b64encode(hashlib.blake2b(_canonical(document), digest_size=64).digest()).decode()


def sign(
    key: Ed25519PrivateKey,
    sender_id: str,
    key_id: str,
    header: Any,
    message: Any,
    *,
    created: int | None = None,
    lifetime: int = 300,
) -> str:
    created = int(time.time()) if created is None else created
    expires = created + lifetime
    material = (
        f"(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={_digest(header, message)}"
    )
    signature = base64.b64encode(key.sign(material.encode())).decode()
    return (
        f'Signature: namespace="spdci", kidId="{sender_id}|{key_id}|ed25519", algorithm="ed25519", '
        f'created="{created}", expires="{expires}", headers="(created) (expires) digest", '
        f'signature="{signature}"'
    )


def registry_signature_ok(jwks: dict[str, Any], body: dict[str, Any]) -> bool:
    """Check a registry answer or callback against the published JWKS."""
    params = dict(
        part.split("=", 1)
        for part in body["signature"].removeprefix("Signature:").replace('"', "").split(", ")
    )
    params = {k.strip(): v for k, v in params.items()}
    _, key_id, _ = params["kidId"].split("|")
    [jwk] = [k for k in jwks["keys"] if k["kid"] == key_id]
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="))
    digest = _digest(body.get("header"), body.get("message"))
    stamps = f"(created): {params['created']}\n(expires): {params['expires']}"
    material = f"{stamps}\ndigest: BLAKE-512={digest}"
    try:
        public.verify(base64.b64decode(params["signature"]), material.encode())
    except Exception:
        return False
    return True


def public_jwk(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes_raw()
    return json.dumps(
        {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    )


# --- a partner -----------------------------------------------------------------------------------


@dataclass
class Partner:
    sender_id: str
    client_id: str
    key: Ed25519PrivateKey
    key_id: str
    token: str  # dci:search dci:subscribe, no pii:read
    pii_token: str  # with pii:read
    callback: str  # where our callbacks go

    def envelope(
        self,
        action: str,
        message: dict[str, Any],
        *,
        total: int = 1,
        signed: bool = True,
        sender_uri: str | None = None,
        **header: Any,
    ) -> dict[str, Any]:
        head = {
            "version": "1.0.0",
            "message_id": uuid.uuid4().hex,
            "message_ts": datetime.now(UTC).isoformat(),
            "action": action,
            "sender_id": self.sender_id,
            "sender_uri": sender_uri or self.callback,
            "receiver_id": "registry.fupin.example",
            "total_count": total,
            "is_msg_encrypted": False,
        }
        head.update(header)
        body: dict[str, Any] = {"header": head, "message": message}
        if signed:
            body["signature"] = sign(self.key, self.sender_id, self.key_id, head, message)
        return body

    def headers(self, pii: bool = False) -> dict[str, str]:
        return bearer(self.pii_token if pii else self.token)


def search_message(*criteria: dict[str, Any]) -> dict[str, Any]:
    return {
        "transaction_id": uuid.uuid4().hex,
        "search_request": [
            {
                "reference_id": f"ref-{i}-{uuid.uuid4().hex[:6]}",
                "timestamp": datetime.now(UTC).isoformat(),
                "search_criteria": c,
            }
            for i, c in enumerate(criteria)
        ],
    }


def subscribe_request(
    reference: str, region: str, event_type: str = "STATUS_CHANGE", **criteria: Any
) -> dict[str, Any]:
    """One subscribe request: ``event_type`` events of the households in ``region``, notified
    as Group records (``criteria`` replace or add subscribe criteria)."""
    return {
        "reference_id": reference,
        "timestamp": datetime.now(UTC).isoformat(),
        "subscribe_criteria": {
            "reg_event_type": event_type,
            "filter_type": "predicate",
            "filter": [
                {
                    "expression1": {
                        "attribute_name": "region",
                        "operator": "eq",
                        "attribute_value": region,
                    }
                }
            ],
            "notify_record_type": "Group",
            **criteria,
        },
    }


def subscribe_message(region: str, event_type: str = "STATUS_CHANGE") -> dict[str, Any]:
    """A subscribe message with one request (reference "s-1")."""
    return {
        "transaction_id": uuid.uuid4().hex,
        "subscribe_request": [subscribe_request("s-1", region, event_type)],
    }


def status_message(txn_type: str, transaction_id: str) -> dict[str, Any]:
    """A txn-status message asking for the outcome of one of the partner's transactions."""
    return {
        "transaction_id": uuid.uuid4().hex,
        "txnstatus_request": {
            "reference_id": "st",
            "txn_type": txn_type,
            "attribute_type": "transaction_id",
            "attribute_value": transaction_id,
        },
    }


CONSENT = {
    "@type": "Consent",
    "ts": "2020-05-01T08:00:00+08:00",
    "purpose": {"text": "dibao eligibility review", "code": "dibao-review"},
}


def criteria(query_type: str, query: Any, **extra: Any) -> dict[str, Any]:
    return {"query_type": query_type, "query": query, "consent": CONSENT, **extra}


# --- the callback receiver -----------------------------------------------------------------------


@dataclass
class Receiver:
    base: str
    received: list[dict[str, Any]] = field(default_factory=list)
    failures_left: int = 0
    attempts: int = 0
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.received) >= count), within
            )
        return self.received[:count]

    async def one(self, action: str, within: float = 10.0) -> dict[str, Any]:
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(
                    lambda: any(b["header"]["action"] == action for b in self.received)
                ),
                within,
            )
        found = next(b for b in self.received if b["header"]["action"] == action)
        self.received.remove(found)
        return found


@pytest.fixture
async def receiver():
    app = FastAPI()
    state = Receiver(base="")

    @app.post("/callback")
    async def callback(request: Request) -> JSONResponse:
        state.attempts += 1
        if state.failures_left > 0:
            state.failures_left -= 1
            return JSONResponse({"errors": [{"code": "err.service.unavailable"}]}, 503)
        body = await request.json()
        async with state.arrived:
            state.received.append(body)
            state.arrived.notify_all()
        return JSONResponse(
            {
                "message": {
                    "ack_status": "ACK",
                    "timestamp": datetime.now(UTC).isoformat(),
                    "correlation_id": "x",
                }
            }
        )

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    state.base = f"http://127.0.0.1:{port}/"
    yield state
    server.should_exit = True
    await task


# --- the running registry, partners, data --------------------------------------------------------


@pytest.fixture
async def registry(settings):
    app = create_app(settings.model_copy(update={"dci_callback_backoff_seconds": 0.05}))
    async with api_client(app) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def admin_headers(make_token):
    return bearer(make_token("22", scopes=[], roles=["admin"], subject="admin-1"))


@pytest.fixture
async def jwks(registry):
    return (await registry.get("/.well-known/jwks.json")).json()


@pytest.fixture
def new_partner(registry, admin_headers, make_token, receiver):
    async def make(
        *,
        jurisdiction: str = "22",
        require_signature: bool = True,
        callback_prefix: str | None = None,
    ) -> Partner:
        key = Ed25519PrivateKey.generate()
        suffix = uuid.uuid4().hex[:8]
        partner = Partner(
            sender_id=f"agency-{suffix}.example",
            client_id=f"agency-{suffix}",
            key=key,
            key_id="k1",
            token=make_token(
                jurisdiction,
                scopes=["dci:search", "dci:subscribe"],
                roles=["partner"],
                client_id=f"agency-{suffix}",
            ),
            pii_token=make_token(
                jurisdiction,
                scopes=["dci:search", "dci:subscribe", "pii:read"],
                roles=["partner"],
                client_id=f"agency-{suffix}",
            ),
            callback=receiver.base + "callback",
        )
        response = await registry.post(
            "/v1/dci/partners",
            json={
                "sender_id": partner.sender_id,
                "name": "民政局 test agency",
                "client_id": partner.client_id,
                "public_key": public_jwk(key),
                "key_id": "k1",
                "require_signature": require_signature,
                "callback_url_prefix": callback_prefix or receiver.base,
            },
            headers=admin_headers,
        )
        assert response.status_code == 201, response.text
        return partner

    return make


_serial = itertools.count(random.randrange(1000))
_townships: set[str] = set()


def resident_id(born: date, region: str = "220524") -> str:
    body = f"{region}{born:%Y%m%d}{next(_serial) % 1000:03d}"
    return body + id_check_character(body)


def fresh_township(county: str = "220524") -> str:
    while True:
        township = f"{county}{random.randrange(100, 1000)}"
        if township not in _townships:
            _townships.add(township)
            return township


@dataclass
class Seeded:
    household_id: str
    village_code: str
    members: list[tuple[str, str]]  # (ID number, name)


@pytest.fixture
def seed(engine, settings):
    privacy = Privacy(settings)

    async def make(
        village_code: str,
        *,
        status: str = "identified",
        cause: str = "illness",
        attribute: str = "ordinary_poor",
        members: list[tuple[str, str, date]] | None = None,
        secondary: list[str] | None = None,
        phone: str | None = "13912345678",
    ) -> Seeded:
        household_id = uuid.uuid4()
        people = members or [(resident_id(date(1975, 4, 2)), "王建国", date(1975, 4, 2))]
        async with AsyncSession(engine) as session, session.begin():
            session.add(
                Household(
                    id=household_id,
                    village_code=village_code,
                    household_number=uuid.uuid4().hex[:10],
                    attribute=attribute,
                    support_type="development",
                    primary_cause=cause,
                    secondary_causes=secondary or [],
                    status=status,
                    year=2016,
                    registered_on=date(2016, 5, 1),
                    phone_enc=privacy.seal(phone, "phone"),
                )
            )
            await session.flush()
            for position, (id_number, name, born) in enumerate(people):
                session.add(
                    Member(
                        household_id=household_id,
                        id_index=privacy.index.of(id_number),
                        id_number_enc=privacy.seal(id_number, "id_number"),
                        name_enc=privacy.seal(name, "name"),
                        sex="male" if int(id_number[16]) % 2 else "female",
                        birth_date=born,
                        relation="head" if position == 0 else "child",
                    )
                )
        return Seeded(str(household_id), village_code, [(p[0], p[1]) for p in people])

    return make


@pytest.fixture
def dci() -> SimpleNamespace:
    """The functions above, for the test modules (which cannot import this file)."""
    return SimpleNamespace(
        validate_response=validate_response,
        validate_request=validate_request,
        validate_schema=validate_schema,
        validate_ack=validate_ack,
        sign=sign,
        signature_ok=registry_signature_ok,
        search_message=search_message,
        status_message=status_message,
        subscribe_message=subscribe_message,
        subscribe_request=subscribe_request,
        criteria=criteria,
        consent=CONSENT,
        resident_id=resident_id,
        fresh_township=fresh_township,
    )
