"""Every operation of the teams service's API, fuzzed from its OpenAPI document (schemathesis)
against the real server and database: no request gets a 5xx, and every refusal
is a problem document naming what was wrong."""

from pathlib import Path

from fupin_kit.testing.fuzz import fuzz_suite
from fupin_teams.config import Settings
from fupin_teams.main import create_app

globals().update(
    fuzz_suite(
        env_prefix="TEAMS",
        app="fupin_teams.main:app",
        service_dir=Path(__file__).resolve().parents[2],
        settings_cls=Settings,
        create_app=create_app,
    )
)
