"""Every operation of the evaluation service's API, fuzzed from its OpenAPI document (schemathesis)
against the real server and database: no request gets a 5xx, and every refusal
is a problem document naming what was wrong."""

from pathlib import Path

from fupin_evaluation.config import Settings
from fupin_evaluation.main import create_app
from fupin_kit.testing.fuzz import fuzz_suite

globals().update(
    fuzz_suite(
        env_prefix="EVALUATION",
        app="fupin_evaluation.main:app",
        service_dir=Path(__file__).resolve().parents[2],
        settings_cls=Settings,
        create_app=create_app,
    )
)
