"""Import stages benchmark: how the parser stage and the merge stage each scale.

The import is two stages running side by side: parser processes (read, validate, encrypt,
build the COPY text; ``import_workers``) and the merge (classify and COPY each chunk in its
own transaction; ``import_merge_connections``). On a machine with few cores they compete for
the same cores, so ``import_bench.py`` cannot show what more cores would give. This measures
each stage alone:

* **parser**: the .csv and the .xlsx file (streamed: above ``import_calamine_max_bytes``
  uncompressed, as a 100,000-row sheet is) through 1 … ``--workers`` parser processes, the
  chunks discarded, without the processes' start (a fixed cost per job, measured on a file of
  one household and subtracted), with the processes' CPU per row;
* **merge**: chunks prepared beforehand (untimed, held in memory), merged into a fresh
  Alembic-migrated database with 1 … ``--merges`` connections, exactly as a job merges them;
* **reading past**: the CPU per row of a process that owns none of the chunks, and from it
  the parser stage's rate with a core for each process.

    uv run python bench/import_stages_bench.py                 # 100,000 member rows
    uv run python bench/import_stages_bench.py --rows 20000    # a quick run

Writes bench/results/import_stages.json: ``value`` is the merge stage's rate with the most
connections, ``baseline`` its rate with one, ``ratio`` the speed-up; the parser stage's rates
are in ``stages`` (per format), their CPU µs per row in each process in
``parser_cpu_us_per_row_per_process``, reading past in ``reading_past_cpu_us_per_row`` and
the projection in ``parser_projected_rows_per_second_with_a_core_each``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from import_bench import (
    ROOT,
    bench_on_path,
    create_database,
    drop_database,
    generate,
    reproduce_command,
    write_results,
)

from fupin_kit.auth import Caller
from fupin_kit.db import create_engine, create_sessionmaker
from fupin_registry.config import (
    Settings,
    default_import_merge_connections,
    default_import_workers,
)
from fupin_registry.imports.merge import ChunkMerger
from fupin_registry.imports.pipeline import Failed, PreparedChunk, ProducerProcess, produce
from fupin_registry.imports.service import create_job
from fupin_registry.privacy import Privacy

RESULTS = ROOT / "bench" / "results" / "import_stages.json"


async def _job(url: str, path: Path):
    settings = Settings(
        database_url=url,
        import_dir=path.parent / "jobs",
        environment="test",
        run_relay=False,
        run_consumers=False,
    )
    engine = create_engine(url, pool_size=2)
    caller = Caller(subject="bench", roles=frozenset({"officer"}), jurisdiction="22")
    with path.open("rb") as handle:
        job, config = await create_job(
            create_sessionmaker(engine), settings, caller, handle, path.name
        )
    await engine.dispose()
    return settings, job.id, config


def _run_parser(url: str, path: Path, workers: int) -> tuple[float, float]:
    """``run_parser`` in a ``-c`` process: a spawned parser process imports the main module
    again, and this one would add seconds to the start of each."""
    call = f"run_parser({url!r}, {str(path)!r}, {workers})"
    code = f"import json, import_stages_bench as b; print(json.dumps(b.{call}))"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": bench_on_path()},
    )
    elapsed, cpu = json.loads(completed.stdout.strip().splitlines()[-1])
    return elapsed, cpu


def run_parser(url: str, path: str, workers: int) -> tuple[float, float]:
    """Wall seconds from starting ``workers`` parser processes on ``path`` to its last chunk,
    and the processes' CPU seconds (``RUSAGE_CHILDREN``: ``close`` joins them)."""
    _, _, config = asyncio.run(_job(url, Path(path)))
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    process = ProducerProcess(config, workers)
    try:
        while (item := process.next()) is not None:
            if isinstance(item, Failed):
                raise SystemExit(f"the file did not parse: {item.reason}")
        elapsed = time.perf_counter() - began
    finally:
        process.close()
        Path(config.path).unlink(missing_ok=True)  # the job's copy of the upload
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(
        getattr(children_after, f) - getattr(children_before, f) for f in ("ru_utime", "ru_stime")
    )
    return elapsed, cpu


def parser_rate(
    url: str, path: Path, start_path: Path, workers: int, rows: int
) -> tuple[float, float]:
    """The parser stage's rate and its CPU seconds, each without the processes' start.

    The start (spawning, importing, opening the file) is measured on ``start_path``, a file of
    one household, and subtracted. Timing from the moment every process has opened the file
    would not do: a process that started first has parsed its first chunks by then."""
    start_elapsed, start_cpu = _run_parser(url, start_path, workers)
    elapsed, cpu = _run_parser(url, path, workers)
    return rows / (elapsed - start_elapsed), cpu - start_cpu


def reading_past(url: str, path: Path, rows: int, runs: int = 3) -> float:
    """CPU µs per row of a parser process that owns none of the file's chunks (the last of
    1,000), in this process: what each process pays for every row of the other processes'
    chunks. The median of ``runs``."""
    _, _, config = asyncio.run(_job(url, path))
    try:
        costs = []
        for _ in range(runs):
            began = time.process_time()
            for item in produce(config, 999, 1000):
                if isinstance(item, Failed):
                    raise SystemExit(f"the file did not parse: {item.reason}")
            costs.append((time.process_time() - began) / rows * 1e6)
    finally:
        Path(config.path).unlink(missing_ok=True)  # the job's copy of the upload
    return sorted(costs)[len(costs) // 2]


async def _merge(url: str, path: Path, connections: int) -> tuple[float, int]:
    settings, job_id, config = await _job(url, path)
    chunks = [item for item in produce(config) if isinstance(item, PreparedChunk)]
    await asyncio.to_thread(Path(config.path).unlink, missing_ok=True)  # the job's copy
    rows = sum(len(c.member_rows) for c in chunks)
    engine = create_engine(url, pool_size=connections + 1)
    privacy = Privacy(settings)
    merger = ChunkMerger(
        create_sessionmaker(engine),
        job_id,
        config.rules.jurisdiction,
        connections,
        lambda value: privacy.seal(value, "import_error_value"),
        max_errors=settings.import_max_errors,
        lock_timeout_ms=settings.import_lock_timeout_seconds * 1000,
    )
    began = time.perf_counter()
    for chunk in chunks:
        await merger.merge(chunk)
    await merger.finish()
    elapsed = time.perf_counter() - began
    await engine.dispose()
    return rows / elapsed, rows


def merge_rate(base_url: str, path: Path, connections: int) -> float:
    url, name, admin = create_database(base_url)
    try:
        rate, _ = asyncio.run(_merge(url, path, connections))
    finally:
        drop_database(name, admin)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--workers",
        type=int,
        default=max(2, default_import_workers()),
        help="up to this many parser processes",
    )
    parser.add_argument(
        "--merges",
        type=int,
        default=max(2, default_import_merge_connections()),
        help="up to this many merge connections",
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fupin-bench")
    args = parser.parse_args()
    paths = generate(args.rows, args.cache, ["csv", "xlsx"])
    starts = generate(1, args.cache, ["csv", "xlsx"])  # one household: the processes' start
    base_url = os.environ.get("REGISTRY_DATABASE_URL") or Settings().database_url
    stages: dict[str, dict[str, int]] = {"parser_csv": {}, "parser_xlsx": {}, "merge": {}}
    # CPU µs per row of each parser process: the rate the stage would reach with a core for
    # each process, which a machine with fewer cores than processes cannot show.
    parser_cpu: dict[str, dict[str, float]] = {"parser_csv": {}, "parser_xlsx": {}}
    # CPU µs per row of reading past another process's row, and what n processes with a core
    # each would then reach: n / (full + (n - 1) * pass) rows per µs.
    passing: dict[str, float] = {}
    projected: dict[str, dict[str, int]] = {"parser_csv": {}, "parser_xlsx": {}}
    url, name, admin = create_database(base_url)
    try:
        for kind in ("csv", "xlsx"):
            passing[f"parser_{kind}"] = round(reading_past(url, paths[kind], args.rows), 1)
            for workers in range(1, args.workers + 1):
                rate, cpu = parser_rate(url, paths[kind], starts[kind], workers, args.rows)
                per_process = cpu / workers / args.rows * 1e6
                stages[f"parser_{kind}"][str(workers)] = round(rate)
                parser_cpu[f"parser_{kind}"][str(workers)] = round(per_process, 1)
                print(
                    f"parser stage, {kind:4}, {workers} process(es): {rate:>9,.0f} member rows/s"
                    f" | {per_process:.1f} CPU µs per row in each process"
                    f" (with a core each: {workers * 1e6 / (cpu / args.rows * 1e6):,.0f} rows/s)",
                    flush=True,
                )
            full = parser_cpu[f"parser_{kind}"]["1"]
            past = passing[f"parser_{kind}"]
            for workers in range(1, args.workers + 1):
                rate = workers * 1e6 / (full + (workers - 1) * past)
                projected[f"parser_{kind}"][str(workers)] = round(rate)
            print(
                f"parser stage, {kind:4}: reading past a row costs {past} CPU µs; with a core"
                f" for each process ({full} µs per own row): "
                + ", ".join(
                    f"{n} → {rate:,} rows/s" for n, rate in projected[f"parser_{kind}"].items()
                ),
                flush=True,
            )
    finally:
        drop_database(name, admin)
    path = paths["csv"]
    for connections in range(1, args.merges + 1):
        rate = merge_rate(base_url, path, connections)
        stages["merge"][str(connections)] = round(rate)
        print(
            f"merge stage,        {connections} connection(s): {rate:>9,.0f} member rows/s",
            flush=True,
        )
    most, one = stages["merge"][str(args.merges)], stages["merge"]["1"]
    summary = {
        "metric": "import_merge_stage_rows_per_second",
        "value": most,
        "unit": "rows/s",
        "baseline": one,
        "ratio": round(most / one, 3),
        "cores": os.cpu_count(),
        "rows": args.rows,
        "stages": stages,
        "parser_cpu_us_per_row_per_process": parser_cpu,
        "reading_past_cpu_us_per_row": passing,
        "parser_projected_rows_per_second_with_a_core_each": projected,
        "note": "value: merge stage with the most connections; baseline: with one",
        "command": reproduce_command(
            "bench/import_stages_bench.py", parser, args, ["rows", "workers", "merges"]
        ),
    }
    write_results(RESULTS, summary)


if __name__ == "__main__":
    main()
