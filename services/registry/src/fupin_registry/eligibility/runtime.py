"""The eligibility runtime, started and stopped with the app (see main.py's hooks)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI

from fupin_kit.auth import TokenVerifier
from fupin_kit.ratelimit import AsyncpgBuckets, TokenBucketLimiter
from fupin_registry.config import Settings
from fupin_registry.eligibility.audit_batch import AuditBatcher
from fupin_registry.eligibility.lookups import CoalescedLookups
from fupin_registry.eligibility.repository import CheckHistory, StandingRepository, create_pool
from fupin_registry.eligibility.rules import EligibilityRules
from fupin_registry.eligibility.service import EligibilityService
from fupin_registry.privacy import Privacy


@dataclass
class EligibilityRuntime:
    pool: asyncpg.Pool
    audit: AuditBatcher
    limiter: TokenBucketLimiter
    tokens: TokenVerifier  # the kit's, which caches verified tokens until they expire
    service: EligibilityService
    history: CheckHistory
    batch_max: int


def check_limits(settings: Settings) -> None:
    """Limits that would refuse every full batch are a configuration error, found at start."""
    if settings.eligibility_rate_burst < settings.eligibility_batch_max:
        raise ValueError(
            "eligibility_rate_burst must allow one full batch (>= eligibility_batch_max)"
        )
    if settings.eligibility_audit_max_pending < settings.eligibility_batch_max:
        raise ValueError(
            "eligibility_audit_max_pending must hold one full batch (>= eligibility_batch_max)"
        )


async def start_eligibility(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    rules = EligibilityRules.from_settings(settings)
    check_limits(settings)
    pool = await create_pool(settings.asyncpg_dsn, settings.eligibility_pool_size)
    audit = AuditBatcher(
        settings.asyncpg_dsn,
        max_batch=settings.eligibility_audit_max_batch,
        max_pending=settings.eligibility_audit_max_pending,
        writers=settings.eligibility_audit_writers,
    )
    audit.start()
    privacy: Privacy = getattr(app.state, "privacy", None) or Privacy(settings)
    index = privacy.index
    standings = StandingRepository(pool)
    app.state.eligibility = EligibilityRuntime(
        pool=pool,
        audit=audit,
        limiter=TokenBucketLimiter(
            AsyncpgBuckets(pool),
            "eligibility",
            settings.eligibility_rate_per_second,
            settings.eligibility_rate_burst,
            "checks",
            settings.rate_limit_lease_seconds,
        ),
        tokens=app.state.token_verifier,
        service=EligibilityService(
            standings,
            audit,
            rules,
            index,
            CoalescedLookups(standings, settings.eligibility_lookups_in_flight),
        ),
        history=CheckHistory(pool),
        batch_max=settings.eligibility_batch_max,
    )


async def stop_eligibility(app: FastAPI) -> None:
    runtime: EligibilityRuntime | None = getattr(app.state, "eligibility", None)
    if runtime is None:
        return
    app.state.eligibility = None
    await runtime.audit.close()
    await runtime.pool.close()
