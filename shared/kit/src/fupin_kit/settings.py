"""Settings base: one ``BaseSettings`` subclass per service, each with its own env prefix.

Secrets have no usable default outside ``environment=dev|test``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from fupin_kit.audit import DEV_AUDIT_KEYS, AuditKeys

DEV_HOME = Path.home() / ".fupin"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    service_name: str = "service"
    environment: Literal["dev", "test", "prod"] = "dev"
    port: int = 8100
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    database_pool_size: int = 10
    consumer_pool_size: int = Field(
        3,
        ge=1,
        le=50,
        description="connections of the event consumers' own pool (apart from the requests', so"
        " a busy API never starves them)",
    )
    kafka_bootstrap: str = "127.0.0.1:9092"
    run_relay: bool = True
    run_consumers: bool = True
    consumer_group_suffix: str = Field(
        "",
        description="appended to every consumer group name (isolates test runs sharing a broker)",
    )
    audit_anchor_interval_seconds: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="how often the relay's leader copies the audit chain's head to Kafka, when "
        "it has moved (fupin_kit.anchors)",
    )
    audit_keys: str = Field(
        DEV_AUDIT_KEYS,
        description="'id:base64(32 bytes),...': keys of the audit chain's HMAC, never stored in "
        "the database; the first signs new records, every one verifies (rotation)",
    )
    log_level: str = "INFO"
    log_json: bool = True
    writer_roles: tuple[str, ...] = Field(
        ("officer", "admin"),
        description="roles a poverty office's token needs for any command (a request other than"
        " GET, HEAD, OPTIONS); partner clients' routes check their scopes instead",
    )
    max_body_bytes: int = Field(2 * 1024 * 1024, description="largest JSON request body accepted")
    max_upload_bytes: int = Field(512 * 1024 * 1024, description="largest file upload accepted")
    gc_young_threshold: int = Field(
        20_000,
        ge=0,
        description="allocations between collections of the garbage collector's youngest "
        "generation (Python's default is 700; a batch request allocates tens of thousands of "
        "short-lived objects, and collecting every 700 of them cost an eighth of its CPU); "
        "0 keeps Python's default",
    )

    # OAuth2 bearer JWT validation
    jwt_issuer: str = "fupin-auth"
    jwt_audience: str = "fupin"
    jwt_algorithms: list[str] = ["EdDSA"]
    jwt_public_key_file: Path | None = None
    jwt_public_key: str | None = None
    jwt_leeway_seconds: int = 30
    jwt_cache_size: int = Field(
        4096,
        ge=0,
        description="verified tokens kept until they expire, so repeated calls with one token "
        "skip the signature check (0 turns the cache off)",
    )

    @model_validator(mode="after")
    def _secrets_outside_dev(self) -> ServiceSettings:
        AuditKeys.parse(self.audit_keys)  # a malformed key stops the start, not the first append
        if self.environment == "prod":
            if self.jwt_public_key is None and self.jwt_public_key_file is None:
                raise ValueError("jwt_public_key or jwt_public_key_file is required in prod")
            if "none" in {a.lower() for a in self.jwt_algorithms}:
                raise ValueError("alg none is never allowed")
            if self.audit_keys == DEV_AUDIT_KEYS:
                raise ValueError("audit_keys must be set in prod (the dev key is public)")
            url = make_url(self.database_url)
            if url.password is not None and url.password in {"", url.username}:
                # The local stack's roles use their own name as password (registry:registry).
                raise ValueError(
                    "database_url must not use the role's name as its password in prod"
                )
        return self

    def public_key_pem(self) -> str:
        if self.jwt_public_key:
            return self.jwt_public_key
        path = self.jwt_public_key_file or (DEV_HOME / "keys" / "jwt-public.pem")
        return path.read_text(encoding="ascii")

    @property
    def asyncpg_dsn(self) -> str:
        """The same database URL in the form asyncpg accepts directly."""
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
