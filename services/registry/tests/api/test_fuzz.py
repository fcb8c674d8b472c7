"""Every operation of the registry service's API, fuzzed from its OpenAPI document (schemathesis)
against the real server and database: no request gets a 5xx, and every refusal
is a problem document naming what was wrong (DCI operations answer in DCI's own envelopes)."""

from pathlib import Path

from fupin_kit.testing.fuzz import fuzz_suite
from fupin_registry.config import Settings
from fupin_registry.main import create_app

globals().update(
    fuzz_suite(
        env_prefix="REGISTRY",
        app="fupin_registry.main:app",
        service_dir=Path(__file__).resolve().parents[2],
        settings_cls=Settings,
        create_app=create_app,
        # DCI operations answer in DCI's own ACK/ERR envelopes, not problem documents.
        problem=lambda path: not path.startswith("/registry/"),
    )
)
