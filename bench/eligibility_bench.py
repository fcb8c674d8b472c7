"""Bank eligibility checks through the real registry API (auth + audit on) versus the raw limit,
a minimal FastAPI app doing the same blind-index lookup with raw asyncpg, measured in one run.

    uv run python bench/eligibility_bench.py [--members 100000] [--seconds 10] [--connections 16]

What it does, in a fresh migrated database (dropped afterwards):
1. seeds households and members with ``COPY`` (ID numbers and names encrypted, blind indexes
   computed by the registry's own ``Privacy``), a realistic mix of statuses;
2. starts the registry (``uvicorn fupin_registry.main:app``, 1 worker, bearer tokens verified,
   every check audited; relay and consumers off, as in an API-only replica) and the baseline
   app (no auth, no audit, same SQL on a prepared asyncpg statement), each in its own process;
3. drives each with ``wrk`` (a separate process; installed from Debian's packages if missing)
   over 16 keep-alive connections, POSTing checks for ID numbers drawn from the seeded people
   (10 % absent), and reads requests/s and the 99th percentile latency;
4. the batch form: 4 connections POSTing batches of 1,000 checks, in checks/s (baseline: the
   same batch lookup with ``= ANY($1)``);
5. counts the audited checks (a single check's own record, each item of a batch's record):
   every answered check must be there (and the chain is verified).

Writes bench/results/eligibility.json: metric, value, unit, baseline, ratio, cores, p99_ms,
batch_checks_per_s (+ details). Targets: ratio >= 0.75 with p99 < 20 ms; batch >= 50,000 checks/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel
from wrk import DONE_LUA, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "services" / "registry"
RESULT = ROOT / "bench" / "results" / "eligibility.json"
BASE_URL = os.environ.get(
    "REGISTRY_DATABASE_URL", "postgresql+asyncpg://registry:registry@127.0.0.1:5432/registry"
)
COUNTIES = ("220622", "220621", "220581", "220524", "220284", "220183")
BATCH = 1000
BATCH_CONNECTIONS = 4

WRK_SCRIPT = r"""
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("BENCH_TOKEN") or ""
local path = os.getenv("BENCH_PATH")
local batch = tonumber(os.getenv("BENCH_BATCH") or "0")
local headers = {["Content-Type"] = "application/json"}
if token ~= "" then headers["Authorization"] = "Bearer " .. token end
local counter = math.random(1, #ids)
local bodies = {}

local function item(n)
  return '{"id_number":"' .. ids[(n % #ids) + 1] .. '","purpose":"subsidised_loan",'
    .. '"consent_reference":"BENCH-' .. n .. '"}'
end

function init(args)
  if batch > 0 then
    for b = 1, 8 do
      local items = {}
      for i = 1, batch do items[i] = item(b * batch + i) end
      bodies[b] = '{"items":[' .. table.concat(items, ",") .. ']}'
    end
  end
end

function request()
  counter = counter + 1
  if batch > 0 then return wrk.format("POST", path, headers, bodies[(counter % #bodies) + 1]) end
  return wrk.format("POST", path, headers, item(counter))
end
"""
WRK_SCRIPT += DONE_LUA


# --- the baseline app (uvicorn --factory eligibility_bench:create_baseline_app) ------------------


# The baseline's single lookup: the registry's FIND_MANY for one person (active membership
# first, then the latest one), with the same standing (``STANDING_STATUS``, filled in by the
# baseline app, which imports the registry).
FIND_ONE = """
SELECT m.active, {status}, h.exited_on, h.village_code
FROM members m JOIN households h ON h.id = m.household_id
WHERE m.id_index = $1 AND starts_with(h.village_code, $2)
ORDER BY m.active DESC, m.updated_at DESC
LIMIT 1
"""


class Check(BaseModel):
    id_number: str
    purpose: str
    consent_reference: str


class Batch(BaseModel):
    items: list[Check]


def create_baseline_app():  # noqa: ANN201 - imported by uvicorn in the baseline process
    import asyncpg
    from fastapi import FastAPI

    from fupin_kit.db import hot_path_settings, keep_session
    from fupin_registry.eligibility.repository import FIND_MANY, STANDING_STATUS, packed_keys

    find_one = FIND_ONE.format(status=STANDING_STATUS)
    dsn = os.environ["ELIGIBILITY_BENCH_DSN"]
    key = base64.b64decode(os.environ["ELIGIBILITY_BENCH_INDEX_KEY"])
    pools: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        # Same pool settings as the registry's eligibility pool (no reset round trip on release,
        # generic plans).
        pools["db"] = await asyncpg.create_pool(
            dsn,
            min_size=2,
            max_size=8,
            reset=keep_session,
            server_settings=hot_path_settings("eligibility-baseline"),
        )
        yield
        await pools["db"].close()

    def index(id_number: str) -> bytes:
        return hmac.new(key, id_number.strip().upper().encode(), hashlib.sha256).digest()

    app = FastAPI(lifespan=lifespan)

    @app.post("/check")
    async def check(body: Check) -> dict[str, object]:
        async with pools["db"].acquire() as conn:
            row = await conn.fetchrow(find_one, index(body.id_number), "22")
        return {"found": row is not None, "status": None if row is None else row[1]}

    @app.post("/check/batch")
    async def check_batch(body: Batch) -> dict[str, object]:
        indexes = [index(i.id_number) for i in body.items]
        async with pools["db"].acquire() as conn:
            rows = await conn.fetch(FIND_MANY, packed_keys(list(set(indexes))), "22")
        found = {bytes(r[4]): r[1] for r in rows}  # (active, status, exited_on, village, key)
        return {"items": [{"found": i in found, "status": found.get(i)} for i in indexes]}

    return app


# --- database and data ---------------------------------------------------------------------------


def _check_character(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def people(count: int, rng: random.Random, taken: set[str]) -> Iterator[tuple[str, date]]:
    made = 0
    while made < count:
        born = date(1955, 1, 1) + timedelta(days=rng.randrange(365 * 50))
        body = f"{rng.choice(COUNTIES)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        number = body + _check_character(body)
        if number not in taken:
            taken.add(number)
            made += 1
            yield number, born


async def seed(url: str, members: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """COPY households and members; return (seeded ID numbers, absent ID numbers)."""
    import asyncpg

    from fupin_registry.config import Settings
    from fupin_registry.privacy import Privacy

    privacy = Privacy(Settings(database_url=url))
    taken: set[str] = set()
    households: list[tuple] = []
    rows: list[tuple] = []
    numbers: list[str] = []
    today = date.today()
    person_iter = people(members, rng, taken)
    while len(rows) < members:
        household_id = uuid.uuid4()
        roll = rng.random()
        status = (
            "identified"
            if roll < 0.8
            else "exited"
            if roll < 0.9
            else "returned"
            if roll < 0.95
            else "removed"
        )
        exited_on = (
            today - timedelta(days=rng.randrange(1, 365 * 5)) if status == "exited" else None
        )
        village = f"{rng.choice(COUNTIES)}{rng.randrange(100, 120)}{rng.randrange(200, 240)}"
        households.append(
            (
                household_id,
                village,
                uuid.uuid4().hex[:12],
                "ordinary_poor",
                "development",
                "illness",
                status,
                2016,
                date(2016, 5, 1),
                exited_on,
            )
        )
        for position in range(min(rng.randrange(1, 7), members - len(rows))):
            number, born = next(person_iter)
            numbers.append(number)
            rows.append(
                (
                    uuid.uuid4(),
                    household_id,
                    privacy.index.of(number),
                    privacy.seal(number, "id_number"),
                    privacy.seal("张某某", "name"),
                    "male" if int(number[16]) % 2 else "female",
                    born,
                    "head" if position == 0 else "child",
                    status != "removed",
                )
            )
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.copy_records_to_table(
            "households",
            records=households,
            columns=[
                "id",
                "village_code",
                "household_number",
                "attribute",
                "support_type",
                "primary_cause",
                "status",
                "year",
                "registered_on",
                "exited_on",
            ],
        )
        await conn.copy_records_to_table(
            "members",
            records=rows,
            columns=[
                "id",
                "household_id",
                "id_index",
                "id_number_enc",
                "name_enc",
                "sex",
                "birth_date",
                "relation",
                "active",
            ],
        )
        await conn.execute("ANALYZE households; ANALYZE members")
    finally:
        await conn.close()
    absent = [number for number, _ in people(max(1, members // 10), rng, taken)]
    return numbers, absent


async def audit_count(url: str) -> tuple[int, bool]:
    from sqlalchemy import text

    from fupin_kit.audit import verify_chain
    from fupin_kit.db import create_engine

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            count = (
                await conn.execute(
                    # A single check has its own record; a batch's one record lists its checks.
                    text(
                        "SELECT coalesce(sum(CASE WHEN object_type = 'eligibility_batch'"
                        " THEN jsonb_array_length(details->'members') ELSE 1 END), 0)"
                        " FROM audit_log WHERE action = 'eligibility.check'"
                    )
                )
            ).scalar_one()
            report = await verify_chain(conn)
        return count, report.ok
    finally:
        await engine.dispose()


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    args: list[str], env: dict[str, str], port: int, workers: int = 1
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        *args,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    process = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited early: {' '.join(command)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process
        except urllib.error.HTTPError:
            return process  # it answers (the baseline has no /healthz)
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    sys.exit("server did not start within 60 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a server (its process group: uvicorn and its workers): the
    server's cost per check, whatever else runs."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pid:  # the process group, led by the server (start_new_session)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- the run -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10, help="measured time per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes of both servers"
    )
    parser.add_argument("--seed", type=int, default=20200615)
    args = parser.parse_args()

    sys.path.insert(0, str(SERVICE / "src"))

    from fupin_kit.auth import issue_token, new_signing_keys
    from fupin_kit.testing.database import migrated_database
    from fupin_registry.config import Settings

    wrk = ensure_wrk()
    rng = random.Random(args.seed)
    private_pem, public_pem = new_signing_keys()
    token = issue_token(
        private_pem,
        subject="bench-bank",
        jurisdiction="22",
        roles=["bank"],
        scopes=["eligibility:check"],
        client_id="bench-bank",
        lifetime_seconds=3600,
    )

    with (
        migrated_database(BASE_URL, SERVICE / "alembic.ini", label="eligibility_bench") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        started = time.monotonic()
        seeded, absent = asyncio.run(seed(url, args.members, rng))
        print(f"seeded {len(seeded):,} members in {time.monotonic() - started:.1f} s")
        sample = rng.sample(seeded, min(len(seeded), 18_000)) + absent[:2_000]
        rng.shuffle(sample)
        ids = Path(tmp) / "ids.txt"
        ids.write_text("\n".join(sample) + "\n")
        script = Path(tmp) / "checks.lua"
        script.write_text(WRK_SCRIPT)

        registry_port, baseline_port = free_port(), free_port()
        servers: list[subprocess.Popen[bytes]] = []
        registry = start_server(
            ["fupin_registry.main:app"],
            {
                "REGISTRY_DATABASE_URL": url,
                "REGISTRY_JWT_PUBLIC_KEY": public_pem,
                "REGISTRY_RUN_RELAY": "false",
                "REGISTRY_RUN_CONSUMERS": "false",
                "REGISTRY_LOG_LEVEL": "WARNING",
                "REGISTRY_ELIGIBILITY_RATE_PER_SECOND": "10000000",
                "REGISTRY_ELIGIBILITY_RATE_BURST": "100000000",
            },
            registry_port,
            args.workers,
        )
        servers.append(registry)
        try:
            baseline = start_server(
                [
                    "--factory",
                    "eligibility_bench:create_baseline_app",
                    "--app-dir",
                    str(ROOT / "bench"),
                ],
                {
                    "ELIGIBILITY_BENCH_DSN": url.replace("postgresql+asyncpg://", "postgresql://"),
                    "ELIGIBILITY_BENCH_INDEX_KEY": Settings(database_url=url).blind_index_key,
                },
                baseline_port,
                args.workers,
            )
            servers.append(baseline)

            def measure(
                server: subprocess.Popen[bytes], port: int, path: str, *, batch: int = 0
            ) -> dict[str, float]:
                env = {
                    "BENCH_IDS": str(ids),
                    "BENCH_PATH": path,
                    "BENCH_TOKEN": token if server is registry else "",
                    "BENCH_BATCH": str(batch),
                }
                target = f"http://127.0.0.1:{port}{path}"
                connections = BATCH_CONNECTIONS if batch else args.connections
                warm = run_wrk(
                    wrk, script, target, env=env, connections=connections, seconds=args.warmup
                )
                cpu_before = cpu_seconds(server.pid)
                result = run_wrk(
                    wrk, script, target, env=env, connections=connections, seconds=args.seconds
                )
                checks = result["requests"] * (batch or 1)
                result["cpu_us"] = (cpu_seconds(server.pid) - cpu_before) / max(1.0, checks) * 1e6
                result["checks_per_s"] = result["per_s"] * (batch or 1)
                result["answered"] = (
                    warm["requests"] - warm["non_2xx"] + result["requests"] - result["non_2xx"]
                ) * (batch or 1)
                print(
                    f"{'registry' if server is registry else 'baseline':9s}"
                    f"{'batch ' if batch else 'single'}: "
                    f"{result['checks_per_s']:9,.0f} checks/s  {result['per_s']:7,.0f} req/s  "
                    f"p99 {result['p99_ms']:6.1f} ms  server CPU {result['cpu_us']:6.1f} us/check",
                    flush=True,
                )
                if warm["non_2xx"] or result["non_2xx"] or result["socket_errors"]:
                    print(
                        f"  ! {result['non_2xx']:.0f} non-2xx, "
                        f"{result['socket_errors']:.0f} socket errors"
                    )
                return result

            base_single = measure(baseline, baseline_port, "/check")
            single = measure(registry, registry_port, "/v1/eligibility/checks")
            base_batch = measure(baseline, baseline_port, "/check/batch", batch=BATCH)
            batch = measure(registry, registry_port, "/v1/eligibility/checks/batch", batch=BATCH)
            answered = int(single["answered"] + batch["answered"])
        finally:
            for server in servers:
                stop_server(server)
        audited, chain_ok = asyncio.run(audit_count(url))

    ratio = single["per_s"] / base_single["per_s"]
    batch_rate = batch["checks_per_s"]
    passed = (
        ratio >= 0.75
        and single["p99_ms"] < 20
        and batch_rate >= 50_000
        and audited >= answered
        and chain_ok
    )
    result = {
        "metric": "eligibility_checks_per_s",
        "value": round(single["per_s"], 1),
        "unit": "requests/s",
        "baseline": round(base_single["per_s"], 1),
        "ratio": round(ratio, 3),
        "cores": os.cpu_count(),
        "uvicorn_workers": args.workers,
        "p99_ms": round(single["p99_ms"], 2),
        "baseline_p99_ms": round(base_single["p99_ms"], 2),
        "batch_checks_per_s": round(batch_rate, 1),
        "batch_baseline_checks_per_s": round(base_batch["checks_per_s"], 1),
        "batch_p99_ms": round(batch["p99_ms"], 2),
        "server_cpu_us_per_check": round(single["cpu_us"], 1),
        "baseline_server_cpu_us_per_check": round(base_single["cpu_us"], 1),
        "batch_server_cpu_us_per_check": round(batch["cpu_us"], 1),
        "batch_baseline_server_cpu_us_per_check": round(base_batch["cpu_us"], 1),
        "members": args.members,
        "connections": args.connections,
        "batch_connections": BATCH_CONNECTIONS,
        "seconds": args.seconds,
        "answered_checks": answered,
        "audited_checks": audited,
        "audit_chain_ok": chain_ok,
        "targets": {"ratio": 0.75, "p99_ms": 20, "batch_checks_per_s": 50_000},
        "passed": passed,
        "load_generator": "wrk -t1 (separate process)",
        "command": "uv run python bench/eligibility_bench.py " + " ".join(sys.argv[1:]),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"ratio {ratio:.2f} (target 0.75), p99 {single['p99_ms']:.1f} ms (< 20), "
        f"batch {batch_rate:,.0f} checks/s (>= 50,000)"
    )
    print(
        f"{audited:,} audited checks for {answered:,} answered; "
        f"chain {'verifies' if chain_ok else 'BROKEN'}"
    )
    print(f"{'PASS' if passed else 'BELOW TARGET'} -> {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
