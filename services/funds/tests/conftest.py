import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # funds_testkit

from fupin_funds.config import Settings  # noqa: E402
from fupin_funds.main import create_app  # noqa: E402
from fupin_kit.testing.service import service_fixtures  # noqa: E402

globals().update(
    service_fixtures(
        env_prefix="FUNDS",
        settings_cls=Settings,
        create_app=create_app,
        service_dir=Path(__file__).resolve().parents[1],
    )
)
