"""Token buckets shared through PostgreSQL: every process of a service draws on one bucket per
client, so two processes together admit no more than the configured burst and rate."""

import asyncio
import uuid

import pytest

from fupin_kit.problems import TooManyRequests
from fupin_kit.ratelimit import EngineBuckets, Taken, TokenBucketLimiter


class Counting:
    """The real store, counting its round trips."""

    def __init__(self, store):
        self.store = store
        self.calls = 0

    async def take(self, *args) -> Taken:
        self.calls += 1
        return await self.store.take(*args)


def client() -> str:
    return f"bank-{uuid.uuid4().hex[:8]}"


def processes(engine, n=2, **options):
    """``n`` limiters over the same table, as ``n`` processes of the service would hold."""
    options = {"rate_per_second": 0.001, "burst": 5, "lease_seconds": 0.0} | options
    return [TokenBucketLimiter(EngineBuckets(engine), "checks", **options) for _ in range(n)]


async def admitted(limiter, who, cost=1) -> bool:
    try:
        await limiter.charge(who, cost)
    except TooManyRequests:
        return False
    return True


async def test_two_processes_share_one_bucket(engine):
    first, second = processes(engine)
    bank = client()
    answers = [await admitted(limiter, bank) for limiter in (first, second) * 4]
    assert answers.count(True) == 5  # the burst, not twice it
    assert answers[:5] == [True] * 5


async def test_concurrent_charges_from_two_processes_never_exceed_the_burst(engine):
    limiters = processes(engine, burst=20)
    bank = client()
    answers = await asyncio.gather(*(admitted(limiters[i % 2], bank) for i in range(60)))
    assert answers.count(True) == 20


async def test_refusal_names_the_limit_and_says_when_to_retry(engine):
    (limiter,) = processes(engine, n=1, rate_per_second=0.5, burst=3)
    bank = client()
    await limiter.charge(bank, 3)
    with pytest.raises(TooManyRequests) as refused:
        await limiter.charge(bank, 1)
    assert refused.value.headers == {"Retry-After": "2"}  # one token at 0.5/s
    assert "0.5 checks/s with bursts of 3" in (refused.value.detail or "")
    with pytest.raises(TooManyRequests) as whole:
        await limiter.charge(bank, 3)
    assert whole.value.headers == {"Retry-After": "6"}


async def test_buckets_refill_at_the_rate_up_to_the_burst(engine):
    (limiter,) = processes(engine, n=1, rate_per_second=20.0, burst=5)
    bank = client()
    await limiter.charge(bank, 5)
    assert not await admitted(limiter, bank, 2)
    await asyncio.sleep(0.4)  # eight tokens' worth, capped at the burst of five
    await limiter.charge(bank, 5)
    assert not await admitted(limiter, bank, 5)


async def test_clients_and_scopes_have_their_own_buckets(engine):
    (limiter,) = processes(engine, n=1, burst=2)
    other_scope = TokenBucketLimiter(EngineBuckets(engine), "values", 0.001, 2)
    bank, other = client(), client()
    await limiter.charge(bank, 2)
    assert not await admitted(limiter, bank)
    await limiter.charge(other, 2)
    await other_scope.charge(bank, 2)


async def test_a_lease_saves_round_trips_and_still_admits_no_more_than_the_bucket(engine):
    store = Counting(EngineBuckets(engine))
    # A lease of 0.1 s at 1,000/s is 100 tokens, at most a tenth of the burst: 100.
    leasing = TokenBucketLimiter(store, "checks", 1000.0, 1000, lease_seconds=0.1)
    bank = client()
    for _ in range(300):
        await leasing.charge(bank, 1)
    assert store.calls <= 3 + 1
    # A second process sees what the first took, leases included.
    strict = TokenBucketLimiter(EngineBuckets(engine), "checks", 0.001, 1000, lease_seconds=0)
    taken = 0
    while await admitted(strict, bank, 50):
        taken += 50
    assert 300 + taken <= 1000 + 1  # the refill during the test is well under a token/s here
    assert taken >= 1000 - 300 - 100 - 50  # at most one lease and one charge's worth unspent
