"""evaluation settings: environment variables prefixed EVALUATION_."""

from pydantic_settings import SettingsConfigDict

from fupin_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVALUATION_", extra="ignore")

    service_name: str = "evaluation"
    port: int = 8104
    database_url: str = "postgresql+asyncpg://evaluation:evaluation@127.0.0.1:5432/evaluation"
