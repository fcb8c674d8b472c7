"""Single checks that arrive together share one lookup.

Each single check queues its blind index and waits on a future; at most ``in_flight`` lookups
run at once, and each takes everything queued for one jurisdiction into one ``= ANY($1)``
statement. Under load, checks gather while a lookup is in flight, so the database round trip
(and its system-call cost, the largest part of a check) is shared; a lone check still goes
out on the next turn of the event loop.
"""

from __future__ import annotations

import asyncio

from fupin_registry.eligibility.repository import StandingRepository, StandingRow


class CoalescedLookups:
    def __init__(self, standings: StandingRepository, in_flight: int) -> None:
        self.standings = standings
        self.in_flight = in_flight
        self._waiting: dict[str, list[tuple[bytes, asyncio.Future[StandingRow | None]]]] = {}
        self._running = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.lookups = 0

    async def find(self, member: bytes, jurisdiction: str) -> StandingRow | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StandingRow | None] = loop.create_future()
        self._waiting.setdefault(jurisdiction, []).append((member, future))
        self._schedule(loop)
        return await future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled and self._running < self.in_flight:
            self._scheduled = True
            loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        while self._waiting and self._running < self.in_flight:
            jurisdiction, waiting = self._waiting.popitem()
            self._running += 1
            task = asyncio.create_task(self._look_up(jurisdiction, waiting))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _look_up(
        self, jurisdiction: str, waiting: list[tuple[bytes, asyncio.Future[StandingRow | None]]]
    ) -> None:
        try:
            found = await self.standings.find_many(
                list({member for member, _ in waiting}), jurisdiction
            )
        except Exception as exc:
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
        else:
            self.lookups += 1
            for member, future in waiting:
                if not future.done():
                    future.set_result(found.get(member))
        finally:
            self._running -= 1
            if self._waiting:
                self._schedule(asyncio.get_running_loop())
