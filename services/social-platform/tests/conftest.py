from pathlib import Path

from fupin_kit.testing.service import service_fixtures
from fupin_social.config import Settings
from fupin_social.main import create_app

globals().update(
    service_fixtures(
        env_prefix="SOCIAL",
        settings_cls=Settings,
        create_app=create_app,
        service_dir=Path(__file__).resolve().parents[1],
    )
)
