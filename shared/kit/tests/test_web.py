"""The web layer: problem+json for every error, bad input rejected with nothing written,
tokens validated, jurisdiction enforced where objects load, idempotent commands."""

import asyncio
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from fupin_kit.idempotency import RESPONSE_SEALER
from fupin_kit.testing.plugin import api_client, bearer

GOOD = {"region_code": "220622100201", "owner_id": "220622198001011237", "amount": "10.50"}
PROBLEM = "application/problem+json"


async def widget_count(client) -> int:
    return (await client.get("/v1/widgets")).json()["count"]


def assert_problem(response, status: int, pointer: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"]
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body["errors"]], body
    return body


async def test_valid_widget_round_trip(client):
    created = await client.post("/v1/widgets", json=GOOD)
    assert created.status_code == 201, created.text
    assert created.json()["amount"] == "10.50"
    read = await client.get(f"/v1/widgets/{created.json()['id']}")
    assert read.status_code == 200


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({**GOOD, "owner_id": "220622198001011238"}, "#/body/owner_id"),  # wrong check character
        ({**GOOD, "owner_id": "220622198002301234"}, "#/body/owner_id"),  # 30 February
        ({**GOOD, "region_code": "2206221002"}, "#/body/region_code"),
        ({**GOOD, "amount": "1.005"}, "#/body/amount"),
        ({**GOOD, "amount": 1.5}, "#/body/amount"),  # floats are never money
        ({**GOOD, "amount": "9" * 40}, "#/body/amount"),
        ({**GOOD, "count": 10**30}, "#/body/count"),
        ({**GOOD, "count": "many"}, "#/body/count"),
        ({**GOOD, "colour": "red"}, "#/body/colour"),  # unknown field on a command
        ({**GOOD, "region_code": "2206221002\u000001"}, "#/body/region_code"),
        ({**GOOD, "region_code": "2206221002\ud80001"}, "#/body/region_code"),  # lone surrogate
    ],
)
async def test_bad_input_is_named_and_nothing_written(client, body, pointer):
    before = await widget_count(client)
    response = await client.post(
        "/v1/widgets",
        content=json.dumps(body).encode(),  # ASCII escapes: a lone surrogate too
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422, pointer)
    assert await widget_count(client) == before


async def test_malformed_json_and_wrong_encoding(client):
    before = await widget_count(client)
    broken = await client.post(
        "/v1/widgets", content=b'{"region_code": ', headers={"content-type": "application/json"}
    )
    syntax = assert_problem(broken, 422, "#/body")["errors"]
    # Not "#/body/16": FastAPI locates a syntax error by its character offset.
    assert [e["pointer"] for e in syntax] == ["#/body"], syntax
    assert syntax[0]["detail"].startswith("the body is not valid JSON: "), syntax
    latin = await client.post(
        "/v1/widgets",
        content='{"x": "é"}'.encode("latin-1"),
        headers={"content-type": "application/json"},
    )
    assert_problem(latin, 422, "#/body")
    nul = await client.post(
        "/v1/widgets", content=b'{"a":"\x00"}', headers={"content-type": "application/json"}
    )
    assert_problem(nul, 422, "#/body")
    query_nul = await client.get("/v1/widgets?cursor=a%00b")
    assert_problem(query_nul, 422, "#/query/cursor")
    assert await widget_count(client) == before


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "the JSON is nested too deeply"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "the JSON is nested too deeply"),
        (b'{"count": ' + b"1" * 100_000 + b"}", "a number has too many digits"),
    ],
)
async def test_a_body_json_cannot_parse_is_named_with_its_reason(client, content, reason):
    before = await widget_count(client)
    response = await client.post(
        "/v1/widgets", content=content, headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, "#/body")
    assert body["errors"] == [{"pointer": "#/body", "detail": reason}]
    assert await widget_count(client) == before


async def test_oversized_body_is_413(client):
    huge = b'{"pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/v1/widgets", content=huge, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


async def test_missing_and_bad_tokens_are_401(app, signing_keys, make_token):
    other_key = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    now = int(time.time())
    claims = {
        "iss": "fupin-auth",
        "aud": "fupin",
        "sub": "x",
        "iat": now,
        "exp": now + 60,
        "jurisdiction": "22",
    }
    tokens = {
        "bad signature": jwt.encode(claims, other_key, algorithm="EdDSA"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "hs256 with public key": jwt.encode(
            claims, "a-shared-secret-that-is-long-enough-for-hs256", algorithm="HS256"
        ),
        "wrong audience": make_token("22", audience="someone-else"),
        "wrong issuer": make_token("22", issuer="evil"),
        "expired": make_token("22", lifetime_seconds=-3600),
        "garbage": "not.a.jwt",
        "client id not text": make_token("22", client_id=42),
        "jurisdiction with a newline": make_token("22\n"),
    }
    async with api_client(app) as client:
        assert_problem(await client.get("/v1/widgets"), 401, "#/header/Authorization")
        for reason, token in tokens.items():
            response = await client.get("/v1/widgets", headers=bearer(token))
            assert_problem(response, 401, "#/header/Authorization"), reason
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_state_conflict_names_the_object_of_the_path(client):
    created = (await client.post("/v1/widgets", json=GOOD)).json()
    refused = await client.post(f"/v1/widgets/{created['id']}/retirement")
    body = assert_problem(refused, 409, "#/path/widget_id")
    assert body["type"].endswith("invalid-transition")
    assert body["errors"] == [{"pointer": "#/path/widget_id", "detail": body["detail"]}]


async def test_other_jurisdiction_gets_404_on_the_object(app, make_token):
    async with api_client(app, make_token("220622")) as county:
        created = await county.post("/v1/widgets", json=GOOD)
        assert created.status_code == 201
        widget_id = created.json()["id"]
        assert (await county.get(f"/v1/widgets/{widget_id}")).status_code == 200
        missing = await county.get("/v1/widgets/00000000-0000-0000-0000-000000000000")
        absent = assert_problem(missing, 404, "#/path/widget_id")
    async with api_client(app, make_token("220581")) as neighbour:
        hidden = assert_problem(await neighbour.get(f"/v1/widgets/{widget_id}"), 404)
        # Indistinguishable from an object that does not exist, down to what it names.
        assert hidden["errors"] == absent["errors"] and hidden["detail"] == absent["detail"]
        assert (await neighbour.get("/v1/widgets")).json()["count"] == 0
        refused = await neighbour.post("/v1/widgets", json=GOOD)
        assert_problem(refused, 403, "#/header/Authorization")


async def test_partner_clients_reach_only_routes_open_to_them(app, make_token):
    async with api_client(app, make_token("22")) as officer:
        created = (await officer.post("/v1/widgets", json=GOOD)).json()
    bank = make_token("22", client_id="bank-1", roles=["officer", "admin"], scopes=["pii:read"])
    async with api_client(app, bank) as partner:
        # Roles and jurisdiction do not matter: a client token is refused on staff routes.
        listed = assert_problem(await partner.get("/v1/widgets"), 403, "#/header/Authorization")
        assert "partner client" in listed["detail"]
        assert_problem(await partner.post("/v1/widgets", json=GOOD), 403)
        assert (await partner.get(f"/v1/widgets/{created['id']}")).status_code == 200


async def test_idempotency_key_has_one_effect(client):
    before = await widget_count(client)
    headers = {"Idempotency-Key": "w-1"}
    first = await client.post("/v1/widgets", json=GOOD, headers=headers)
    second = await client.post("/v1/widgets", json=GOOD, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await widget_count(client) == before + 1
    reused = await client.post("/v1/widgets", json={**GOOD, "amount": "11.00"}, headers=headers)
    assert_problem(reused, 422, "#/header/Idempotency-Key")


async def test_an_idempotency_key_names_one_operation(client):
    """The same key and body sent to another operation is not answered with the first one's
    stored response (nor run): the key names one request."""
    headers = {"Idempotency-Key": "w-op"}
    first = await client.post("/v1/widgets", json=GOOD, headers=headers)
    assert first.status_code == 201
    before = await widget_count(client)
    elsewhere = await client.post("/v1/widgets/spares", json=GOOD, headers=headers)
    assert_problem(elsewhere, 422, "#/header/Idempotency-Key")
    assert await widget_count(client) == before
    again = await client.post("/v1/widgets", json=GOOD, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    spare = await client.post("/v1/widgets/spares", json=GOOD, headers={"Idempotency-Key": "w-sp"})
    assert spare.status_code == 201 and spare.json()["id"] != first.json()["id"]


class WrappedSealer:
    """A stand-in cipher: what is stored must differ from the answer and open back to it."""

    def seal(self, body):
        return {"kept": json.dumps(body)[::-1]}

    def open(self, stored):
        return json.loads(stored["kept"][::-1])


async def test_a_sessions_sealer_keeps_the_stored_answer_sealed(app, client):
    app.state.sessionmaker.configure(info={RESPONSE_SEALER: WrappedSealer()})
    headers = {"Idempotency-Key": "sealed-1"}
    first = await client.post("/v1/widgets", json=GOOD, headers=headers)
    second = await client.post("/v1/widgets", json=GOOD, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    async with app.state.sessionmaker() as session:
        stored = (
            await session.execute(
                text("SELECT response FROM idempotency_keys WHERE key = 'sealed-1'")
            )
        ).scalar_one()
    assert list(stored) == ["kept"] and first.json()["id"] not in str(stored)


async def test_concurrent_retries_with_one_key_have_one_effect(
    committed_client, make_token, engine
):
    token = make_token("220622", subject=f"conc-{time.time_ns()}")
    headers = {**bearer(token), "Idempotency-Key": "same"}
    responses = await asyncio.gather(
        *[committed_client.post("/v1/widgets", json=GOOD, headers=headers) for _ in range(8)]
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM widgets WHERE id = :i"), {"i": responses[0].json()["id"]}
        )
    assert count == 1


async def test_a_command_commits_before_its_response_is_sent(settings, make_token):
    """A failed commit must be answered as an error, so the session commits before the status
    line leaves (and the transaction's locks are not held while the response is written)."""
    from sample_app import create_app
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    order: list[str] = []

    class RecordResponseStart:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            async def recorded(message):
                if message["type"] == "http.response.start":
                    order.append("response")
                await send(message)

            await self.app(scope, receive, recorded)

    def committed(session: Session) -> None:
        order.append("commit")

    app = create_app(settings)
    app.add_middleware(RecordResponseStart)
    event.listen(Session, "after_commit", committed)
    try:
        async with api_client(app, make_token("22", roles=["officer"])) as client:
            response = await client.post("/v1/widgets", json=GOOD)
    finally:
        event.remove(Session, "after_commit", committed)
    assert response.status_code == 201, response.text
    assert order == ["commit", "response"]


async def test_a_running_service_collects_its_young_objects_less_often(settings):
    """The collector's youngest generation runs every ``gc_young_threshold`` allocations while
    the app serves (startup objects are frozen out of its reach); Python's thresholds come back
    when it stops."""
    import gc

    from asgi_lifespan import LifespanManager
    from sample_app import create_app

    before = gc.get_threshold()
    app = create_app(settings.model_copy(update={"gc_young_threshold": 12_345}))
    async with LifespanManager(app):
        assert gc.get_threshold() == (12_345, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before


@pytest.mark.parametrize("path", ["session", "driver"])
async def test_a_value_the_database_cannot_store_is_a_422(client, path):
    # Numeric overflow reaches the app as a driver-level error, not SQLAlchemy's DataError.
    body = assert_problem(await client.get(f"/v1/probes/{path}/overflow"), 422)
    assert body["detail"] == "a value is out of the range the database can store"
    assert body["errors"] == [{"pointer": "#/query", "detail": "numeric field overflow"}]


@pytest.mark.parametrize("path", ["session", "driver"])
@pytest.mark.parametrize("name", ["deadlock", "serialization", "lock-timeout"])
async def test_a_request_rolled_back_for_a_concurrent_one_is_asked_again(client, path, name):
    response = await client.get(f"/v1/probes/{path}/{name}")
    body = assert_problem(response, 503)
    assert body["type"].endswith("/concurrent-change") and response.headers["retry-after"] == "1"


async def test_other_database_errors_stay_server_errors(client):
    # Only SQLSTATE class 22 is the client's doing; the rest is a 500 that leaks nothing.
    body = assert_problem(await client.get("/v1/probes/session/missing-table"), 500)
    assert "no_such_table" not in str(body)


def test_the_body_guard_refuses_lone_surrogates_but_not_pairs():
    from fupin_kit.middleware import _check_json_text
    from fupin_kit.problems import ProblemError

    _check_json_text(b'{"note": "\\ud83d\\ude00 smile"}')  # a pair: one character
    with pytest.raises(ProblemError) as refused:
        _check_json_text(b'{"items": [{"note": "\\ud83d alone"}]}')
    problem = refused.value.to_problem("/x")
    assert problem["status"] == 422
    assert problem["errors"][0]["pointer"] == "#/body/items/0/note"


async def test_probes_answer_head_and_name_what_is_not_reachable(settings):
    from sample_app import create_app

    async with api_client(create_app(settings)) as up:
        assert (await up.head("/healthz")).status_code == 200
        assert (await up.head("/readyz")).status_code == 200
    unreachable = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:9"})
    async with api_client(create_app(unreachable)) as down:
        body = assert_problem(await down.get("/readyz"), 503)
        assert body["detail"] == "not reachable: kafka"
        assert body["checks"] == {"database": True, "kafka": False}


async def test_readiness_probes_at_once_share_one_kafka_round_trip(settings):
    from fupin_kit.app import KafkaProbe

    probe = KafkaProbe(settings.kafka_bootstrap)
    rounds = 0
    original = probe._probe

    async def counted() -> bool:
        nonlocal rounds
        rounds += 1
        return await original()

    probe._probe = counted  # type: ignore[method-assign]
    assert await asyncio.gather(*(probe.ok() for _ in range(20))) == [True] * 20
    assert rounds == 1


def test_a_refused_precondition_names_the_if_match_header():
    from fupin_kit.problems import FieldError, PreconditionFailed, PreconditionRequired

    for refusal in (PreconditionRequired("send If-Match"), PreconditionFailed("read it again")):
        body = refusal.to_problem()
        assert body["errors"] == [{"pointer": "#/header/If-Match", "detail": refusal.detail}], body
    given = [FieldError(pointer="#/header/If-Match", detail="x")]
    assert PreconditionFailed("stale", errors=given).errors == given


async def test_refusals_of_the_framework_name_what_they_are_about(client):
    unknown = await client.get("/v1/no-such-route")
    assert assert_problem(unknown, 404, "#/path")["type"].endswith("not-found")
    wrong_method = await client.delete("/v1/widgets")
    assert_problem(wrong_method, 405, "#/request/method")
    # GET and POST of the collection are two routes: Allow names both.
    assert wrong_method.headers["allow"] == "GET, POST"


def test_a_conflict_names_the_object_of_its_path_or_else_the_body():
    from starlette.requests import Request

    from fupin_kit.errors import problem_response
    from fupin_kit.problems import Conflict, PayloadTooLarge

    def request(path_params: dict) -> Request:
        return Request(
            {
                "type": "http",
                "method": "POST",
                "path": "/v1/x",
                "headers": [],
                "query_string": b"",
                "path_params": path_params,
            }
        )

    def pointers(response) -> list[str]:
        return [e["pointer"] for e in json.loads(response.body)["errors"]]

    taken = Conflict("region 220622 already has a central fund for 2000")
    assert pointers(problem_response(request({}), taken)) == ["#/body"]
    reversed_ = Conflict("this entry is already reversed")
    assert pointers(problem_response(request({"entry_id": "e1"}), reversed_)) == ["#/path/entry_id"]
    assert pointers(problem_response(request({}), PayloadTooLarge("too big"))) == ["#/body"]


def test_refusals_without_fields_name_the_token_the_path_or_the_client():
    from starlette.requests import Request

    from fupin_kit.errors import problem_response
    from fupin_kit.problems import Forbidden, NotFound, TooManyRequests

    def pointers(problem, path_params: dict, headers: list | None = None) -> list[str]:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/v1/x",
            "headers": headers or [],
            "query_string": b"",
            "path_params": path_params,
        }
        body = json.loads(problem_response(Request(scope), problem).body)
        assert all(e["detail"] == body["detail"] for e in body["errors"]), body
        return [e["pointer"] for e in body["errors"]]

    token = [(b"authorization", b"Bearer t")]
    assert pointers(Forbidden("the 'pii:read' scope is required"), {"a": 1}) == [
        "#/header/Authorization"
    ]
    assert pointers(TooManyRequests("retry in 1 s"), {}, token) == ["#/header/Authorization"]
    # A public route's rate is counted per client address.
    assert pointers(TooManyRequests("too many objections"), {}) == ["#/request/client"]
    assert pointers(NotFound("member not found"), {"household_id": 1, "member_id": 2}) == [
        "#/path/member_id"
    ]
    # A loader of an earlier parameter names its own.
    named = NotFound("household not found", pointer="#/path/household_id")
    assert pointers(named, {"household_id": 1, "member_id": 2}) == ["#/path/household_id"]
    assert pointers(NotFound("no list uploaded yet"), {}) == ["#/path"]


def multipart(fields: list[tuple[bytes, bytes]], charset: str | None = None) -> tuple[bytes, dict]:
    boundary = b"fupinboundary"
    body = (
        b"".join(
            b"--"
            + boundary
            + b"\r\nContent-Disposition: form-data; "
            + disposition
            + b"\r\n\r\n"
            + value
            + b"\r\n"
            for disposition, value in fields
        )
        + b"--"
        + boundary
        + b"--\r\n"
    )
    content_type = "multipart/form-data; boundary=fupinboundary"
    if charset:
        content_type += f"; charset={charset}"
    return body, {"content-type": content_type}


@pytest.mark.parametrize(
    ("fields", "charset", "pointer"),
    [
        ([(b'name="note"', "吉林省公安厅".encode("gbk"))], None, "#/body/note"),
        ([(b'name="note"', b"caf\xe9")], None, "#/body/note"),
        ([(b'name="note"', b"ok"), (b'name="a/b"', b"\xff")], None, "#/body/a~1b"),
        ([(b'name="note"', "吉林".encode())], "ascii", "#/body/note"),
    ],
)
async def test_a_form_field_not_in_its_charset_is_refused_by_name(client, fields, charset, pointer):
    body, headers = multipart(fields, charset)
    refused = await client.post("/v1/widgets/notes", content=body, headers=headers)
    problem = assert_problem(refused, 422, pointer)
    assert "text" in problem["errors"][0]["detail"]


async def test_form_fields_in_their_charset_and_files_of_any_bytes_are_read(client):
    for fields, charset, note in (
        ([(b'name="note"', "吉林省公安厅 Café".encode())], None, "吉林省公安厅 Café"),
        ([(b'name="note"', "吉林省公安厅".encode("gb18030"))], "gb18030", "吉林省公安厅"),
        ([(b'name="note"', b"caf\xe9")], "latin-1", "café"),
    ):
        body, headers = multipart(fields, charset)
        read = await client.post("/v1/widgets/notes", content=body, headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["note"] == note
    gbk_file = [
        (b'name="note"', b"list"),
        (b'name="file"; filename="a.csv"\r\nContent-Type: text/csv', "姓名".encode("gbk")),
    ]
    body, headers = multipart(gbk_file)
    read = await client.post("/v1/widgets/notes", content=body, headers=headers)
    assert read.status_code == 200, read.text
    assert read.json() == {"note": "list", "file": "a.csv"}


def test_pointers_escape_their_parts_and_name_a_bad_key_itself():
    from fupin_kit.errors import _pointer

    assert _pointer(("body", "basic_needs", "bogus", "[key]")) == "#/body/basic_needs/bogus"
    assert _pointer(("body", "a/b", "m~n", 0)) == "#/body/a~1b/m~0n/0"


async def test_a_file_part_without_a_filename_is_named_as_not_a_file(client):
    body, headers = multipart([(b'name="file"', b"a,b")])
    refused = await client.post("/v1/widgets/attachments", content=body, headers=headers)
    problem = assert_problem(refused, 422, "#/body/file")
    assert problem["errors"][0]["detail"] == "expected a file: send it as a part with a filename"


async def test_a_command_needs_a_writer_role_and_a_read_does_not(app, make_token):
    async with api_client(app, make_token("22", roles=["viewer", "auditor"])) as viewer:
        refused = await viewer.post("/v1/widgets", json=GOOD)
        problem = assert_problem(refused, 403, "#/header/Authorization")
        assert "one of the roles" in problem["detail"]
        assert (await viewer.get("/v1/widgets")).status_code == 200
    async with api_client(app, make_token("22", roles=["admin"])) as admin:
        assert (await admin.post("/v1/widgets", json=GOOD)).status_code == 201


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"a,b", "multipart/form-data"),  # no boundary
        (b"garbage", "multipart/form-data; boundary=fupinboundary"),
        (
            b'--fupinboundary\r\nContent-Disposition: form-data; filename="a.csv"\r\n\r\na\r\n'
            b"--fupinboundary--\r\n",
            "multipart/form-data; boundary=fupinboundary",
        ),  # a part without a name
    ],
)
async def test_a_multipart_body_that_cannot_be_read_is_a_422_on_the_body(
    client, content, content_type
):
    refused = await client.post(
        "/v1/widgets/attachments", content=content, headers={"content-type": content_type}
    )
    problem = assert_problem(refused, 422, "#/body")
    assert problem["errors"][0]["detail"].startswith("the multipart form cannot be read")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (b"a\x00.csv", "control or invisible"),
        (b"a\x1f.csv", "control or invisible"),
        ("a\x85.csv".encode(), "control or invisible"),  # C1
        ("exe\u202e.csv".encode(), "control or invisible"),  # right-to-left override
        ("a\u2028.csv".encode(), "control or invisible"),  # line separator
        ("a\u200b.csv".encode(), "control or invisible"),  # zero-width space
        (b"a\xc0\x80.csv", "not utf-8 text"),
        (b"\xff.csv", "not utf-8 text"),
    ],
)
async def test_a_file_name_with_hidden_characters_or_not_text_is_refused_on_the_file(
    client, name, reason
):
    body, headers = multipart([(b'name="file"; filename="' + name + b'"', b"a,b")])
    refused = await client.post("/v1/widgets/attachments", content=body, headers=headers)
    problem = assert_problem(refused, 422, "#/body/file")
    assert reason in problem["errors"][0]["detail"]


async def test_a_file_name_in_any_script_is_taken(client):
    body, headers = multipart(
        [(b'name="file"; filename="' + "靖宇县 2016 (2).csv".encode() + b'"', b"a")]
    )
    taken = await client.post("/v1/widgets/attachments", content=body, headers=headers)
    assert taken.status_code == 200, taken.text
    assert taken.json()["file"] == "靖宇县 2016 (2).csv"


def test_operations_that_authenticate_document_the_bearer_scheme_and_401_403(app):
    schema = app.openapi()
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    widgets = schema["paths"]["/v1/widgets"]
    for operation in (widgets["get"], widgets["post"]):
        assert operation["security"] == [{"bearerAuth": []}]
        assert {"401", "403"} <= operation["responses"].keys()
    # The probes take no token.
    assert "security" not in schema["paths"]["/healthz"]["get"]
    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]


async def test_a_refused_request_is_logged_with_its_caller(app, make_token):
    """The audit trail records what was done; the log records who was turned away."""
    from structlog.testing import capture_logs

    async with (
        api_client(app, make_token("22", roles=["viewer"], subject="reader-7")) as reader,
        api_client(app, make_token("22", roles=["officer"], subject="officer-7")) as officer,
    ):
        with capture_logs() as logs:
            forbidden = await reader.post("/v1/widgets", json={"bogus": 1})
            invalid = await officer.post("/v1/widgets", json={"bogus": 1})
    assert (forbidden.status_code, invalid.status_code) == (403, 422)
    refusals = [
        (entry["status"], entry["method"], entry["actor"])
        for entry in logs
        if entry["event"] == "request.refused"
    ]
    assert refusals == [(403, "POST", "user:reader-7"), (422, "POST", "user:officer-7")]
