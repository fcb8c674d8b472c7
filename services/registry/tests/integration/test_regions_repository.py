"""The region table loaded by migration, and the in-memory directory over it."""

import csv
from importlib.resources import files

import pytest

from fupin_kit.problems import Unprocessable
from fupin_registry.regions.directory import load_directory
from fupin_registry.regions.repository import RegionRepository


def packaged_rows():
    with (
        files("fupin_registry.regions")
        .joinpath("jilin-divisions.csv")
        .open(encoding="utf-8") as handle
    ):
        return list(csv.DictReader(handle))


async def test_migration_loaded_every_division(db_session):
    directory = await load_directory(RegionRepository(db_session))
    rows = packaged_rows()
    assert len(directory) == len(rows) == 13014
    levels = {}
    for row in rows:
        levels[row["level"]] = levels.get(row["level"], 0) + 1
        entry = directory.get(row["code"])
        assert entry is not None and entry.name == row["name"] and entry.level == row["level"]
    assert levels == {"province": 1, "city": 9, "county": 69, "township": 1075, "village": 11860}


async def test_directory_validates_village_codes(db_session):
    directory = await load_directory(RegionRepository(db_session))
    assert directory.is_village("220622100201")
    assert not directory.is_village("220622100")
    assert directory.require_village("220622100201", "#/body/village_code").name == "靖安村"
    with pytest.raises(Unprocessable) as missing:
        directory.require_village("220622100299", "#/body/village_code")
    assert missing.value.errors[0].pointer == "#/body/village_code"
    with pytest.raises(Unprocessable, match="township"):
        directory.require_village("220622100", "#/body/village_code")
    assert len(directory.villages()) == 11860


async def test_children_keyset_and_rural_population(db_session):
    repository = RegionRepository(db_session)
    cities = await repository.children("22", after=None, limit=100)
    assert [c.code for c in cities][:2] == ["2201", "2202"] and len(cities) == 9
    after = await repository.children("22", after="2208", limit=100)
    assert [c.code for c in after] == ["2224"]
    updated = await repository.set_rural_population("220622100201", 1200)
    assert updated is not None and updated.rural_population == 1200
    assert await repository.set_rural_population("229999", 1) is None
