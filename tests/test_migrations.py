"""Each service's Alembic history has one head and produces exactly what its models declare."""

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from fupin_kit.testing.database import migrated_database

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {
    "registry": "postgresql+asyncpg://registry:registry@127.0.0.1:5432/registry",
    "funds": "postgresql+asyncpg://funds:funds@127.0.0.1:5432/funds",
    "teams": "postgresql+asyncpg://teams:teams@127.0.0.1:5432/teams",
    "evaluation": "postgresql+asyncpg://evaluation:evaluation@127.0.0.1:5432/evaluation",
    "social-platform": "postgresql+asyncpg://social:social@127.0.0.1:5432/social",
}


def config_for(service: str, url: str | None = None) -> Config:
    ini = ROOT / "services" / service / "alembic.ini"
    config = Config(str(ini))
    config.set_main_option("script_location", str(ini.parent / "migrations"))
    if url:
        config.attributes["database_url"] = url
    return config


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_one_head(service):
    assert len(ScriptDirectory.from_config(config_for(service)).get_heads()) == 1


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_migrations_match_models(service):
    with migrated_database(
        SERVICES[service], ROOT / "services" / service / "alembic.ini", "check"
    ) as url:
        command.check(config_for(service, url))  # raises when models and migrations differ
