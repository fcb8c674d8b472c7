import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # sample_app is imported by the migration env and the tests

from sample_app import create_app  # noqa: E402

from fupin_kit.settings import ServiceSettings  # noqa: E402
from fupin_kit.testing.service import service_fixtures  # noqa: E402


class KitTestSettings(ServiceSettings):
    service_name: str = "kittest"
    database_url: str = os.environ.get(
        "REGISTRY_DATABASE_URL", "postgresql+asyncpg://registry:registry@127.0.0.1:5432/registry"
    )


globals().update(
    service_fixtures(
        env_prefix="KITTEST", settings_cls=KitTestSettings, create_app=create_app, service_dir=HERE
    )
)
