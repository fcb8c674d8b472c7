import sys
from pathlib import Path

import pytest
from sqlalchemy import text

# import_support (what the import's unit tests share) is imported by the tests' files.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fupin_kit.testing.service import service_fixtures  # noqa: E402
from fupin_registry.config import Settings  # noqa: E402
from fupin_registry.main import create_app  # noqa: E402

globals().update(
    service_fixtures(
        env_prefix="REGISTRY",
        settings_cls=Settings,
        create_app=create_app,
        service_dir=Path(__file__).resolve().parents[1],
    )
)


@pytest.fixture
async def requires_lz4(engine) -> None:
    """Skips a test about lz4 compression on a PostgreSQL built without it."""
    async with engine.connect() as conn:
        has_lz4 = (
            await conn.execute(
                text(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
                    " WHERE name = 'default_toast_compression'"
                )
            )
        ).scalar_one()
    if not has_lz4:
        pytest.skip("this PostgreSQL is built without lz4")
