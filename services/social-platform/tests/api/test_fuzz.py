"""Every operation of the social platform's API, fuzzed from its OpenAPI document (schemathesis)
against the real server and database: no request gets a 5xx, and every refusal
is a problem document naming what was wrong."""

from pathlib import Path

from fupin_kit.testing.fuzz import fuzz_suite
from fupin_social.config import Settings
from fupin_social.main import create_app

globals().update(
    fuzz_suite(
        env_prefix="SOCIAL",
        app="fupin_social.main:app",
        service_dir=Path(__file__).resolve().parents[2],
        settings_cls=Settings,
        create_app=create_app,
    )
)
