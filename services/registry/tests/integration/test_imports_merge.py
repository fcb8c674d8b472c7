"""The chunked COPY + merge against real PostgreSQL: idempotency, whole households, bounds."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fupin_events.envelope import decode
from fupin_events.registry import HouseholdRegistered
from fupin_kit.auth import Caller
from fupin_registry.households import events as household_events
from fupin_registry.households.models import Household, HouseholdVersion
from fupin_registry.households.repository import HouseholdRepository
from fupin_registry.households.snapshot import snapshot_of
from fupin_registry.imports.pipeline import PreparedChunk
from fupin_registry.imports.repository import ImportRepository, listed_in_household_at
from fupin_registry.imports.samples import HouseholdMaker, header
from fupin_registry.imports.service import ImportRunner, create_job
from fupin_registry.privacy import Privacy

VILLAGES = ["220622100001", "220622100005"]
ACTOR = "user:importer"


@pytest.fixture
async def sessionmaker(engine):
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield async_sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        await transaction.rollback()


def csv_file(tmp_path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *rows])
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return path


async def import_file(
    sessionmaker, settings, path: Path, *, chunk_rows: int = 10_000, chunks=None, workers: int = 0
):
    settings = settings.model_copy(
        update={
            "import_workers": workers,
            "import_chunk_rows": chunk_rows,
            "import_dir": path.parent / "jobs",
        }
    )
    # pii:read: the report names the household already holding a person, as these tests check.
    caller = Caller(
        subject="importer",
        roles=frozenset({"officer"}),
        scopes=frozenset({"pii:read"}),
        jurisdiction="220622",
    )
    with path.open("rb") as handle:
        job, config = await create_job(sessionmaker, settings, caller, handle, path.name)

    async def record(chunk: PreparedChunk) -> None:
        if chunks is not None:
            chunks.append(chunk)

    await ImportRunner(sessionmaker, settings, Privacy(settings), on_chunk=record).run(
        job.id, config, ACTOR
    )
    async with sessionmaker() as session:
        row = (
            await session.execute(text("SELECT * FROM import_jobs WHERE id = :id"), {"id": job.id})
        ).one()
        return row._mapping


async def count(sessionmaker, sql: str, **params) -> int:
    async with sessionmaker() as session:
        return int((await session.execute(text(sql), params)).scalar_one())


def rows_of(households: int, seed: int) -> list[list[str]]:
    return [row for h in HouseholdMaker(VILLAGES, seed=seed).households(households) for row in h]


async def test_imports_merge_twice_creates_nothing_new(sessionmaker, settings, tmp_path):
    path = csv_file(tmp_path, rows_of(30, seed=21))
    tables = ("households", "members", "household_incomes", "household_versions", "outbox")
    first = await import_file(sessionmaker, settings, path, chunk_rows=25)
    assert first["state"] == "completed", first["failure_reason"]
    assert first["households_created"] == 30
    before = {t: await count(sessionmaker, f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608
    second = await import_file(sessionmaker, settings, path, chunk_rows=25)
    after = {t: await count(sessionmaker, f"SELECT count(*) FROM {t}") for t in tables}  # noqa: S608
    assert after == before
    assert second["households_unchanged"] == 30
    assert second["rows_unchanged"] == first["rows_committed"]


async def test_imports_chunk_registered_meanwhile_is_classified_again(
    sessionmaker, settings, tmp_path, monkeypatch
):
    path = csv_file(tmp_path, rows_of(8, seed=29))
    first = await import_file(sessionmaker, settings, path)
    assert first["households_created"] == 8
    classify = ImportRepository.classify
    calls = []

    async def stale_once(self, chunk, jurisdiction, pending=None, **options):
        # The first classification misses what is registered, as if another writer committed
        # the households between classification and COPY: the COPY's unique violation must
        # roll the chunk back and classify it again.
        calls.append(chunk.number)
        return (
            [] if len(calls) == 1 else await classify(self, chunk, jurisdiction, pending, **options)
        )

    monkeypatch.setattr(ImportRepository, "classify", stale_once)
    second = await import_file(sessionmaker, settings, path)
    assert calls == [1, 1]
    assert second["state"] == "completed", second["failure_reason"]
    assert second["households_created"] == 0 and second["households_unchanged"] == 8
    assert (
        await count(
            sessionmaker, "SELECT count(*) FROM households WHERE village_code = ANY(:v)", v=VILLAGES
        )
        == 8
    )


async def test_imports_two_parser_processes_commit_in_file_order(sessionmaker, settings, tmp_path):
    rows = rows_of(40, seed=27)
    rows.append(list(rows[0]))  # the first household again at the end: rejected, reported
    chunks: list[PreparedChunk] = []
    job = await import_file(
        sessionmaker, settings, csv_file(tmp_path, rows), chunk_rows=12, chunks=chunks, workers=2
    )
    assert job["state"] == "completed", job["failure_reason"]
    assert [c.number for c in chunks] == list(range(1, len(chunks) + 1))
    assert job["chunks_committed"] == len(chunks) > 3
    assert job["households_created"] == 40
    assert job["rows_committed"] == len(rows) - 1 and job["rows_rejected"] == 1
    async with sessionmaker() as session:
        reasons = (
            (
                await session.execute(
                    text("SELECT reason FROM import_errors WHERE job_id = :j"), {"j": job["id"]}
                )
            )
            .scalars()
            .all()
        )
        actors = (
            (
                await session.execute(
                    text(
                        "SELECT DISTINCT v.actor FROM household_versions v"
                        " JOIN households h ON h.id = v.household_id WHERE h.village_code = ANY(:v)"
                    ),
                    {"v": VILLAGES},
                )
            )
            .scalars()
            .all()
        )
    assert len(reasons) == 1 and "appeared earlier in the file" in reasons[0]
    assert actors == [ACTOR]


async def test_imports_snapshots_and_payloads_use_lz4_where_the_server_has_it(
    sessionmaker, settings, tmp_path, requires_lz4
):
    rows = rows_of(20, seed=28)
    await import_file(sessionmaker, settings, csv_file(tmp_path, rows))
    async with sessionmaker() as session:
        methods = (
            (
                await session.execute(
                    text(
                        "SELECT DISTINCT pg_column_compression(v.snapshot)"
                        " FROM household_versions v JOIN households h ON h.id = v.household_id"
                        " WHERE h.village_code = ANY(:v)"
                        " AND pg_column_compression(v.snapshot) IS NOT NULL"
                    ),
                    {"v": VILLAGES},
                )
            )
            .scalars()
            .all()
        )
        declared = (
            (
                await session.execute(
                    text(
                        "SELECT attcompression::text FROM pg_attribute"
                        " WHERE (attrelid, attname) IN"
                        " (('household_versions'::regclass, 'snapshot'),"
                        " ('outbox'::regclass, 'payload'))"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert declared == ["l", "l"]
    # Snapshots above the TOAST threshold (about 2 KB: households of several members) are
    # compressed, with lz4; smaller ones are stored as they are.
    assert methods == ["lz4"]


async def test_imports_chunks_are_bounded_and_never_split_a_household(
    sessionmaker, settings, tmp_path
):
    path = csv_file(tmp_path, rows_of(40, seed=22))
    chunks: list[PreparedChunk] = []
    job = await import_file(sessionmaker, settings, path, chunk_rows=12, chunks=chunks)
    assert job["chunks_committed"] == len(chunks) > 3
    seen: set[str] = set()
    for chunk in chunks:
        # A chunk closes at the first household boundary at or after the limit (≤ 6 members).
        assert chunk.rows_valid + chunk.rows_rejected <= 12 + 6
        lines = chunk.copies["households"].decode().splitlines()
        numbers = {line.split("\t")[2] for line in lines}
        assert len(numbers) == len(lines) == len(chunk.household_ids)
        assert not numbers & seen
        seen |= numbers
    assert len(seen) == 40


async def test_imports_snapshot_and_event_match_the_household_code(
    sessionmaker, settings, tmp_path
):
    path = csv_file(tmp_path, rows_of(3, seed=23))
    await import_file(sessionmaker, settings, path)
    async with sessionmaker() as session:
        households = (
            (
                await session.execute(
                    select(Household)
                    .where(Household.village_code.in_(VILLAGES))
                    .order_by(Household.household_number)
                )
            )
            .scalars()
            .all()
        )
        assert len(households) == 3
        repository = HouseholdRepository(session)
        for household in households:
            version = (
                await session.execute(
                    select(HouseholdVersion).where(HouseholdVersion.household_id == household.id)
                )
            ).scalar_one()
            expected = snapshot_of(
                household,
                await repository.members(household.id),
                await repository.incomes(household.id),
                await repository.measures(household.id),
            )
            assert version.snapshot == expected
            assert version.action == "imported" and version.actor == ACTOR
            payload = (
                await session.execute(
                    text("SELECT payload FROM outbox WHERE key = :k"), {"k": str(household.id)}
                )
            ).scalar_one()
            event = decode(__import__("json").dumps(payload))
            assert isinstance(event.data, HouseholdRegistered)
            assert event.data.member_count == len(expected["members"])
            assert event.data.member_indexes == [m["id_index"] for m in expected["members"]]


async def test_imports_an_exited_household_is_registered_with_its_exit_day_as_the_api_would(
    sessionmaker, settings, tmp_path
):
    """An import's HouseholdRegistered is what the register's own code sends for the household,
    its exit day included (other services date the exit's transition period from it)."""
    rows = rows_of(1, seed=26)
    names = header()
    for row in rows:
        row[names.index("贫困户状态")] = "已脱贫"
        row[names.index("识别年度")] = "2018"
        row[names.index("登记日期")] = "2018-03-01"
        row[names.index("脱贫日期")] = "2020-06-30"
    job = await import_file(sessionmaker, settings, csv_file(tmp_path, rows))
    assert job["households_created"] == 1, job
    async with sessionmaker() as session:
        household = (
            await session.execute(select(Household).where(Household.household_number == rows[0][1]))
        ).scalar_one()
        payload = (
            await session.execute(
                text("SELECT payload FROM outbox WHERE key = :k"), {"k": str(household.id)}
            )
        ).scalar_one()
        members = await HouseholdRepository(session).members(household.id)
    event = decode(__import__("json").dumps(payload))
    assert isinstance(event.data, HouseholdRegistered)
    assert (str(event.data.registered_on), str(event.data.exited_on)) == (
        "2018-03-01",
        "2020-06-30",
    )
    assert event.data == household_events.registered(household, members)


@pytest.mark.parametrize("chunk_rows", [10_000, 1], ids=["one chunk", "a chunk each"])
async def test_imports_person_in_two_households_rejects_the_later_household(
    sessionmaker, settings, tmp_path, chunk_rows
):
    """The later household is refused, naming the row the earlier one begins at, whether the
    two are in one chunk or the earlier one was committed by an earlier chunk of the job."""
    rows = rows_of(3, seed=24)
    numbers = sorted({r[1] for r in rows})
    first_id = next(r[23] for r in rows if r[1] == numbers[0])
    last_rows = [r for r in rows if r[1] == numbers[2]]
    last_rows[-1][23] = first_id
    if last_rows[-1][26] == "户主":
        last_rows[-1][26] = "其他"
        last_rows[0][26] = "户主" if len(last_rows) > 1 else "户主"
    job = await import_file(sessionmaker, settings, csv_file(tmp_path, rows), chunk_rows=chunk_rows)
    assert job["households_created"] == 2
    assert job["rows_rejected"] == len(last_rows)
    first_row = 2 + next(i for i, r in enumerate(rows) if r[1] == numbers[0])
    async with sessionmaker() as session:
        reasons = (
            (
                await session.execute(
                    text("SELECT reason FROM import_errors WHERE job_id = :j"), {"j": job["id"]}
                )
            )
            .scalars()
            .all()
        )
        # Each household records the job and the row it began at.
        origins = (
            await session.execute(
                text(
                    "SELECT household_number, import_job_id, import_row FROM households"
                    " WHERE village_code = ANY(:villages)"
                ),
                {"villages": VILLAGES},
            )
        ).all()
    assert listed_in_household_at(first_row) in reasons, reasons
    assert sorted(origins) == [
        (number, job["id"], 2 + next(i for i, r in enumerate(rows) if r[1] == number))
        for number in numbers[:2]
    ]


@pytest.mark.parametrize("chunk_rows", [10_000, 1], ids=["one chunk", "a chunk each"])
async def test_imports_a_household_left_out_holds_no_one_wherever_the_chunks_begin(
    sessionmaker, settings, tmp_path, chunk_rows
):
    """A household the import refuses holds none of its people: a later household of the file
    listing one of them is imported, whether the two share a chunk or not."""
    groups: dict[str, list[list[str]]] = {}
    for row in rows_of(12, seed=27):
        groups.setdefault(row[1], []).append(list(row))
    registered, refused, later = [g for g in groups.values() if len(g) >= 2][:3]
    first = await import_file(sessionmaker, settings, csv_file(tmp_path, registered))
    assert first["households_created"] == 1
    # The refused household lists a person of the registered one (not as its head) ...
    refused[-1][23] = registered[0][23]
    refused[-1][26] = "其他"
    # ... and the later household lists the refused household's head (not as its head).
    later[-1][23] = refused[0][23]
    later[-1][26] = "其他"
    job = await import_file(
        sessionmaker, settings, csv_file(tmp_path, refused + later), chunk_rows=chunk_rows
    )
    assert (job["households_created"], job["rows_rejected"]) == (1, len(refused)), dict(job)


async def test_imports_member_already_registered_elsewhere(sessionmaker, settings, tmp_path):
    rows = rows_of(2, seed=25)
    await import_file(
        sessionmaker,
        settings,
        csv_file(
            tmp_path,
            rows[:1] if rows[0][1] != rows[1][1] else [r for r in rows if r[1] == rows[0][1]],
        ),
    )
    moved = [list(r) for r in rows if r[1] != rows[0][1]]
    taken_id = rows[0][23]
    moved[-1][23] = taken_id
    if len(moved) == 1:
        moved[0][26] = "户主"
    elif moved[-1][26] == "户主":
        moved[-1][26], moved[0][26] = "其他", "户主"
    job = await import_file(sessionmaker, settings, csv_file(tmp_path, moved))
    assert job["households_created"] == 0
    assert job["rows_rejected"] == len(moved)
    async with sessionmaker() as session:
        reasons = (
            (
                await session.execute(
                    text("SELECT reason FROM import_errors WHERE job_id = :j"), {"j": job["id"]}
                )
            )
            .scalars()
            .all()
        )
    assert any(r.startswith("member already registered in household 220622") for r in reasons), (
        reasons
    )


async def test_imports_error_values_are_encrypted_at_rest(sessionmaker, settings, tmp_path):
    rows = rows_of(1, seed=26)
    wrong = rows[0][23][:17] + ("1" if rows[0][23][17] != "1" else "2")
    rows[0][23] = wrong
    job = await import_file(sessionmaker, settings, csv_file(tmp_path, rows))
    async with sessionmaker() as session:
        stored = (
            await session.execute(
                text(
                    "SELECT value_enc FROM import_errors"
                    " WHERE job_id = :j AND column_name = '证件号码'"
                ),
                {"j": job["id"]},
            )
        ).scalar_one()
    assert wrong.encode() not in bytes(stored)
    assert Privacy(settings).open(bytes(stored), "import_error_value") == wrong


__all__ = ["AsyncSession"]
