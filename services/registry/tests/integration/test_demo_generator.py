"""The demo generator against its own freshly migrated database."""

import asyncio
import json
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from fupin_events.values import birth_date_of, sex_of, validate_resident_id
from fupin_kit.testing.database import upgrade
from fupin_registry import demo
from fupin_registry.config import Settings
from fupin_registry.households.domain import per_capita_net_income
from fupin_registry.privacy import Privacy

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


@contextmanager
def scratch_database():
    """A migrated database of its own (the demo commits). Dropped without FORCE, retrying: a
    plain DROP DATABASE waits out an autovacuum worker, FORCE would need pg_signal_backend."""
    base = make_url(Settings().database_url)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{base.database}_demo_{uuid.uuid4().hex[:8]}"

    async def execute(statement):
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(ALEMBIC_INI, url)
        yield url
    finally:
        for attempt in range(10):
            try:
                asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}"'))
                break
            except asyncpg.ObjectInUseError:
                time.sleep(0.5 * (attempt + 1))


@pytest.fixture(scope="module")
def demo_database():
    with scratch_database() as url:
        assert (
            demo.main(
                ["--households", "400", "--seed", "7", "--database-url", url, "--max-events", "300"]
            )
            == 0
        )
        yield url


def fetch(url, query, *args):
    async def run():
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_households_members_and_valid_ids(demo_database):
    privacy = Privacy(Settings())
    households = fetch(
        demo_database, "SELECT id, village_code, status, attribute, registered_on FROM households"
    )
    assert len(households) == 400
    statuses = {h["status"] for h in households}
    assert (
        {"identified", "exited"}
        <= statuses
        <= {"identified", "exited", "returned", "removed", "natural_decrease"}
    )
    assert len({h["village_code"][:6] for h in households}) >= 10  # spread across counties
    village_of = {h["id"]: h["village_code"] for h in households}
    members = fetch(
        demo_database,
        "SELECT household_id, id_index, id_number_enc, sex, birth_date, relation, active"
        " FROM members",
    )
    sizes = defaultdict(int)
    seen = set()
    for m in members:
        id_number = privacy.open(m["id_number_enc"], "id_number")
        assert validate_resident_id(id_number) == id_number
        assert id_number[:6] == village_of[m["household_id"]][:6]
        assert birth_date_of(id_number) == m["birth_date"] and sex_of(id_number) == m["sex"]
        assert privacy.index.of(id_number) == m["id_index"]
        assert id_number not in seen
        seen.add(id_number)
        sizes[m["household_id"]] += 1
    assert set(sizes.values()) <= set(range(1, 7)) and len(set(sizes.values())) >= 4
    heads = fetch(demo_database, "SELECT household_id FROM members WHERE relation = 'head'")
    assert len(heads) == 400 and len({h["household_id"] for h in heads}) == 400
    closed = fetch(
        demo_database,
        "SELECT count(*) AS n FROM members m JOIN households h ON h.id = m.household_id"
        " WHERE h.status IN ('removed', 'natural_decrease') AND m.active",
    )
    assert closed[0]["n"] == 0


def test_history_is_continuous_and_readable_as_of(demo_database):
    versions = fetch(
        demo_database,
        "SELECT household_id, version, status, valid_from, valid_to FROM household_versions"
        " ORDER BY household_id, version",
    )
    by_household = defaultdict(list)
    for v in versions:
        by_household[v["household_id"]].append(v)
    assert len(by_household) == 400
    for chain in by_household.values():
        assert chain[0]["status"] == "applied" and chain[1]["status"] == "identified"
        assert [v["version"] for v in chain] == list(range(1, len(chain) + 1))
        for earlier, later in zip(chain, chain[1:], strict=False):
            assert earlier["valid_to"] == later["valid_from"] > earlier["valid_from"]
        assert chain[-1]["valid_to"] is None
    end_2014 = fetch(
        demo_database,
        "SELECT status, count(*) AS n FROM household_versions WHERE valid_from < '2015-01-01'"
        " AND (valid_to IS NULL OR valid_to >= '2015-01-01') GROUP BY status",
    )
    assert {r["status"] for r in end_2014} <= {"applied", "identified"}


def test_exited_households_are_above_the_line_and_quotas_hold(demo_database):
    lines = Settings().poverty_lines
    exited = fetch(demo_database, "SELECT id, exited_on FROM households WHERE status = 'exited'")
    assert exited
    for household in exited[:50]:
        year = household["exited_on"].year
        incomes = fetch(
            demo_database,
            "SELECT source, amount FROM household_incomes WHERE household_id = $1 AND year = $2",
            household["id"],
            year,
        )
        size = fetch(
            demo_database,
            "SELECT count(*) AS n FROM members WHERE household_id = $1",
            household["id"],
        )[0]["n"]
        assert (
            per_capita_net_income({r["source"]: Decimal(r["amount"]) for r in incomes}, size)
            > lines[year]
        )
    quotas = {
        (q["region_code"], q["year"]): q["quota"]
        for q in fetch(demo_database, "SELECT region_code, year, quota FROM quotas")
    }
    for (region, year), quota in quotas.items():
        children = sum(
            q
            for (r, y), q in quotas.items()
            if y == year
            and len(r) > len(region)
            and r.startswith(region)
            and len(r) == {2: 4, 4: 6}.get(len(region))
        )
        assert children <= quota
        if len(region) == 6:
            used = fetch(
                demo_database,
                "SELECT count(*) AS n FROM members m JOIN households h ON h.id = m.household_id"
                " WHERE h.village_code LIKE $1 || '%' AND h.year = $2",
                region,
                year,
            )[0]["n"]
            assert used <= quota
    events = fetch(
        demo_database, "SELECT event_type, count(*) AS n FROM outbox GROUP BY event_type"
    )
    counts = {e["event_type"]: e["n"] for e in events}
    assert counts["fupin.registry.household.registered.v1"] == 300  # capped by --max-events
    assert counts["fupin.registry.quota.set.v1"] == len(quotas)


def test_demo_events_tell_the_same_story_as_history(demo_database):
    """Each household with events: registered as an applicant, then one status change per
    status_changed version, ending in the household's current status."""
    rows = fetch(
        demo_database,
        "SELECT o.key, array_agg(o.payload->'data' ORDER BY o.id) AS events, h.status,"
        "       (SELECT count(*) FROM household_versions v"
        "         WHERE v.household_id = h.id AND v.action = 'status_changed') AS steps"
        "  FROM outbox o JOIN households h ON h.id::text = o.key"
        " WHERE o.event_type LIKE 'fupin.registry.household.%'"
        " GROUP BY o.key, h.id, h.status",
    )
    assert len(rows) == 300
    for row in rows:
        events = [json.loads(e) if isinstance(e, str) else e for e in row["events"]]
        assert events[0]["status"] == "applied" and events[0]["registered_on"] is None
        changes = events[1:]
        assert len(changes) == row["steps"] >= 1
        assert changes[0]["from_status"] == "applied"
        for before, after in zip(changes, changes[1:], strict=False):
            assert after["from_status"] == before["to_status"]
        assert changes[-1]["to_status"] == row["status"]


def test_rural_population_sums_up_the_tree(demo_database):
    regions = {
        r["code"]: r["rural_population"]
        for r in fetch(demo_database, "SELECT code, rural_population FROM regions")
    }
    villages = {c: p for c, p in regions.items() if len(c) == 12 and p is not None}
    assert len(villages) > 9000
    for county in ("220622", "220581"):
        assert regions[county] == sum(p for c, p in villages.items() if c.startswith(county))
    assert 8_000_000 < regions["22"] < 20_000_000


def test_a_second_run_writes_nothing(demo_database, capsys):
    before = fetch(demo_database, "SELECT count(*) AS n FROM households")[0]["n"]
    assert demo.main(["--households", "10", "--database-url", demo_database]) == 0
    assert "already present" in capsys.readouterr().out
    assert fetch(demo_database, "SELECT count(*) AS n FROM households")[0]["n"] == before
    assert date.today().year >= 2016
