"""Import benchmark: 1,000,000 member rows (.csv and .xlsx) through the real import path.

For each format: a fresh Alembic-migrated registry database, then the import job exactly as
``POST /v1/imports`` runs it (sniff, parse, validate, encrypt, blind-index, COPY to staging,
set-based merge into households/members/incomes/history/outbox, per-chunk commits). Then, in
the same run and database, the raw limit: PostgreSQL ``COPY`` (binary) of the very rows the
import wrote into the same (emptied) tables. Prints rows/s, the ratio and peak RSS; writes
bench/results/import.json.

    uv run python bench/import_bench.py                 # 1,000,000 rows, csv and xlsx
    uv run python bench/import_bench.py --rows 20000    # a quick run

Input files are generated once into ~/.cache/fupin-bench (xlsxwriter, constant_memory).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import xlsxwriter
from sqlalchemy.engine import make_url

from fupin_kit.auth import Caller
from fupin_kit.db import create_engine, create_sessionmaker
from fupin_kit.testing.database import upgrade
from fupin_registry.config import (
    Settings,
    default_import_merge_connections,
    default_import_workers,
)
from fupin_registry.imports.samples import HouseholdMaker, header
from fupin_registry.imports.service import ImportRunner, create_job
from fupin_registry.privacy import Privacy

ROOT = Path(__file__).resolve().parents[1]
ALEMBIC_INI = ROOT / "services" / "registry" / "alembic.ini"
DIVISIONS = (
    ROOT / "services" / "registry" / "src" / "fupin_registry" / "regions" / "jilin-divisions.csv"
)
TABLES = ("households", "members", "household_incomes", "household_versions", "outbox")
RESULTS = ROOT / "bench" / "results" / "import.json"
SUPERUSER_PSQL = ROOT / "deploy" / "local" / "postgres"
TICKS = os.sysconf("SC_CLK_TCK")


def villages() -> list[str]:
    with DIVISIONS.open(encoding="utf-8") as handle:
        return [row["code"] for row in csv.DictReader(handle) if row["level"] == "village"]


def rows(count: int):
    maker = HouseholdMaker(villages(), seed=2015)
    produced = 0
    for household in maker.households(count):  # more than enough households
        for row in household:
            yield row
            produced += 1
        if produced >= count:
            return


def generate(count: int, cache: Path, formats: list[str]) -> dict[str, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    paths = {"csv": cache / f"import-{count}.csv", "xlsx": cache / f"import-{count}.xlsx"}
    if "csv" in formats and not paths["csv"].exists():
        print(f"generating {paths['csv']} ...", flush=True)
        tmp = paths["csv"].with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header())
            writer.writerows(rows(count))
        tmp.rename(paths["csv"])
    if "xlsx" in formats and not paths["xlsx"].exists():
        print(f"generating {paths['xlsx']} (xlsxwriter, constant_memory) ...", flush=True)
        tmp = paths["xlsx"].with_suffix(".tmp.xlsx")
        book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
        sheet = book.add_worksheet("贫困户信息")
        sheet.write_row(0, 0, header())
        for number, row in enumerate(rows(count), start=1):
            for column, value in enumerate(row):
                if value:
                    sheet.write_string(number, column, value)
        book.close()
        tmp.rename(paths["xlsx"])
    return paths


def peak_mib() -> tuple[float, float]:
    """Peak RSS of this process and of its largest (reaped) child process, in MiB.

    ``ru_maxrss`` survives ``exec``: a process started from a large one would report its
    parent's size at the fork, so this process's own figure is the kernel's high-water mark of
    its memory map (``VmHWM``) where /proc has it.
    """
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = int(line.split()[1]) / 1024
    except OSError:
        pass
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def own_cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def backend_cpu_seconds(pids: list[int]) -> float | None:
    """CPU seconds of PostgreSQL backends by pid (/proc: the server runs on this machine)."""
    total = 0.0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    except (OSError, IndexError, ValueError):
        return None
    return total


async def run_import(url: str, path: Path, workers: int, merges: int) -> dict[str, float]:
    settings = Settings(
        database_url=url,
        import_workers=workers,
        import_merge_connections=merges,
        run_relay=False,
        run_consumers=False,
        import_dir=path.parent / "jobs",
        environment="test",
    )
    engine = create_engine(url, pool_size=merges + 2)  # the chunks', the lock's, the job's
    sessionmaker = create_sessionmaker(engine)
    caller = Caller(subject="bench", roles=frozenset({"officer"}), jurisdiction="22")
    started = time.perf_counter()
    own_cpu_before, _ = own_cpu_seconds()
    with path.open("rb") as handle:
        # create_job copies the upload to the job's place, as the API does.
        job, config = await create_job(sessionmaker, settings, caller, handle, path.name)
    await ImportRunner(sessionmaker, settings, Privacy(settings)).run(job.id, config, caller.actor)
    elapsed = time.perf_counter() - started
    own_cpu = own_cpu_seconds()[0] - own_cpu_before
    conn = await asyncpg.connect(settings.asyncpg_dsn)
    state = dict(await conn.fetchrow("SELECT * FROM import_jobs WHERE id = $1", job.id))
    # The import's backends (the pool's connections) are still open: read their CPU time.
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    server_cpu = backend_cpu_seconds([r["pid"] for r in pids])
    await conn.close()
    await engine.dispose()
    if state["state"] != "completed" or state["rows_rejected"]:
        sys.exit(
            f"import did not complete cleanly: {state['state']} {state['failure_reason']}"
            f" rejected={state['rows_rejected']}"
        )
    return {
        "seconds": elapsed,
        "rows": state["rows_committed"],
        "households": state["households_created"],
        "server_cpu_seconds": server_cpu,
        "merge_process_cpu_seconds": own_cpu,
    }


async def raw_copy(url: str) -> tuple[float, float | None]:
    """COPY (binary) the rows the import wrote back into the same, emptied tables; returns the
    seconds and the server CPU seconds of the COPY statements."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    backend = [await conn.fetchval("SELECT pg_backend_pid()")]
    server_cpu: float | None = 0.0
    # The dumps go to temporary files: a million members' rows are over a GiB.
    dumps = {table: tempfile.TemporaryFile() for table in TABLES}
    for table in TABLES:
        await conn.copy_from_table(table, output=dumps[table], format="binary")
        dumps[table].seek(0)
    await conn.execute("TRUNCATE " + ", ".join(TABLES) + " CASCADE")
    per_table = {}
    for table in TABLES:
        cpu_before = backend_cpu_seconds(backend)
        began = time.perf_counter()
        await conn.copy_to_table(table, source=dumps[table], format="binary")
        dumps[table].close()
        per_table[table] = round(time.perf_counter() - began, 2)
        cpu_after = backend_cpu_seconds(backend)
        if server_cpu is not None and cpu_before is not None and cpu_after is not None:
            server_cpu += cpu_after - cpu_before
        else:
            server_cpu = None
        # Fresh statistics (untimed) before the next table's foreign-key checks are planned:
        # statistics of the emptied table would make every check a sequential scan.
        await conn.execute(f"ANALYZE {table}")
    await conn.close()
    print(f"      raw COPY seconds per table: {per_table}", flush=True)
    return sum(per_table.values()), server_cpu


def reproduce_command(
    script: str, parser: argparse.ArgumentParser, args: argparse.Namespace, options: list[str]
) -> str:
    """The command that runs ``script`` again with these ``options`` where they differ from
    their defaults."""
    return f"uv run python {script}" + "".join(
        f" --{name} {getattr(args, name)}"
        for name in options
        if getattr(args, name) != parser.get_default(name)
    )


def write_results(path: Path, summary: dict, extra: tuple[str, ...] = ()) -> None:
    """Write ``summary`` to ``path`` and print its headline fields (and ``extra``) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    fields = ("metric", "value", "unit", "baseline", "ratio", "cores", *extra)
    print(json.dumps({k: summary[k] for k in fields}))


def bench_on_path() -> str:
    """PYTHONPATH for a ``-c`` process that imports the benchmark modules."""
    return os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))


def import_in_own_process(url: str, path: Path, workers: int, merges: int) -> dict[str, float]:
    """Run the import in a fresh process, so that its peak RSS is the import's alone.

    The process runs ``-c``, not this file: parser processes are spawned, and a spawned process
    imports the main module again (this one would cost each of them seconds of start that the
    registry's processes, started under uvicorn, do not pay)."""
    spec = json.dumps([url, str(path), workers, merges])
    completed = subprocess.run(
        [sys.executable, "-c", f"import import_bench; import_bench.one({spec!r})"],
        env={**os.environ, "PYTHONPATH": bench_on_path()},
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def one(spec: str) -> None:
    url, path, workers, merges = json.loads(spec)
    result = asyncio.run(run_import(url, Path(path), workers, merges))
    own, children = peak_mib()
    _, children_cpu = own_cpu_seconds()  # the parser process has been joined
    print(
        json.dumps(
            {
                **result,
                "peak_rss_mib": own,
                "peak_rss_children_mib": children,
                "parser_process_cpu_seconds": children_cpu,
            }
        )
    )


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(base_url: str) -> tuple[str, str, str]:
    """A fresh Alembic-migrated database; returns its URL, its name and the admin DSN."""
    parsed = make_url(base_url)
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{parsed.database or 'registry'}_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    url = parsed.set(database=name).render_as_string(hide_password=False)
    upgrade(ALEMBIC_INI, url)
    return url, name, admin


def drop_database(name: str, admin: str, wait_seconds: float = 30.0) -> None:
    """Drop the benchmark database, even while autovacuum works on the freshly loaded tables.

    The benchmark's own connections are closed by now. ``DROP DATABASE … WITH (FORCE)`` cannot
    end an autovacuum worker for a role that is not a superuser ("must be a member of the role
    whose process is being terminated"), so: retry as the database's owner while the worker
    finishes, then drop as the local cluster's superuser (``deploy/local/postgres psql``).
    """
    sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            asyncio.run(_admin(admin, sql))
            return
        except (asyncpg.ObjectInUseError, asyncpg.InsufficientPrivilegeError) as exc:
            if time.monotonic() >= deadline:
                last = exc
                break
            time.sleep(1)
    if SUPERUSER_PSQL.exists():
        done = subprocess.run(
            [str(SUPERUSER_PSQL), "psql", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return
        last = RuntimeError(done.stderr.strip() or f"exit status {done.returncode}")
    print(f"      could not drop the benchmark database {name}: {last}", flush=True)


def main() -> None:
    if os.environ.get("BENCH_TRACE"):
        import faulthandler

        faulthandler.dump_traceback_later(float(os.environ["BENCH_TRACE"]), exit=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument(
        "--workers",
        type=int,
        default=default_import_workers(),
        help="import_workers (0: a thread; default: the registry's for this machine)",
    )
    parser.add_argument(
        "--merges",
        type=int,
        default=default_import_merge_connections(),
        help="import_merge_connections (chunks merged at once)",
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fupin-bench")
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    paths = generate(args.rows, args.cache, args.formats.split(","))
    if args.generate_only:
        return
    base_url = os.environ.get("REGISTRY_DATABASE_URL") or Settings().database_url
    results = {}
    for kind in args.formats.split(","):
        url, name, admin = create_database(base_url)
        try:
            imported = import_in_own_process(url, paths[kind], args.workers, args.merges)
            own, children = imported["peak_rss_mib"], imported["peak_rss_children_mib"]
            print(
                f"{kind:5} import {imported['rows'] / imported['seconds']:>9,.0f} member rows/s"
                f" ({imported['rows']:,} rows in {imported['seconds']:.1f} s)",
                flush=True,
            )
            copy_seconds, copy_cpu = asyncio.run(raw_copy(url))
        finally:
            drop_database(name, admin)
        rate = imported["rows"] / imported["seconds"]
        baseline = imported["rows"] / copy_seconds
        rows = imported["rows"]

        def per_row(seconds: float | None, rows: float = rows) -> float | None:
            return None if seconds is None else round(seconds / rows * 1e6, 1)

        cpu = {
            "parser_process": per_row(imported["parser_process_cpu_seconds"]),
            "merge_process": per_row(imported["merge_process_cpu_seconds"]),
            "server": per_row(imported["server_cpu_seconds"]),
            "raw_copy_server": per_row(copy_cpu),
        }
        results[kind] = {
            "rows": imported["rows"],
            "households": imported["households"],
            "seconds": round(imported["seconds"], 2),
            "rows_per_second": round(rate),
            "copy_seconds": round(copy_seconds, 2),
            "copy_rows_per_second": round(baseline),
            "ratio": round(rate / baseline, 3),
            "peak_rss_mib": round(own, 1),
            "peak_rss_children_mib": round(children, 1),
            "cpu_us_per_row": cpu,
            "parser_processes": args.workers,
            "merge_connections": args.merges,
        }
        print(
            f"{kind:5} import {rate:>9,.0f} member rows/s ({imported['seconds']:.1f} s)"
            f" | raw COPY {baseline:>9,.0f} rows/s ({copy_seconds:.1f} s)"
            f" | ratio {rate / baseline:.2f}"
            f" | peak RSS {own:.0f} MiB (+ parser process {children:.0f} MiB)",
            flush=True,
        )
        print(
            "      CPU µs per member row: "
            + ", ".join(f"{k} {'n/a' if v is None else v}" for k, v in cpu.items()),
            flush=True,
        )
    if RESULTS.exists():
        # A run of one format keeps the other format's figures from an earlier run of this size.
        earlier = json.loads(RESULTS.read_text())
        if earlier.get("rows") == args.rows:
            results = {**earlier.get("formats", {}), **results}
    slowest = min(results.values(), key=lambda r: r["rows_per_second"])
    summary = {
        "metric": "import_member_rows_per_second",
        "value": slowest["rows_per_second"],
        "unit": "rows/s",
        "baseline": slowest["copy_rows_per_second"],
        "ratio": slowest["ratio"],
        "cores": os.cpu_count(),
        "peak_rss_mib": max(
            max(r["peak_rss_mib"], r["peak_rss_children_mib"]) for r in results.values()
        ),
        "rows": args.rows,
        "formats": results,
        "command": reproduce_command(
            "bench/import_bench.py", parser, args, ["rows", "formats", "workers", "merges"]
        ),
    }
    write_results(RESULTS, summary, ("peak_rss_mib",))


if __name__ == "__main__":
    main()
