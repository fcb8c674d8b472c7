"""Single checks that arrive together share one lookup.

Each single check queues its blind index (``fupin_kit.batching.Coalescer``); at most
``in_flight`` lookups run at once, and each takes everything queued into one ``FIND_MANY``
statement per jurisdiction. Under load, checks gather while a lookup is in flight, so the
database round trip (and its system-call cost, the largest part of a check) is shared; a lone
check still goes out on the next turn of the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence

from fupin_kit.batching import Coalescer
from fupin_registry.eligibility.repository import StandingRepository, StandingRow

# Checks one lookup takes at most (a lookup of this many keys is still one index scan each).
LOOKUP_LIMIT = 1000


class CoalescedLookups:
    def __init__(self, standings: StandingRepository, in_flight: int) -> None:
        self.standings = standings
        self.lookups = 0  # statements run (a measure of the sharing)
        self._batches: Coalescer[tuple[bytes, str], StandingRow | None] = Coalescer(
            self._look_up,
            limit=LOOKUP_LIMIT,
            in_flight=in_flight,
            retry_alone=lambda error: False,  # a failed lookup fails every check waiting on it
        )

    async def find(self, member: bytes, jurisdiction: str) -> StandingRow | None:
        return await self._batches.submit((member, jurisdiction))

    async def _look_up(self, checks: Sequence[tuple[bytes, str]]) -> list[StandingRow | None]:
        members: dict[str, set[bytes]] = {}
        for member, jurisdiction in checks:
            members.setdefault(jurisdiction, set()).add(member)
        found: dict[str, dict[bytes, StandingRow]] = {}
        for jurisdiction, keys in members.items():
            found[jurisdiction] = await self.standings.find_many(list(keys), jurisdiction)
            self.lookups += 1
        return [found[jurisdiction].get(member) for member, jurisdiction in checks]
