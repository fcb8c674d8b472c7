"""social settings: environment variables prefixed SOCIAL_."""

from pydantic_settings import SettingsConfigDict

from fupin_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SOCIAL_", extra="ignore")

    service_name: str = "social"
    port: int = 8105
    database_url: str = "postgresql+asyncpg://social:social@127.0.0.1:5432/social"
