"""teams settings: environment variables prefixed TEAMS_."""

from pydantic_settings import SettingsConfigDict

from fupin_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TEAMS_", extra="ignore")

    service_name: str = "teams"
    port: int = 8103
    database_url: str = "postgresql+asyncpg://teams:teams@127.0.0.1:5432/teams"
