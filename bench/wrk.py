"""wrk, the load generator of the HTTP benchmarks: a separate process costing the machine far
less per request than any Python client. Installed from Debian's packages when missing.

A benchmark's Lua script ends with a ``done`` function writing one line,
``RESULT <requests> <duration us> <non-2xx> <socket errors> <p50 us> <p99 us>``: ``DONE_LUA``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DONE_LUA = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %.1f %.1f\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"],
            check=False,
            env=env,
            capture_output=True,
        )
    found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is required: apt-get install wrk")
    return found


def run_wrk(
    wrk: str, script: Path, url: str, *, env: dict[str, str], connections: int, seconds: int
) -> dict[str, float]:
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    output = subprocess.run(
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    line = next(li for li in output.splitlines() if li.startswith("RESULT "))
    requests, duration_us, bad_status, socket_errors, p50_us, p99_us = (
        float(v) for v in line.split()[1:]
    )
    return {
        "requests": requests,
        "per_s": requests / (duration_us / 1e6),
        "non_2xx": bad_status,
        "socket_errors": socket_errors,
        "p50_ms": p50_us / 1000,
        "p99_ms": p99_us / 1000,
    }
