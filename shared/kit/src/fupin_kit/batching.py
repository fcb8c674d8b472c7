"""Requests that arrive together are served by one call (group commit, coalesced reads).

Each caller queues its item and waits for its own result. At most ``in_flight`` calls run at once;
each takes up to ``limit`` items from the queue, in arrival order. While a call is in the database
the next batch fills, so batches grow with the load and a lone request waits for nobody. An item
always joins a call that starts after it was queued, so what the call reads or writes is never
older than the request.

A call that fails as a whole is repeated one item at a time, so one bad item fails alone, but
only when ``retry_alone(error)`` says the failed call had no effect: a command whose outcome is
unknown (the connection broke before the commit's answer arrived) must not run again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    answer: asyncio.Future[Result]


class Coalescer(Generic[Item, Result]):
    def __init__(
        self,
        call: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        *,
        limit: int,
        in_flight: int = 1,
        observe: Callable[[int], None] | None = None,
        retry_alone: Callable[[Exception], bool] = lambda error: True,
    ) -> None:
        """``call`` answers a batch of items with one result per item, in order; ``observe``
        is told each batch's size (a metric); ``retry_alone`` tells whether a failed batch may
        be repeated item by item (default: always, right for reads)."""
        self._call = call
        self._retry_alone = retry_alone
        self.limit = limit
        self.in_flight = in_flight
        self._observe = observe
        self._waiting: list[_Waiting[Item, Result]] = []
        self._active = 0  # calls running; counted by the flushers themselves (see _flush)
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(item, answer))
        if self._active < self.in_flight:
            self._active += 1
            task = asyncio.create_task(self._flush())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await answer

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self.limit]
                del self._waiting[: self.limit]
                await self._serve(batch)
        finally:
            # No await between the queue found empty and this: an item queued after it starts
            # a flusher of its own.
            self._active -= 1

    async def _serve(self, batch: list[_Waiting[Item, Result]]) -> None:
        try:
            results = await self._call([waiting.item for waiting in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} items")
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets an answer
            if len(batch) == 1 or not self._retry_alone(exc):
                for waiting in batch:
                    _answer(waiting, exc)
                return
            for waiting in batch:
                await self._serve([waiting])
            return
        if self._observe is not None:
            self._observe(len(batch))
        for waiting, result in zip(batch, results, strict=True):
            _answer(waiting, result)


def _answer(waiting: _Waiting[Item, Result], result: Result | BaseException) -> None:
    if waiting.answer.done():  # the caller went away; its item was served all the same
        return
    if isinstance(result, BaseException):
        waiting.answer.set_exception(result)
    else:
        waiting.answer.set_result(result)
