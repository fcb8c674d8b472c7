from pathlib import Path

from fupin_evaluation.config import Settings
from fupin_evaluation.main import create_app
from fupin_kit.testing.service import service_fixtures

globals().update(
    service_fixtures(
        env_prefix="EVALUATION",
        settings_cls=Settings,
        create_app=create_app,
        service_dir=Path(__file__).resolve().parents[1],
    )
)
