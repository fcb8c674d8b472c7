"""Per-client token buckets kept in PostgreSQL, so that every process and replica of a service
draws on the same bucket.

Each unit of work costs one token (a bank's eligibility check, a value a partner's DCI message
tests; a batch of n costs n); tokens refill at ``rate`` per second up to ``burst``. The bucket
lives in the service's ``rate_buckets`` table and is charged by the server function
``rate_bucket_take`` (one row lock, one round trip).

So that a busy client does not cost a round trip per request, a process takes a small lease
from the shared bucket (``lease_seconds`` of the rate, at most a tenth of the burst) and spends
it locally. Tokens are taken from the shared bucket before they are spent, so all processes
together never admit more than the configured rate and burst; a lease a process does not spend
is simply lost, which only ever admits less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, Float, MetaData, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fupin_kit.problems import TooManyRequests

_MAX_LEASES = 10_000  # clients holding a lease in one process; beyond it leases are dropped

TAKE_SQL = "SELECT granted, remaining FROM rate_bucket_take($1, $2, $3, $4, $5, $6)"


def declare_rate_buckets(metadata: MetaData) -> Table:
    """The ``rate_buckets`` table on a service's metadata, as ``migrations.create_rate_buckets``
    creates it (for the services that limit rates; the others have no such table)."""
    return Table(
        "rate_buckets",
        metadata,
        Column("scope", Text, primary_key=True),
        Column("client", Text, primary_key=True),
        Column("tokens", Float, nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        prefixes=["UNLOGGED"],
    )


@dataclass(frozen=True)
class Taken:
    granted: float  # tokens now the caller's (0: refused, at least ``least`` otherwise)
    remaining: float  # tokens left in the shared bucket


class BucketStore(Protocol):
    async def take(
        self, scope: str, client: str, rate: float, burst: float, least: float, most: float
    ) -> Taken:
        """Refill the bucket, then take between ``least`` and ``most`` tokens, or none if fewer
        than ``least`` are there."""
        ...


class AsyncpgBuckets:
    """The buckets through an asyncpg pool (the eligibility hot path's own)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def take(
        self, scope: str, client: str, rate: float, burst: float, least: float, most: float
    ) -> Taken:
        row = await self.pool.fetchrow(TAKE_SQL, scope, client, rate, burst, least, most)
        return Taken(float(row["granted"]), float(row["remaining"]))


class EngineBuckets:
    """The buckets through a SQLAlchemy engine, in a transaction of their own."""

    _SQL = text(
        "SELECT granted, remaining FROM rate_bucket_take("
        ":scope, :client, :rate, :burst, :least, :most)"
    )

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def take(
        self, scope: str, client: str, rate: float, burst: float, least: float, most: float
    ) -> Taken:
        params = {
            "scope": scope,
            "client": client,
            "rate": rate,
            "burst": burst,
            "least": least,
            "most": most,
        }
        async with self.engine.begin() as connection:
            row = (await connection.execute(self._SQL, params)).one()
        return Taken(float(row.granted), float(row.remaining))


class TokenBucketLimiter:
    """Charges clients' shared buckets of one ``scope`` (e.g. ``eligibility``, ``dci``)."""

    def __init__(
        self,
        store: BucketStore,
        scope: str,
        rate_per_second: float,
        burst: int,
        unit: str = "checks",
        lease_seconds: float = 0.1,
    ) -> None:
        self.store = store
        self.scope = scope
        self.rate = rate_per_second
        self.burst = float(burst)
        self.unit = unit  # what a token pays for, as the refusal names it
        # A lease is what a process may take beyond a request's cost: small against the burst,
        # so that one process cannot hold what another is refused.
        self.lease = max(0.0, min(rate_per_second * lease_seconds, self.burst / 10))
        self._leases: dict[str, float] = {}  # client -> tokens taken and not yet spent

    async def charge(self, client: str, cost: int) -> None:
        """Take ``cost`` tokens for ``client`` or raise 429 with Retry-After."""
        held = self._leases.pop(client, 0.0)
        if held >= cost:
            self._keep(client, held - cost)
            return
        need = cost - held
        try:
            taken = await self.store.take(
                self.scope, client, self.rate, self.burst, need, need + self.lease
            )
        except BaseException:
            self._keep(client, held)
            raise
        if taken.granted < need:
            self._keep(client, held)
            wait = math.ceil((min(need, self.burst) - taken.remaining) / self.rate) or 1
            raise TooManyRequests(
                f"rate limit: {self.rate:g} {self.unit}/s with bursts of {self.burst:g}; "
                f"retry in {wait} s",
                headers={"Retry-After": str(max(wait, 1))},
            )
        self._keep(client, taken.granted - need)

    def _keep(self, client: str, tokens: float) -> None:
        """Add ``tokens`` to the client's lease (requests of the client may have run meanwhile)."""
        if tokens <= 0:
            return
        self._leases[client] = self._leases.get(client, 0.0) + tokens
        if len(self._leases) > _MAX_LEASES:
            # Dropping a lease only admits less: its tokens are gone from the shared bucket.
            self._leases.pop(next(iter(self._leases)))
