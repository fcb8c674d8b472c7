"""The region table held in memory: validating a village code must not cost a query.

Divisions change only with a migration, so the directory is loaded once (at startup, or on
first use) and shared by every request. Rural population, which officers update, stays in the
database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from fupin_kit.db import SessionDep
from fupin_kit.logging import get_logger
from fupin_kit.problems import Unprocessable
from fupin_registry.regions.repository import RegionRepository


@dataclass(frozen=True, slots=True)
class RegionEntry:
    code: str
    name: str
    level: str
    parent_code: str | None


class RegionDirectory:
    def __init__(self, entries: list[RegionEntry]) -> None:
        self._by_code = {entry.code: entry for entry in entries}

    def __len__(self) -> int:
        return len(self._by_code)

    def get(self, code: str) -> RegionEntry | None:
        return self._by_code.get(code)

    def is_village(self, code: str) -> bool:
        entry = self._by_code.get(code)
        return entry is not None and entry.level == "village"

    def require_village(self, code: str, pointer: str) -> RegionEntry:
        entry = self._by_code.get(code)
        if entry is None:
            raise Unprocessable(pointer, f"region {code} does not exist")
        if entry.level != "village":
            raise Unprocessable(pointer, f"region {code} is a {entry.level}, not a village")
        return entry

    def require_region(self, code: str, pointer: str) -> RegionEntry:
        entry = self._by_code.get(code)
        if entry is None:
            raise Unprocessable(pointer, f"region {code} does not exist")
        return entry

    def villages(self) -> list[RegionEntry]:
        return [e for e in self._by_code.values() if e.level == "village"]

    def name_of(self, code: str) -> str | None:
        entry = self._by_code.get(code)
        return entry.name if entry else None


log = get_logger("fupin.registry.regions")


async def load_directory(repository: RegionRepository) -> RegionDirectory:
    rows = await repository.all_divisions()
    return RegionDirectory([RegionEntry(*row) for row in rows])


async def warm_region_directory(app: FastAPI) -> None:
    """Startup hook: load the directory once; if the database is not reachable yet, the first
    request that needs it loads it instead."""
    try:
        async with app.state.sessionmaker() as session:
            app.state.regions = await load_directory(RegionRepository(session))
    except Exception as exc:  # the service still starts; readiness reports the database
        log.warning("regions.preload_failed", error=repr(exc))


async def get_region_directory(request: Request, session: SessionDep) -> RegionDirectory:
    directory: RegionDirectory | None = getattr(request.app.state, "regions", None)
    if directory is None:  # two concurrent first loads are harmless: both read the same table
        directory = await load_directory(RegionRepository(session))
        request.app.state.regions = directory
    return directory


RegionsDep = Annotated[RegionDirectory, Depends(get_region_directory)]
