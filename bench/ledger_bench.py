"""Ledger under contention: concurrent disbursements from ONE account through the real funds API
versus the raw limit, a single conditional UPDATE in a loop, measured in the same run.

    uv run python bench/ledger_bench.py [--clients 32] [--seconds 10] [--rounds 2] [--workers 1]

What it does, in a fresh migrated database (dropped afterwards):
1. starts the funds API with uvicorn in its own process (relay and consumers off: they run in the
   worker process in production) and prepares, through the API, a fund, an announced project whose
   notice has passed, and a funded project account;
2. ``wrk`` (a separate process; installed from Debian's packages if missing) runs N keep-alive
   connections, each POSTing ``/v1/projects/{id}/payments`` with its own Idempotency-Key, for
   the given time;
3. the baseline: N concurrent asyncpg connections running
   ``UPDATE ... SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance``
   on one row in a loop (autocommit), for the same time. The two take turns (``--rounds``), so
   that a drift in the machine's speed weighs on both alike;
4. an overdraft round (a small Python keep-alive client, which can stop after an exact number of
   requests): N clients try to pay 2x what the project holds; exactly the funded amount
   must succeed, the rest must be refused, and no balance may be negative;
5. checks that debits equal credits and every stored balance equals the sum of its postings.

Writes bench/results/ledger.json: metric, value, unit, baseline, ratio, cores (+ details).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from wrk import DONE_LUA, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "services" / "funds"
RESULT = ROOT / "bench" / "results" / "ledger.json"
BASE_URL = os.environ.get(
    "FUNDS_DATABASE_URL", "postgresql+asyncpg://funds:funds@127.0.0.1:5432/funds"
)
COUNTY, VILLAGE = "220622", "220622100001"


WRK_SCRIPT = (
    r"""
local path = os.getenv("BENCH_PATH")
local body = os.getenv("BENCH_BODY")
local prefix = os.getenv("BENCH_KEY_PREFIX")
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")}
local counter = 0

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = prefix .. "-" .. counter
  return wrk.format("POST", path, headers, body)
end
"""
    + DONE_LUA
)


def run_payments(
    wrk: str, script: Path, port: int, token: str, project_id: str, clients: int, seconds: int
) -> dict:
    """Payments of 1.00 through wrk: requests/s that were answered 201, p50 and p99."""
    result = run_wrk(
        wrk,
        script,
        f"http://127.0.0.1:{port}",
        env={
            "BENCH_PATH": f"/v1/projects/{project_id}/payments",
            "BENCH_BODY": json.dumps(
                {"amount": "1.00", "payee": "bench supplier", "on": "2024-02-02"}
            ),
            "BENCH_KEY_PREFIX": f"bench-{uuid.uuid4().hex}",
            "BENCH_TOKEN": token,
        },
        connections=clients,
        seconds=seconds,
    )
    ok = result["requests"] - result["non_2xx"] - result["socket_errors"]
    return {
        "requests": int(result["requests"]),
        "ok": int(ok),
        "non_2xx": int(result["non_2xx"]),
        "socket_errors": int(result["socket_errors"]),
        "rate": result["per_s"] * ok / max(1, result["requests"]),
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
    }


# --- a minimal keep-alive HTTP/1.1 client -------------------------------------------------------


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: dict | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = b"" if body is None else json.dumps(body).encode()
        head = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(payload)}",
        ]
        if body is not None:
            head.append("Content-Type: application/json")
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        assert self.reader is not None
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --- the load generator (runs in its own process) -----------------------------------------------


async def load(
    port: int,
    token: str,
    project_id: str,
    clients: int,
    seconds: float,
    amount: str,
    on: str,
    max_requests: int | None,
) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal sent
        connection = Connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline and (max_requests is None or sent < max_requests):
                sent += 1
                started = time.perf_counter()
                status, _ = await connection.request(
                    "POST",
                    f"/v1/projects/{project_id}/payments",
                    {"amount": amount, "payee": "bench supplier", "on": on},
                    {**headers, "Idempotency-Key": f"bench-{uuid.uuid4().hex}"},
                )
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*[client(i) for i in range(clients)])
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "statuses": {str(k): v for k, v in statuses.items()},
        "elapsed": elapsed,
        "ok": statuses.get(201, 0),
        "rate": statuses.get(201, 0) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1] if latencies else None,
    }


async def baseline(dsn: str, clients: int, seconds: float) -> dict:
    import asyncpg

    admin = await asyncpg.connect(dsn)
    await admin.execute(
        "CREATE TABLE bench_baseline (id bigint PRIMARY KEY, balance_fen bigint NOT NULL CHECK "
        "(balance_fen >= 0))"
    )
    await admin.execute("INSERT INTO bench_baseline VALUES (1, 1000000000000)")
    connections = [await asyncpg.connect(dsn) for _ in range(clients)]
    backends = [conn.get_server_pid() for conn in connections]

    def backend_seconds() -> float:
        ticks = 0
        for pid in backends:
            try:
                ticks += _ticks(Path(f"/proc/{pid}/stat").read_text())
            except OSError:
                pass
        return ticks / os.sysconf("SC_CLK_TCK")

    cpu_before = backend_seconds()
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(conn: asyncpg.Connection) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            row = await conn.fetchrow(
                "UPDATE bench_baseline SET balance_fen = balance_fen - $1 WHERE id = $2 AND "
                "balance_fen >= $1"
                " RETURNING balance_fen",
                100,
                1,
            )
            assert row is not None
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*[worker(c) for c in connections])
    elapsed = time.perf_counter() - started
    postgres_cpu_us = (backend_seconds() - cpu_before) / max(1, done) * 1e6
    for conn in connections:
        await conn.close()
    await admin.execute("DROP TABLE bench_baseline")
    await admin.close()
    return {
        "ok": done,
        "elapsed": elapsed,
        "rate": done / elapsed,
        "postgres_cpu_us": postgres_cpu_us,
    }


def load_main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    if spec["mode"] == "api":
        result = asyncio.run(
            load(
                spec["port"],
                spec["token"],
                spec["project_id"],
                spec["clients"],
                spec["seconds"],
                spec["amount"],
                spec["on"],
                spec.get("max_requests"),
            )
        )
    else:
        result = asyncio.run(baseline(spec["dsn"], spec["clients"], spec["seconds"]))
    print(json.dumps(result))


def run_load_process(spec: dict) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--load", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- orchestration --------------------------------------------------------------------------------


def _ticks(stat: str) -> int:
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def cpu_seconds(match: Callable[[int, str, str], bool]) -> float:
    """User + system CPU of the live processes ``match(pid, stat, cmdline)`` selects."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if match(int(entry.name), stat, cmdline):
            total += _ticks(stat)
    return total / os.sysconf("SC_CLK_TCK")


def server_process(root: int) -> Callable[[int, str, str], bool]:
    """The uvicorn process and its workers (children)."""
    return lambda pid, stat, _: pid == root or int(stat.rsplit(")", 1)[1].split()[1]) == root


def database_backends(database: str) -> Callable[[int, str, str], bool]:
    """PostgreSQL backends connected to ``database`` (their title names it)."""
    return lambda _, stat, cmdline: "(postgres)" in stat and f" {database} " in cmdline


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def api_call(port: int, token: str, method: str, path: str, body: dict | None = None) -> dict:
    connection = Connection("127.0.0.1", port)
    try:
        status, raw = await connection.request(
            method, path, body, {"Authorization": f"Bearer {token}"}
        )
    finally:
        await connection.close()
    if status >= 300:
        raise RuntimeError(f"{method} {path} -> {status}: {raw[:500]!r}")
    return json.loads(raw)


async def prepare(port: int, token: str, project_amount: str, year: int) -> tuple[str, int]:
    """A fund, an announced project past its notice, and the project funded with the amount."""
    source = f"bench-{uuid.uuid4().hex[:6]}"  # only used in names
    await api_call(
        port,
        token,
        "POST",
        "/v1/funds",
        {
            "region_code": COUNTY,
            "source": "central",
            "year": year,
            "name": source,
            "amount": "9000000000.00",
            "on": f"{year}-01-02",
        },
    )
    project = await api_call(
        port,
        token,
        "POST",
        "/v1/projects",
        {
            "name": "bench project",
            "project_type": "roads",
            "year": year,
            "region_code": COUNTY,
            "village_codes": [VILLAGE],
            "implementing_unit": "bench",
            "budget": [{"source": "central", "amount": "9000000000.00"}],
            "on": f"{year}-01-03",
        },
    )
    pid = project["id"]
    await api_call(port, token, "POST", f"/v1/projects/{pid}/approve", {"on": f"{year}-01-04"})
    await api_call(port, token, "POST", f"/v1/projects/{pid}/announce", {"on": f"{year}-01-05"})
    funding = await api_call(
        port,
        token,
        "POST",
        f"/v1/projects/{pid}/fundings",
        {"source": "central", "amount": project_amount, "on": f"{year}-02-01"},
    )
    return pid, funding["to_account_id"]


async def ledger_checks(dsn: str, project_account: int) -> dict:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        debits, credits = await conn.fetchrow(
            "SELECT coalesce(sum(amount_fen) FILTER (WHERE side = 'debit'), 0),"
            " coalesce(sum(amount_fen) FILTER (WHERE side = 'credit'), 0) FROM ledger_postings"
        )
        mismatched = await conn.fetchval(
            "SELECT count(*) FROM accounts a WHERE a.balance_fen <> coalesce((SELECT sum(CASE "
            "WHEN p.side = a.normal_side"
            " THEN p.amount_fen ELSE -p.amount_fen END) FROM ledger_postings p WHERE "
            "p.account_id = a.id), 0)"
        )
        negative = await conn.fetchval("SELECT count(*) FROM accounts WHERE balance_fen < 0")
        balance = await conn.fetchval(
            "SELECT balance_fen FROM accounts WHERE id = $1", project_account
        )
        payments = await conn.fetchval(
            "SELECT count(*) FROM ledger_entries WHERE credit_account_id = $1 AND kind = "
            "'project_payment'",
            project_account,
        )
        return {
            "debits_fen": debits,
            "credits_fen": credits,
            "entries_balance": debits == credits and mismatched == 0,
            "mismatched_accounts": mismatched,
            "negative_balances": negative,
            "project_balance_fen": balance,
            "payments": payments,
        }
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time of each side")
    parser.add_argument(
        "--rounds", type=int, default=2, help="turns the API and the baseline take (alternating)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes",
    )
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_main([args.load])
        return 0

    from fupin_kit.auth import issue_token, new_signing_keys
    from fupin_kit.testing.database import migrated_database

    private, public = new_signing_keys()
    wrk = ensure_wrk()
    token = issue_token(
        private,
        subject="bench-officer",
        jurisdiction="22",
        roles=["officer", "admin"],
        lifetime_seconds=3600,
    )

    with (
        migrated_database(BASE_URL, SERVICE / "alembic.ini", label="bench") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        key_file = Path(tmp) / "jwt-public.pem"
        key_file.write_text(public, encoding="ascii")
        port = free_port()
        env = {
            **os.environ,
            "FUNDS_DATABASE_URL": url,
            "FUNDS_JWT_PUBLIC_KEY_FILE": str(key_file),
            "FUNDS_RUN_RELAY": "false",
            "FUNDS_RUN_CONSUMERS": "false",
            "FUNDS_ENVIRONMENT": "test",
            "FUNDS_LOG_LEVEL": "WARNING",
            "FUNDS_DATABASE_POOL_SIZE": str(max(10, args.clients // args.workers + 4)),
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "fupin_funds.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
        )
        try:
            deadline = time.time() + 60
            while True:
                try:
                    asyncio.run(api_call(port, token, "GET", "/healthz"))
                    break
                except (OSError, RuntimeError, ValueError):
                    if time.time() > deadline or server.poll() is not None:
                        raise RuntimeError("the funds API did not start") from None
                    time.sleep(0.3)

            # Throughput: plenty of money in the one project account.
            project_id, account = asyncio.run(prepare(port, token, "100000000.00", 2024))
            common = {
                "mode": "api",
                "port": port,
                "token": token,
                "clients": args.clients,
                "on": "2024-02-02",
            }
            script = Path(tmp) / "payments.lua"
            script.write_text(WRK_SCRIPT, encoding="utf-8")
            run_payments(wrk, script, port, token, project_id, args.clients, 2)  # warm-up
            database = dsn.rsplit("/", 1)[1]
            server_cpu, backend_cpu = server_process(server.pid), database_backends(database)
            # The API and the baseline take turns (--rounds), so that a machine whose speed drifts
            # during the run weighs on both alike.
            slot = max(1, round(args.seconds / args.rounds))
            api: dict[str, float] = {
                "requests": 0,
                "ok": 0,
                "non_2xx": 0,
                "socket_errors": 0,
                "paid": 0,
            }
            api_seconds = api_server_cpu = api_postgres_cpu = 0.0
            p50s, p99s = [], []
            raw = {"ok": 0, "elapsed": 0.0, "postgres_cpu_s": 0.0}
            for _ in range(args.rounds):
                payments_before = asyncio.run(ledger_checks(dsn, account))["payments"]
                cpu_before = cpu_seconds(server_cpu), cpu_seconds(backend_cpu)
                turn = run_payments(wrk, script, port, token, project_id, args.clients, slot)
                cpu_after = cpu_seconds(server_cpu), cpu_seconds(backend_cpu)
                throughput_checks = asyncio.run(ledger_checks(dsn, account))
                for name in ("requests", "ok", "non_2xx", "socket_errors"):
                    api[name] += turn[name]
                # What the ledger holds, not what wrk counted: requests still in flight when wrk
                # stopped were paid too.
                api["paid"] += throughput_checks["payments"] - payments_before
                api_seconds += turn["ok"] / turn["rate"] if turn["rate"] else slot
                api_server_cpu += cpu_after[0] - cpu_before[0]
                api_postgres_cpu += cpu_after[1] - cpu_before[1]
                p50s.append(turn["p50_ms"])
                p99s.append(turn["p99_ms"])
                base = run_load_process(
                    {"mode": "baseline", "dsn": dsn, "clients": args.clients, "seconds": slot}
                )
                raw["ok"] += base["ok"]
                raw["elapsed"] += base["elapsed"]
                raw["postgres_cpu_s"] += base["postgres_cpu_us"] * base["ok"] / 1e6
            api["rate"] = api["ok"] / api_seconds
            api["p50_ms"], api["p99_ms"] = max(p50s), max(p99s)  # the worse turn's
            api["server_cpu_us"] = api_server_cpu / api["paid"] * 1e6
            api["postgres_cpu_us"] = api_postgres_cpu / api["paid"] * 1e6
            raw["rate"] = raw["ok"] / raw["elapsed"]
            raw["postgres_cpu_us"] = raw["postgres_cpu_s"] / raw["ok"] * 1e6

            # Overdraft round: try to pay twice what the account holds.
            funded_fen = 50_000  # 500.00 in payments of 1.00
            drain_id, drain_account = asyncio.run(prepare(port, token, "500.00", 2023))
            drain = run_load_process(
                {
                    **common,
                    "on": "2023-02-02",
                    "project_id": drain_id,
                    "seconds": 60.0,
                    "amount": "1.00",
                    "max_requests": 2 * funded_fen // 100,
                }
            )
            drain_checks = asyncio.run(ledger_checks(dsn, drain_account))
        finally:
            server.terminate()
            server.wait(timeout=30)

    cores = os.cpu_count() or 1
    overdrafts = drain_checks["negative_balances"] + max(0, drain["ok"] - funded_fen // 100)
    result = {
        "metric": f"ledger disbursements from one account, {args.clients} clients through the API",
        "value": round(api["rate"], 1),
        "unit": "disbursements/s",
        "baseline": round(raw["rate"], 1),
        "baseline_description": (
            "single conditional UPDATE ... WHERE balance >= x RETURNING in a loop,"
            f" {args.clients} asyncpg connections"
        ),
        "ratio": round(api["rate"] / raw["rate"], 3),
        "cores": cores,
        "uvicorn_workers": args.workers,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "api_p50_ms": round(api["p50_ms"], 2),
        "api_p99_ms": round(api["p99_ms"], 2),
        "api_requests": api["requests"],
        "api_non_2xx": api["non_2xx"],
        "api_socket_errors": api["socket_errors"],
        "load_generator": "wrk -t1 (separate process)",
        "api_server_cpu_us_per_disbursement": round(api["server_cpu_us"], 1),
        "api_postgres_cpu_us_per_disbursement": round(api["postgres_cpu_us"], 1),
        "baseline_postgres_cpu_us_per_update": round(raw["postgres_cpu_us"], 1),
        "overdrafts": overdrafts,
        "entries_balance": throughput_checks["entries_balance"] and drain_checks["entries_balance"],
        "overdraft_round": {
            "attempted": sum(drain["statuses"].values()),
            "succeeded": drain["ok"],
            "funded_payments": funded_fen // 100,
            "statuses": drain["statuses"],
            "final_balance_fen": drain_checks["project_balance_fen"],
        },
        # Every 201 is in the ledger; beyond them, at most the requests cut off by wrk's stops.
        "ledger_payments_match_201s": api["ok"]
        <= api["paid"]
        <= api["ok"] + args.clients * args.rounds + api["socket_errors"],
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"API     {result['value']:>9.1f} disbursements/s  (p50 {result['api_p50_ms']} ms, p99 "
        f"{result['api_p99_ms']} ms)"
    )
    print(
        f"        CPU per disbursement: API server {api['server_cpu_us']:.0f} us, PostgreSQL "
        f"{api['postgres_cpu_us']:.0f} us"
    )
    print(
        f"raw SQL {result['baseline']:>9.1f} updates/s  (PostgreSQL CPU per update "
        f"{raw['postgres_cpu_us']:.0f} us)"
    )
    print(
        f"ratio   {result['ratio']:.3f}  cores {cores}  overdrafts {overdrafts}  entries balance "
        f"{result['entries_balance']}"
    )
    print(
        f"overdraft round: {drain['ok']} of {result['overdraft_round']['attempted']} paid, "
        f"{funded_fen // 100} fundable, final balance {drain_checks['project_balance_fen']} fen"
    )
    print(f"wrote {RESULT.relative_to(ROOT)}")
    ok = (
        overdrafts == 0
        and result["entries_balance"]
        and result["ledger_payments_match_201s"]
        and api["non_2xx"] == 0
        and drain["ok"] == funded_fen // 100
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
