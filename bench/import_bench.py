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
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import xlsxwriter

from fupin_kit.auth import Caller
from fupin_kit.db import create_engine, create_sessionmaker
from fupin_kit.testing.database import migrated_database
from fupin_registry.config import Settings
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
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


async def run_import(url: str, path: Path, workers: int) -> dict[str, float]:
    settings = Settings(
        database_url=url,
        import_workers=workers,
        run_relay=False,
        run_consumers=False,
        import_dir=path.parent / "jobs",
        environment="test",
    )
    engine = create_engine(url, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    caller = Caller(subject="bench", roles=frozenset({"officer"}), jurisdiction="22")
    started = time.perf_counter()
    with path.open("rb") as handle:
        # create_job copies the upload to the job's place, as the API does.
        job, config = await create_job(sessionmaker, settings, caller, handle, path.name)
    await ImportRunner(sessionmaker, settings, Privacy(settings)).run(job.id, config, caller.actor)
    elapsed = time.perf_counter() - started
    conn = await asyncpg.connect(settings.asyncpg_dsn)
    state = dict(await conn.fetchrow("SELECT * FROM import_jobs WHERE id = $1", job.id))
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
    }


async def raw_copy(url: str) -> float:
    """COPY (binary) the rows the import wrote back into the same, emptied tables."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    dumps = {}
    for table in TABLES:
        buffer = io.BytesIO()
        await conn.copy_from_table(table, output=buffer, format="binary")
        dumps[table] = buffer.getvalue()
    await conn.execute("TRUNCATE " + ", ".join(TABLES) + " CASCADE")
    per_table = {}
    for table in TABLES:
        began = time.perf_counter()
        await conn.copy_to_table(table, source=io.BytesIO(dumps[table]), format="binary")
        per_table[table] = round(time.perf_counter() - began, 2)
        # Fresh statistics (untimed) before the next table's foreign-key checks are planned:
        # statistics of the emptied table would make every check a sequential scan.
        await conn.execute(f"ANALYZE {table}")
    await conn.close()
    print(f"      raw COPY seconds per table: {per_table}", flush=True)
    return sum(per_table.values())


def import_in_own_process(url: str, path: Path, workers: int) -> dict[str, float]:
    """Run the import in a fresh process, so that its peak RSS is the import's alone."""
    completed = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps([url, str(path), workers])],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def one(spec: str) -> None:
    url, path, workers = json.loads(spec)
    result = asyncio.run(run_import(url, Path(path), workers))
    own, children = peak_mib()
    print(json.dumps({**result, "peak_rss_mib": own, "peak_rss_children_mib": children}))


def main() -> None:
    if os.environ.get("BENCH_TRACE"):
        import faulthandler

        faulthandler.dump_traceback_later(float(os.environ["BENCH_TRACE"]), exit=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--workers", type=int, default=1, help="import_workers (0: a thread)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fupin-bench")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.one)
        return
    paths = generate(args.rows, args.cache, args.formats.split(","))
    if args.generate_only:
        return
    base_url = os.environ.get("REGISTRY_DATABASE_URL") or Settings().database_url
    results = {}
    for kind in args.formats.split(","):
        database = migrated_database(base_url, ALEMBIC_INI, label="bench")
        url = database.__enter__()
        try:
            imported = import_in_own_process(url, paths[kind], args.workers)
            own, children = imported["peak_rss_mib"], imported["peak_rss_children_mib"]
            print(f"{kind:5} import {imported['rows'] / imported['seconds']:>9,.0f} member rows/s"
                  f" ({imported['rows']:,} rows in {imported['seconds']:.1f} s)", flush=True)
            copy_seconds = asyncio.run(raw_copy(url))
        finally:
            try:
                database.__exit__(None, None, None)
            except Exception as exc:  # a stray connection must not cost the measured figures
                print(f"      could not drop the benchmark database: {exc}", flush=True)
        rate = imported["rows"] / imported["seconds"]
        baseline = imported["rows"] / copy_seconds
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
        }
        print(
            f"{kind:5} import {rate:>9,.0f} member rows/s ({imported['seconds']:.1f} s)"
            f" | raw COPY {baseline:>9,.0f} rows/s ({copy_seconds:.1f} s)"
            f" | ratio {rate / baseline:.2f}"
            f" | peak RSS {own:.0f} MiB (+ parser process {children:.0f} MiB)",
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
        "command": "uv run python bench/import_bench.py"
        + (f" --rows {args.rows}" if args.rows != 1_000_000 else "")
        + (f" --formats {args.formats}" if args.formats != "csv,xlsx" else ""),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("metric", "value", "unit", "baseline", "ratio", "cores", "peak_rss_mib")
            }
        )
    )


if __name__ == "__main__":
    main()
