"""Coalescer: items that arrive together are served by one call, each caller gets its own answer."""

import asyncio

import pytest

from fupin_kit.batching import Coalescer


async def turns(n: int = 3) -> None:
    """Let the event loop run the tasks that are ready (submitters, then the flusher)."""
    for _ in range(n):
        await asyncio.sleep(0)


class Recorder:
    """A batch call that doubles numbers, refuses negatives as a whole, and can be held open."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, items):
        self.calls.append(list(items))
        await self.gate.wait()
        if any(item < 0 for item in items):
            raise ValueError(f"negative in {list(items)}")
        return [2 * item for item in items]


async def test_items_queued_together_share_one_call_and_keep_their_order():
    call = Recorder()
    coalescer = Coalescer(call, limit=100)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(10)))
    assert results == [2 * n for n in range(10)]
    assert call.calls == [list(range(10))]


async def test_items_arriving_during_a_call_wait_for_the_next_one():
    call = Recorder()
    call.gate.clear()
    coalescer = Coalescer(call, limit=100, in_flight=1)
    first = asyncio.ensure_future(coalescer.submit(1))
    await turns()  # the first call starts and blocks on the gate
    assert call.calls == [[1]]
    later = [asyncio.ensure_future(coalescer.submit(n)) for n in (2, 3, 4)]
    await turns()
    assert call.calls == [[1]]  # nothing joins a call already running
    call.gate.set()
    assert await first == 2 and [await f for f in later] == [4, 6, 8]
    assert call.calls == [[1], [2, 3, 4]]


async def test_a_call_takes_at_most_limit_items():
    call = Recorder()
    coalescer = Coalescer(call, limit=3)
    assert await asyncio.gather(*(coalescer.submit(n) for n in range(7))) == [
        0,
        2,
        4,
        6,
        8,
        10,
        12,
    ]
    assert call.calls == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_batch_is_retried_one_item_at_a_time_so_only_the_bad_item_fails():
    call = Recorder()
    coalescer = Coalescer(call, limit=10)
    results = await asyncio.gather(
        *(coalescer.submit(n) for n in (1, -1, 3)), return_exceptions=True
    )
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], ValueError)
    assert call.calls == [[1, -1, 3], [1], [-1], [3]]


async def test_a_call_answering_the_wrong_number_of_results_fails_loudly():
    async def short(items):
        return [] if len(items) > 1 else ["x"]

    coalescer: Coalescer[int, str] = Coalescer(short, limit=10)
    assert await asyncio.gather(coalescer.submit(1), coalescer.submit(2)) == ["x", "x"]

    async def never(items):
        return []

    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        await Coalescer(never, limit=10).submit(1)


async def test_a_caller_that_goes_away_does_not_stop_the_others():
    call = Recorder()
    call.gate.clear()
    coalescer = Coalescer(call, limit=10)
    gone = asyncio.ensure_future(coalescer.submit(1))
    stays = asyncio.ensure_future(coalescer.submit(2))
    await turns()
    gone.cancel()
    call.gate.set()
    assert await stays == 4
    assert gone.cancelled()
    assert await coalescer.submit(5) == 10  # and the coalescer keeps serving


async def test_batch_sizes_are_observed():
    sizes: list[int] = []
    coalescer = Coalescer(Recorder(), limit=4, observe=sizes.append)
    await asyncio.gather(*(coalescer.submit(n) for n in range(6)))
    assert sizes == [4, 2]


async def test_a_failed_batch_is_not_repeated_when_its_outcome_is_unknown():
    call = Recorder()
    coalescer = Coalescer(call, limit=10, retry_alone=lambda error: False)
    results = await asyncio.gather(
        *(coalescer.submit(n) for n in (1, -1, 3)), return_exceptions=True
    )
    assert all(isinstance(result, ValueError) for result in results)
    assert call.calls == [[1, -1, 3]]  # not once more, item by item
