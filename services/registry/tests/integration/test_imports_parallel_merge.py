"""Several chunks of a job merged at once on real connections: same verdicts as one connection,
commits in file order, a failure keeps only the chunks before it, one job at a time.

These tests commit, so they run in a database of their own."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from fupin_kit.auth import Caller
from fupin_kit.db import create_engine
from fupin_kit.testing.database import migrated_database
from fupin_registry.imports import merge
from fupin_registry.imports.pipeline import PreparedChunk
from fupin_registry.imports.repository import (
    MERGE_LOCK,
    ImportRepository,
    listed_in_household_at,
)
from fupin_registry.imports.samples import HouseholdMaker, header
from fupin_registry.imports.service import ImportRunner, create_job
from fupin_registry.privacy import Privacy

SERVICE_DIR = Path(__file__).resolve().parents[2]
VILLAGES = ["220622100001", "220622100005"]
REGISTER = ("households", "members", "household_incomes", "household_versions", "outbox")
ID_AT, RELATION_AT = 23, 26


@pytest.fixture(scope="module")
def own_database_url(database_url: str) -> str:
    with migrated_database(database_url, SERVICE_DIR / "alembic.ini", "merge") as url:
        yield url


@pytest.fixture
async def engine_of_own(own_database_url: str) -> AsyncEngine:
    engine = create_engine(own_database_url, pool_size=6)
    yield engine
    async with engine.begin() as conn:
        await conn.execute(
            text("TRUNCATE import_jobs, import_errors, " + ", ".join(REGISTER) + " CASCADE")
        )
    await engine.dispose()


def households(count: int, seed: int) -> list[list[list[str]]]:
    return list(HouseholdMaker(VILLAGES, seed=seed).households(count))


def share_person(source: list[list[str]], target: list[list[str]]) -> None:
    """Give ``target``'s last member the ID number of ``source``'s first member."""
    target[-1][ID_AT] = source[0][ID_AT]
    if len(target) == 1:
        target[0][RELATION_AT] = "户主"
    elif target[-1][RELATION_AT] == "户主":
        target[-1][RELATION_AT], target[0][RELATION_AT] = "其他", "户主"


def first_row(groups: list[list[list[str]]], index: int) -> int:
    """The file row household ``index`` of ``groups`` begins at (row 1 is the header)."""
    return 2 + sum(len(group) for group in groups[:index])


def csv_file(tmp_path: Path, groups: list[list[list[str]]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header(), *(row for group in groups for row in group)])
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    path.write_bytes(buffer.getvalue().encode("utf-8-sig"))
    return path


async def run_import(
    engine: AsyncEngine, settings, path: Path, *, connections: int, chunk_rows: int, chunks=None
):
    settings = settings.model_copy(
        update={
            "import_workers": 0,
            "import_chunk_rows": chunk_rows,
            "import_merge_connections": connections,
            "import_dir": path.parent / "jobs",
        }
    )
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    # pii:read: the report names the household already holding a person, as these tests check.
    caller = Caller(
        subject="importer",
        roles=frozenset({"officer"}),
        scopes=frozenset({"pii:read"}),
        jurisdiction="220622",
    )
    with path.open("rb") as handle:
        job, config = await create_job(sessionmaker, settings, caller, handle, path.name)

    async def committed(chunk: PreparedChunk) -> None:
        if chunks is not None:
            chunks.append(chunk.number)

    runner = ImportRunner(sessionmaker, settings, Privacy(settings), on_chunk=committed)
    await runner.run(job.id, config, "user:importer")
    async with engine.connect() as conn:
        job_row = (
            (await conn.execute(text("SELECT * FROM import_jobs WHERE id = :id"), {"id": job.id}))
            .one()
            ._mapping
        )
        errors = (
            await conn.execute(
                text(
                    "SELECT row_number, column_name, reason FROM import_errors"
                    " WHERE job_id = :id ORDER BY row_number, id"
                ),
                {"id": job.id},
            )
        ).all()
    return dict(job_row), [tuple(e) for e in errors]


async def register_keys(engine: AsyncEngine) -> set[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT village_code, household_number FROM households"))
        return {tuple(r) for r in rows}


async def register_other_under(
    engine: AsyncEngine, settings, tmp_path: Path, household: list[list[str]], seed: int
) -> None:
    """Another writer's household under ``household``'s village and number, other people."""
    other = [list(row) for row in households(1, seed=seed)[0]]
    for row in other:
        row[0], row[1] = household[0][0], household[0][1]
    assert not {row[ID_AT] for row in other} & {row[ID_AT] for row in household}
    registered, _ = await run_import(
        engine, settings, csv_file(tmp_path, [other]), connections=1, chunk_rows=10
    )
    assert registered["households_created"] == 1


async def holders(engine: AsyncEngine, settings, id_number: str) -> list[tuple[str, str]]:
    """The households (village, number) with a member of this ID number."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT h.village_code, h.household_number FROM members m"
                " JOIN households h ON h.id = m.household_id WHERE m.id_index = :index"
            ),
            {"index": Privacy(settings).index.of(id_number)},
        )
        return [tuple(r) for r in rows]


async def empty_register(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("TRUNCATE import_jobs, import_errors, " + ", ".join(REGISTER) + " CASCADE")
        )


def awkward_file(tmp_path: Path) -> Path:
    """Forty households in chunks of about a dozen rows: a person shared by households several
    chunks apart, another by neighbouring households, a household repeated at the end and a
    row with a wrong check character."""
    groups = households(40, seed=41)
    share_person(groups[0], groups[30])
    share_person(groups[10], groups[11])
    groups[5][0][ID_AT] = groups[5][0][ID_AT][:-1] + (
        "0" if groups[5][0][ID_AT][-1] != "0" else "1"
    )
    groups.append([list(row) for row in groups[2]])
    return csv_file(tmp_path, groups)


async def test_imports_parallel_merge_gives_the_verdicts_of_one_connection(
    engine_of_own, settings, tmp_path
):
    path = awkward_file(tmp_path)
    serial_chunks: list[int] = []
    serial, serial_errors = await run_import(
        engine_of_own, settings, path, connections=1, chunk_rows=12, chunks=serial_chunks
    )
    serial_register = await register_keys(engine_of_own)
    await empty_register(engine_of_own)
    parallel_chunks: list[int] = []
    parallel, parallel_errors = await run_import(
        engine_of_own, settings, path, connections=3, chunk_rows=12, chunks=parallel_chunks
    )
    assert serial["state"] == parallel["state"] == "completed", parallel["failure_reason"]
    counters = (
        "rows_read",
        "rows_valid",
        "rows_rejected",
        "rows_committed",
        "households_created",
        "chunks_committed",
        "error_count",
    )
    assert {c: parallel[c] for c in counters} == {c: serial[c] for c in counters}
    assert parallel["households_created"] == 40 - 3  # wrong check character, two shared people
    assert parallel_errors == serial_errors
    # The person shared by households 0 and 30 is refused in the later one, naming the row the
    # earlier one begins at (2), whether that household was committed or still in flight.
    assert listed_in_household_at(2) in [r for _, _, r in serial_errors]
    assert await register_keys(engine_of_own) == serial_register
    assert parallel_chunks == serial_chunks == list(range(1, parallel["chunks_committed"] + 1))
    assert len(parallel_chunks) > 6


async def test_imports_a_person_of_a_chunk_in_flight_counts_as_registered(
    engine_of_own, settings, tmp_path, monkeypatch
):
    groups = households(12, seed=43)
    share_person(groups[0], groups[9])  # chunk 1 and a later chunk
    path = csv_file(tmp_path, groups)
    classify, add_counts = ImportRepository.classify, ImportRepository.add_counts
    classified: list[int] = []
    duplicate_classified = asyncio.Event()
    first_row_of_duplicate = 2 + sum(len(g) for g in groups[:9])

    async def recording_classify(self, chunk, jurisdiction, pending=None, **options):
        verdicts = await classify(self, chunk, jurisdiction, pending, **options)
        classified.append(chunk.number)
        if first_row_of_duplicate in chunk.member_rows:
            duplicate_classified.set()
        return verdicts

    async def first_commit_waits(self, job_id, **deltas):
        # Chunk 1 commits only once the later chunk has been classified: the shared person is
        # then in flight, not yet in the register.
        await asyncio.wait_for(duplicate_classified.wait(), 30)
        return await add_counts(self, job_id, **deltas)

    monkeypatch.setattr(ImportRepository, "classify", recording_classify)
    monkeypatch.setattr(ImportRepository, "add_counts", first_commit_waits)
    # Enough connections for every chunk up to the later one to be in flight at once.
    job, errors = await run_import(engine_of_own, settings, path, connections=8, chunk_rows=10)
    assert job["state"] == "completed", job["failure_reason"]
    assert sorted(classified) == list(range(1, job["chunks_committed"] + 1))  # none again
    assert groups[9][-1][ID_AT] == groups[0][0][ID_AT] and any(
        r == listed_in_household_at(2) for *_, r in errors
    ), errors
    assert job["households_created"] == 11


async def test_imports_a_chunk_classified_again_lets_later_chunks_decide_again(
    engine_of_own, settings, tmp_path, monkeypatch
):
    groups = households(12, seed=59)
    share_person(groups[0], groups[9])  # chunk 1 and a later chunk
    shared = groups[0][0][ID_AT]
    await register_other_under(engine_of_own, settings, tmp_path, groups[0], seed=61)

    path = csv_file(tmp_path, groups)
    classify, insert = ImportRepository.classify, ImportRepository.insert
    classified: list[int] = []
    later_classified = asyncio.Event()
    later_chunk: list[int] = []
    first_row_of_later = 2 + sum(len(g) for g in groups[:9])

    async def first_misses_the_register(self, chunk, jurisdiction, pending=None, **options):
        # Chunk 1's first classification misses the other writer's household, as if it had
        # been registered between classification and COPY.
        missed = chunk.number == 1 and 1 not in classified
        classified.append(chunk.number)
        verdicts = [] if missed else await classify(self, chunk, jurisdiction, pending, **options)
        if first_row_of_later in chunk.member_rows:
            later_chunk.append(chunk.number)
            later_classified.set()
        return verdicts

    async def first_copy_waits(self, chunk, left_out):
        # Chunk 1 copies (and meets the other writer's row) only once the later chunk has
        # been classified while the shared person still counted as in flight.
        if chunk.number == 1:
            await asyncio.wait_for(later_classified.wait(), 30)
        return await insert(self, chunk, left_out)

    monkeypatch.setattr(ImportRepository, "classify", first_misses_the_register)
    monkeypatch.setattr(ImportRepository, "insert", first_copy_waits)
    job, errors = await run_import(engine_of_own, settings, path, connections=8, chunk_rows=10)
    assert job["state"] == "completed", job["failure_reason"]
    # The first household is the other writer's; the later one, with the shared person whom
    # chunk 1 no longer inserts, is registered, as one connection would have done it.
    assert errors == []
    assert job["households_created"] == 11 and job["households_unchanged"] == 1
    later = later_chunk[0]
    assert later > 1 and later_chunk == [later, later]  # classified again, after chunk 1
    assert sorted(classified) == sorted([1, later, *range(1, job["chunks_committed"] + 1)])
    assert await holders(engine_of_own, settings, shared) == [(groups[9][0][0], groups[9][0][1])]


def first_households_of_chunks(groups: list[list[list[str]]], chunk_rows: int) -> list[int]:
    """The index of the first household of each chunk (a chunk closes at the first household
    that starts after ``chunk_rows`` rows)."""
    firsts, rows = [0], 0
    for position, group in enumerate(groups):
        if rows >= chunk_rows:
            firsts.append(position)
            rows = 0
        rows += len(group)
    return firsts


class Committed(list):
    """Chunk numbers as they commit, with an event per number."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[int, asyncio.Event] = {}

    def event(self, number: int) -> asyncio.Event:
        return self.events.setdefault(number, asyncio.Event())

    def append(self, number: int) -> None:
        super().append(number)
        self.event(number).set()


async def import_with_a_drop(engine, settings, tmp_path, monkeypatch, groups, first: int):
    """Import ``groups`` in chunks of about 10 rows while another writer has registered the
    first household's village and number, in this order: chunk 1's first classification misses
    that household, chunk 2 is classified (with chunk 1's people in flight), chunk 1's COPY
    meets the other writer's row, so chunk 1 is classified again and drops its people; chunk 3
    starts once chunk 1 has committed, and is classified and copies before chunk 2 is
    classified and copies again. Returns the job, its row errors and the classifications per
    chunk."""
    await register_other_under(engine, settings, tmp_path, groups[first], seed=71)
    classify, insert = ImportRepository.classify, ImportRepository.insert
    calls: dict[int, int] = {}
    classified = {n: asyncio.Event() for n in (2, 3)}
    committed = Committed()

    async def ordered(self, chunk, jurisdiction, pending=None, **options):
        calls[chunk.number] = calls.get(chunk.number, 0) + 1
        if chunk.number == 1 and calls[1] == 1:
            return []  # misses the other writer's household: the COPY meets it
        verdicts = await classify(self, chunk, jurisdiction, pending, **options)
        if chunk.number in classified:
            classified[chunk.number].set()
        return verdicts

    copies: dict[int, int] = {}
    third_copied = asyncio.Event()

    async def copies_in_turn(self, chunk, left_out):
        copies[chunk.number] = copies.get(chunk.number, 0) + 1
        if chunk.number == 1:
            await asyncio.wait_for(classified[2].wait(), 30)
        if chunk.number == 2 and copies[2] == 2:
            # Chunk 3 copies first: had it taken someone chunk 2 now inserts, chunk 2 would
            # wait for its row, and chunk 3 for chunk 2's commit.
            await asyncio.wait_for(third_copied.wait(), 30)
        result = await insert(self, chunk, left_out)
        if chunk.number == 3:
            third_copied.set()
        return result

    attempt = merge.ChunkMerger._commit
    attempts: dict[int, int] = {}

    async def in_order(self, repository, chunk, *args):
        attempts[chunk.number] = attempts.get(chunk.number, 0) + 1
        if chunk.number == 3 and attempts[3] == 1:
            await asyncio.wait_for(committed.event(1).wait(), 30)
        if chunk.number == 2 and attempts[2] == 2:
            await asyncio.wait_for(classified[3].wait(), 30)
        return await attempt(self, repository, chunk, *args)

    monkeypatch.setattr(ImportRepository, "classify", ordered)
    monkeypatch.setattr(ImportRepository, "insert", copies_in_turn)
    monkeypatch.setattr(merge.ChunkMerger, "_commit", in_order)
    job, errors = await run_import(
        engine,
        settings.model_copy(update={"import_lock_timeout_seconds": 5}),
        csv_file(tmp_path, groups),
        connections=8,
        chunk_rows=10,
        chunks=committed,
    )
    assert job["state"] == "completed", job["failure_reason"]
    assert committed == list(range(1, job["chunks_committed"] + 1))
    return job, errors, calls


async def test_imports_a_person_dropped_goes_to_the_oldest_chunk_that_wants_it(
    engine_of_own, settings, tmp_path, monkeypatch
):
    groups = households(16, seed=67)
    first, second, third = first_households_of_chunks(groups, 10)[:3]
    share_person(groups[first], groups[second])
    share_person(groups[first], groups[third])
    shared = groups[first][0][ID_AT]
    job, errors, calls = await import_with_a_drop(
        engine_of_own, settings, tmp_path, monkeypatch, groups, first
    )
    # As one connection: the first household is the other writer's, the second takes the
    # shared person, the third is refused for them.
    later_village, later_number = groups[second][0][0], groups[second][0][1]
    assert [reason for *_, reason in errors if reason.startswith("this person")] == [
        listed_in_household_at(first_row(groups, second))
    ]
    assert job["households_created"] == 14 and job["households_unchanged"] == 1
    assert await holders(engine_of_own, settings, shared) == [(later_village, later_number)]
    assert calls[1] == 2 and calls[2] == 2 and calls[3] == 2


async def test_imports_a_chunk_classified_again_leaves_later_chunks_their_people(
    engine_of_own, settings, tmp_path, monkeypatch
):
    groups = households(16, seed=67)
    first, second, third = first_households_of_chunks(groups, 10)[:3]
    assert len(groups[second]) >= 2
    share_person(groups[first], groups[second])  # dropped by chunk 1, refused by chunk 2
    share_person(groups[second], groups[third])  # another of chunk 2's household, in chunk 3
    other = groups[second][0][ID_AT]
    job, errors, _ = await import_with_a_drop(
        engine_of_own, settings, tmp_path, monkeypatch, groups, first
    )
    # Chunk 3 took the other person while chunk 2's household stood refused; classified again,
    # chunk 2 counts them as taken instead of waiting on chunk 3's uncommitted row.
    third_village, third_number = groups[third][0][0], groups[third][0][1]
    assert [reason for *_, reason in errors if reason.startswith("this person")] == [
        listed_in_household_at(first_row(groups, third))
    ]
    assert job["households_created"] == 14 and job["households_unchanged"] == 1
    assert await holders(engine_of_own, settings, other) == [(third_village, third_number)]


async def test_imports_a_failed_chunk_keeps_only_the_chunks_before_it(
    engine_of_own, settings, tmp_path, monkeypatch
):
    groups = households(30, seed=47)
    path = csv_file(tmp_path, groups)
    insert = ImportRepository.insert
    third_copied = asyncio.Event()
    seen: dict[int, list[tuple[str, str]]] = {}

    async def second_fails(self, chunk, left_out):
        seen[chunk.number] = chunk.household_keys
        if chunk.number == 2:
            await asyncio.wait_for(third_copied.wait(), 30)
            raise RuntimeError("the disk is full")
        result = await insert(self, chunk, left_out)
        if chunk.number == 3:
            third_copied.set()
        return result

    monkeypatch.setattr(ImportRepository, "insert", second_fails)
    job, _ = await run_import(engine_of_own, settings, path, connections=3, chunk_rows=12)
    assert job["state"] == "failed"
    assert "RuntimeError" in job["failure_reason"]
    assert job["chunks_committed"] == 1
    assert await register_keys(engine_of_own) == set(seen[1])
    assert job["households_created"] == len(seen[1])


async def test_imports_one_job_merges_at_a_time(engine_of_own, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(merge, "LOCK_POLL_SECONDS", 0.05)
    monkeypatch.setattr(merge, "LOCK_HEARTBEAT_SECONDS", 0.2)
    path = csv_file(tmp_path, households(5, seed=53))
    async with engine_of_own.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MERGE_LOCK})
        await holder.commit()
        job = asyncio.create_task(
            run_import(engine_of_own, settings, path, connections=2, chunk_rows=10)
        )
        waiting = None
        for _ in range(150):  # the job reads the header, then waits for the lock, beating
            await asyncio.sleep(0.1)
            async with engine_of_own.connect() as conn:
                waiting = (
                    await conn.execute(
                        text(
                            "SELECT state, households_created,"
                            " heartbeat_at > started_at + interval '0.5 seconds' FROM import_jobs"
                        )
                    )
                ).one_or_none()
            if waiting is not None and waiting[2]:
                break
        assert waiting is not None
        assert tuple(waiting) == ("running", 0, True)  # waiting, and not taken for interrupted
        assert not job.done()
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MERGE_LOCK})
        await holder.commit()
    finished, _ = await asyncio.wait_for(job, 60)
    assert finished["state"] == "completed" and finished["households_created"] == 5


async def test_imports_an_unreadable_file_fails_at_once_while_another_job_merges(
    engine_of_own, settings, tmp_path
):
    path = tmp_path / "wrong-header.csv"
    path.write_bytes("村代码,户号,姓名\n220622100001,0001,张三\n".encode())
    async with engine_of_own.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MERGE_LOCK})
        await holder.commit()
        try:
            # The other job still holds the register's import lock: the header is read first.
            job, _ = await asyncio.wait_for(
                run_import(engine_of_own, settings, path, connections=2, chunk_rows=10), 30
            )
        finally:
            await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MERGE_LOCK})
            await holder.commit()
    assert job["state"] == "failed"
    assert job["failure_reason"].startswith("missing required columns: ")
    assert job["chunks_committed"] == 0


async def test_imports_one_connection_sessionmaker_merges_one_chunk_at_a_time(engine):
    async with engine.connect() as connection:
        shared = async_sessionmaker(bind=connection)
        assert merge.concurrency(shared, 4) == 1
    assert merge.concurrency(async_sessionmaker(engine), 4) == 4
