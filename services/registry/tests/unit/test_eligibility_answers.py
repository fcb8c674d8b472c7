"""Shared lookups."""


async def test_coalesced_lookups_answer_each_check_and_share_statements():
    import asyncio

    from fupin_registry.eligibility.lookups import CoalescedLookups

    class Standings:
        def __init__(self):
            self.calls: list[tuple[list[bytes], str]] = []

        async def find_many(self, members, jurisdiction):
            self.calls.append((sorted(members), jurisdiction))
            await asyncio.sleep(0.01)
            if b"boom" in members:
                raise RuntimeError("database down")
            return {m: ("row", m, jurisdiction) for m in members if m != b"absent"}

    standings = Standings()
    lookups = CoalescedLookups(standings, in_flight=1)  # type: ignore[arg-type]
    wanted = [(bytes([i]), "22" if i % 2 else "2206") for i in range(10)] + [(b"absent", "22")]
    found = await asyncio.gather(*(lookups.find(m, j) for m, j in wanted))
    assert found[:10] == [("row", m, j) for m, j in wanted[:10]]
    assert found[10] is None
    assert len(standings.calls) < len(wanted)  # shared statements, one jurisdiction each
    # each statement asks only for people checked in its jurisdiction
    assert all((m, j) in wanted for members, j in standings.calls for m in members)
    failing = await asyncio.gather(
        lookups.find(b"boom", "22"), lookups.find(b"\x01", "22"), return_exceptions=True
    )
    assert all(isinstance(f, RuntimeError) for f in failing)
    assert await lookups.find(b"\x02", "22") == ("row", b"\x02", "22")  # recovers
