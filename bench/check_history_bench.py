"""Check history benchmark: every check about one person, found in a long audit chain.

An investigator (``CheckHistory.checks_about``) and an auditor (a household's access log) read
every eligibility check about a person, including the person's items of batch records (one
audit record lists up to 1,000 checks). This fills a fresh Alembic-migrated registry database
with ``--batches`` batch records of ``--size`` checks, shaped as the eligibility service
writes them, one of which names the person, and times:

* **project**: ``CHECKS_ABOUT``, the registry's query, which finds the batch records through
  ``ix_audit_log_batch_members`` (a GIN index on the batch records' members);
* **baseline**: the same query finding them by containment on the whole ``details`` column,
  which no index serves, i.e. reading every batch record.

Also the cost of the index to the batch writes: the same records written with and without it,
in turns (database CPU per check, from the time of one connection's inserts).

    uv run python bench/check_history_bench.py                  # 2,000 batches of 1,000
    uv run python bench/check_history_bench.py --batches 200    # a quick run

Writes bench/results/check_history.json: ``value`` the indexed lookup's median (ms),
``baseline`` the unindexed one's, ``ratio`` = baseline / value (how many times faster).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid

import asyncpg
from import_bench import ROOT, create_database, drop_database, reproduce_command, write_results

from fupin_registry.config import Settings
from fupin_registry.eligibility.repository import CHECKS_ABOUT

RESULTS = ROOT / "bench" / "results" / "check_history.json"
INDEXED = "AND a.details->'members' @> jsonb_build_array($1::text)"
UNINDEXED = "AND a.details @> jsonb_build_object('members', jsonb_build_array($1::text))"
INDEX = "ix_audit_log_batch_members"

# Batch records as the eligibility service writes them (columns of equal length, item i of
# each list is check i); record ``$5`` holds the person looked for at item ``$6``.
FILL = """
INSERT INTO audit_log (occurred_at, actor, action, object_type, object_id, details, digest,
                       prev_hash, hash)
SELECT now(), 'client:bank', 'eligibility.check', 'eligibility_batch', gen_random_uuid()::text,
  jsonb_build_object(
   'members', (SELECT jsonb_agg(CASE WHEN n = $5 AND i = $6 THEN $1::text
                                     ELSE md5(n || '/' || i) || md5(i || '/' || n) END)
               FROM generate_series(1, $2::int) i),
   'decision_ids', (SELECT jsonb_agg(gen_random_uuid()::text) FROM generate_series(1, $2::int) i),
   'eligible', (SELECT jsonb_agg(i % 3 = 0) FROM generate_series(1, $2::int) i),
   'reason_codes', (SELECT jsonb_agg('NOT_REGISTERED'::text) FROM generate_series(1, $2::int) i),
   'valid_until', (SELECT jsonb_agg(NULL::text) FROM generate_series(1, $2::int) i),
   'purposes', (SELECT jsonb_agg('subsidised-loan'::text) FROM generate_series(1, $2::int) i),
   'consent_references', (SELECT jsonb_agg('C-' || i) FROM generate_series(1, $2::int) i)),
  md5('d' || n), md5('p' || n), md5(random()::text) || n
FROM generate_series($3::int, $4::int) AS n
"""


def _item(per_batch: int) -> int:
    """Where the person looked for stands in its batch record (1-based)."""
    return min(500, per_batch)


async def _fill(conn: asyncpg.Connection, person: str, batches: int, per_batch: int) -> float:
    began = time.perf_counter()
    for start in range(1, batches + 1, 50):
        end = min(start + 49, batches)
        await conn.execute(
            FILL, person, per_batch, start, end, max(1, batches // 2), _item(per_batch)
        )
    return time.perf_counter() - began


async def _timed(
    conn: asyncpg.Connection, sql: str, person: str, runs: int, per_batch: int
) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        rows = await conn.fetch(sql, person)
        times.append((time.perf_counter() - began) * 1000)
        if [row["position"] for row in rows] != [_item(per_batch)]:
            raise SystemExit(f"the lookup found {len(rows)} checks, expected the one")
    return times


async def _write_cost(conn: asyncpg.Connection, per_batch: int, rounds: int) -> dict[str, float]:
    """µs per check of writing 200 batch records, with and without the index, in turns."""
    definition = await conn.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = $1", INDEX)
    costs: dict[str, list[float]] = {"with_index": [], "without_index": []}
    for _ in range(rounds):
        for label in ("with_index", "without_index"):
            if label == "without_index":
                await conn.execute(f"DROP INDEX {INDEX}")
            seconds = await _fill(conn, uuid.uuid4().hex * 2, 200, per_batch)
            costs[label].append(seconds / (200 * per_batch) * 1e6)
            if label == "without_index":
                await conn.execute(definition)
    return {label: round(statistics.median(values), 2) for label, values in costs.items()}


async def run(url: str, batches: int, per_batch: int, runs: int) -> dict:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        person = uuid.uuid4().hex * 2  # a blind index in hex, as batch records hold them
        filled = await _fill(conn, person, batches, per_batch)
        await conn.execute("VACUUM ANALYZE audit_log")
        sizes = await conn.fetchrow(
            "SELECT pg_total_relation_size('audit_log') AS chain,"
            f" pg_relation_size('{INDEX}') AS index"
        )
        indexed = CHECKS_ABOUT
        unindexed = CHECKS_ABOUT.replace(INDEXED, UNINDEXED)
        if INDEXED not in indexed:
            raise SystemExit("CHECKS_ABOUT no longer has the indexed condition this compares")
        project, baseline = [], []
        for _ in range(runs):  # in turns: a machine whose speed drifts weighs on both alike
            project += await _timed(conn, indexed, person, 1, per_batch)
            baseline += await _timed(conn, unindexed, person, 1, per_batch)
        write = await _write_cost(conn, per_batch, 3)
    finally:
        await conn.close()
    return {
        "filled_seconds": round(filled, 1),
        "chain_mib": round(sizes["chain"] / 2**20),
        "index_mib": round(sizes["index"] / 2**20),
        "project_ms": project,
        "baseline_ms": baseline,
        "write_us_per_check": write,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2_000)
    parser.add_argument("--size", type=int, default=1_000, help="checks per batch record")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base_url = os.environ.get("REGISTRY_DATABASE_URL") or Settings().database_url
    url, name, admin = create_database(base_url)
    try:
        result = asyncio.run(run(url, args.batches, args.size, args.runs))
    finally:
        drop_database(name, admin)
    project, baseline = (
        statistics.median(result["project_ms"]),
        statistics.median(result["baseline_ms"]),
    )
    checks = args.batches * args.size
    write = result["write_us_per_check"]
    print(
        f"{args.batches:,} batch records of {args.size:,} checks ({checks:,} checks,"
        f" audit_log {result['chain_mib']:,} MiB, index {result['index_mib']:,} MiB)"
    )
    print(
        "checks about one person, indexed:   "
        + " ".join(f"{t:.1f}" for t in result["project_ms"])
        + " ms"
    )
    print(
        "checks about one person, unindexed: "
        + " ".join(f"{t:.1f}" for t in result["baseline_ms"])
        + " ms"
    )
    print(
        f"writing batch records: {write['with_index']} µs per check with the index,"
        f" {write['without_index']} without"
    )
    summary = {
        "metric": "check_history_lookup_ms",
        "value": round(project, 2),
        "unit": "ms",
        "baseline": round(baseline, 2),
        "ratio": round(baseline / project, 1),
        "cores": os.cpu_count(),
        "batches": args.batches,
        "size": args.size,
        **result,
        "note": "value: median lookup through the index; baseline: reading every batch record",
        "command": reproduce_command(
            "bench/check_history_bench.py", parser, args, ["batches", "size", "runs"]
        ),
    }
    write_results(RESULTS, summary)


if __name__ == "__main__":
    main()
