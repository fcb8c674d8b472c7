"""Per-client token buckets, in memory per process.

Each unit of work costs one token (a bank's eligibility check, a value a partner's DCI message
tests; a batch of n costs n); tokens refill at ``rate`` per second up to ``burst``. With several
replicas behind a load balancer each enforces its own buckets, so the effective limit is the
configured one times the number of replicas.
"""

from __future__ import annotations

import math
import time

from fupin_kit.problems import TooManyRequests

_MAX_CLIENTS = 10_000


class TokenBucketLimiter:
    def __init__(self, rate_per_second: float, burst: int, unit: str = "checks") -> None:
        self.rate = rate_per_second
        self.burst = float(burst)
        self.unit = unit  # what a token pays for, as the refusal names it
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, updated at)

    def charge(self, client: str, cost: int) -> None:
        """Take ``cost`` tokens from ``client``'s bucket or raise 429 with Retry-After."""
        now = time.monotonic()
        tokens, updated = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        if cost > tokens:
            self._buckets[client] = (tokens, now)
            wait = math.ceil((min(cost, self.burst) - tokens) / self.rate) or 1
            raise TooManyRequests(
                f"rate limit: {self.rate:g} {self.unit}/s with bursts of {self.burst:g}; "
                f"retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        self._buckets[client] = (tokens - cost, now)
        if len(self._buckets) > _MAX_CLIENTS:
            self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: forgetting them changes nothing."""
        for client, (tokens, updated) in list(self._buckets.items()):
            if tokens + (now - updated) * self.rate >= self.burst:
                del self._buckets[client]
