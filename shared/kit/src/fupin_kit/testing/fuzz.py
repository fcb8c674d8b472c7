"""Schema-driven fuzzing of a service's whole HTTP API (schemathesis) against the real server.

A service's ``tests/api/test_fuzz.py`` binds ``fuzz_suite(...)`` and so runs every operation of
its OpenAPI document with generated requests, valid and invalid (wrong types, missing fields,
NUL bytes, huge numbers, every method on every path), through a real uvicorn process on its
own migrated database (what the generated requests commit stays out of the other tests'
database), and
asserts what every client may rely on (``assert_well_behaved``): no 5xx, and every 4xx an
``application/problem+json`` document that says what was wrong.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fupin_kit.testing.database import migrated_database

PROBLEM_JSON = "application/problem+json"
# Every scope and role the services check: the generated requests should get past
# authorisation to the validation and the domain rules behind it.
FUZZ_SCOPES = [
    "pii:read",
    "eligibility:check",
    "crosscheck:upload",
    "loans:report",
    "dci:search",
    "dci:subscribe",
]
FUZZ_ROLES = ["officer", "admin"]


@dataclass
class LiveService:
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(app: str, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``uvicorn <app>`` in its own process group, returned once it answers ``/healthz``."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--http",
            "fupin_kit.server:HttpProtocol",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{app} exited during startup (code {process.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except urllib.error.HTTPError:
            return process
        except OSError:
            time.sleep(0.2)
    stop_service(process)
    raise RuntimeError(f"{app} did not answer within 60 s")


def stop_service(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def assert_well_behaved(
    method: str, path: str, status: int, content_type: str, body: bytes, *, problem: bool = True
) -> None:
    """No server error for anything a client can send; a refusal says what was wrong.

    ``problem`` is False for operations whose errors follow another standard's envelope (DCI).
    """
    where = f"{method} {path}"
    assert status < 500, f"{where} answered {status}: {body[:2000]!r}"
    if not problem or not 400 <= status < 500 or method == "HEAD":
        return
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, (
        f"{where} answered {status} as {content_type!r}, not {PROBLEM_JSON}: {body[:500]!r}"
    )
    document = json.loads(body)
    assert document.get("status") == status, f"{where}: problem status {document!r}"
    assert document.get("title"), f"{where}: problem without a title {document!r}"
    assert document.get("detail"), f"{where}: problem without a detail {document!r}"
    # A refused request names each field it got wrong and why (JSON pointer, reason).
    for error in document.get("errors") or []:
        assert error.get("pointer") and error.get("detail"), (
            f"{where}: an error without its field or reason {document!r}"
        )


def openapi_schema(app: Any) -> Any:
    """The schemathesis schema of an app's OpenAPI document, built in process at collection
    time (no server needed); requests go to the live server through ``case.call(base_url=)``."""
    import schemathesis

    return schemathesis.openapi.from_dict(app.openapi())


def check_case(case: Any, service: LiveService, *, problem: bool = True) -> None:
    """Send a generated request to the live service and hold its answer to
    ``assert_well_behaved``."""
    response = case.call(base_url=service.url, headers=service.headers, timeout=30)
    content_type = response.headers.get("content-type") or [""]
    assert_well_behaved(
        case.method,
        case.formatted_path,
        response.status_code,
        content_type[0] if isinstance(content_type, list) else content_type,
        response.content,
        problem=problem,
    )


def fuzz_fixtures(
    *, env_prefix: str, app: str, service_dir: Path, database_url: Callable[[], str]
) -> dict[str, Any]:
    """The fixture ``fuzz_service`` (one per test module): a live server on a fresh database,
    with a token holding every scope and role in jurisdiction 22."""

    @pytest.fixture(scope="module")
    def fuzz_service(
        make_token: Callable[..., str], signing_keys: tuple[str, str], kafka_bootstrap: str
    ) -> Iterator[LiveService]:
        with migrated_database(database_url(), service_dir / "alembic.ini", label="fuzz") as url:
            port = free_port()
            process = start_service(
                app,
                {
                    f"{env_prefix}_DATABASE_URL": url,
                    f"{env_prefix}_JWT_PUBLIC_KEY": signing_keys[1],
                    f"{env_prefix}_KAFKA_BOOTSTRAP": kafka_bootstrap,
                    f"{env_prefix}_RUN_RELAY": "false",
                    f"{env_prefix}_RUN_CONSUMERS": "false",
                    f"{env_prefix}_ENVIRONMENT": "test",
                    f"{env_prefix}_LOG_LEVEL": "WARNING",
                },
                port,
            )
            try:
                token = make_token(
                    "22", scopes=FUZZ_SCOPES, roles=FUZZ_ROLES, client_id="fuzz-client"
                )
                yield LiveService(
                    url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
                )
            finally:
                stop_service(process)

    return {"fuzz_service": fuzz_service}


def fuzz_suite(
    *,
    env_prefix: str,
    app: str,
    service_dir: Path,
    settings_cls: Callable[[], Any],
    create_app: Callable[[Any], Any],
    problem: Callable[[str], bool] = lambda path: True,
    max_examples: int = 25,
) -> dict[str, Any]:
    """``fuzz_fixtures`` plus the test: every operation of the app's OpenAPI document with
    ``max_examples`` derandomised examples (a failure reproduces on the next run; the
    environment variable ``FUPIN_FUZZ_EXAMPLES`` asks for more, for a deeper run by hand).
    ``problem(path)`` is False for operations whose errors follow another standard (DCI)."""
    from hypothesis import HealthCheck, settings

    schema = openapi_schema(create_app(settings_cls()))
    examples = int(os.environ.get("FUPIN_FUZZ_EXAMPLES") or max_examples)

    @schema.parametrize()
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def test_no_request_gets_a_server_error(case: Any, fuzz_service: LiveService) -> None:
        check_case(case, fuzz_service, problem=problem(case.path))

    return {
        **fuzz_fixtures(
            env_prefix=env_prefix,
            app=app,
            service_dir=service_dir,
            database_url=lambda: settings_cls().database_url,
        ),
        "test_no_request_gets_a_server_error": test_no_request_gets_a_server_error,
    }
