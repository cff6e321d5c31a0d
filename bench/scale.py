"""Benchmark of the shared stores and ``--workers`` (DESIGN §11), measured in one run as ratios:

    python bench/scale.py [--duration 4] [--rounds 3] [--markdown FILE]

- per-token CPU cost: the server's user+sys seconds per 10,000 client-credentials tokens (RS256
  JWT and opaque) with the in-memory store, SQLite and Redis; each server pinned to one core, wrk
  on the other; Redis's own CPU is shown beside it (it is another process's cost);
- ``--workers 2`` against one worker, both over a temporary SQLite store, unpinned on two cores.

Starts its own redis-server (Debian's, installed with wrk when missing) on a free loopback port.
Every load run is bounded in time; every server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import BIN, LUA, SERVER_CORE, Target, ensure_wrk, fixtures, free_port, stop, wrk

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a process and of its children (``--workers``)."""
    total = 0.0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def start(argv: list[str], pinned: bool = True) -> tuple[subprocess.Popen[bytes], int]:
    proc, port, _ = Target(argv[0], argv, pinned=pinned).start()
    return proc, port


def ensure_redis() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "redis-server"],
                   stdout=subprocess.DEVNULL, check=True)
    return shutil.which("redis-server") or sys.exit("redis-server is not installed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    args = parser.parse_args()
    binary = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="mock-op-auth-scale-"))
    script = tmp / "bench.lua"
    script.write_text(LUA, "utf-8")
    paths = fixtures(tmp)
    redis_port = free_port()
    redis = subprocess.Popen(["taskset", "-c", "0", ensure_redis(), "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    serve = [str(BIN / "mock-op-auth"), "serve", "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning"]
    stores = {"memory": [], "sqlite": ["--state", f"sqlite:///{tmp}/state-{{fmt}}.db"],
              "redis": ["--state", f"redis://127.0.0.1:{redis_port}/0?prefix=bench-{{fmt}}"]}
    cost: dict[tuple[str, str], list[float]] = {}
    redis_cost: dict[str, list[float]] = {}
    rps: dict[str, list[float]] = {}
    try:
        time.sleep(0.3)
        servers = {(store, fmt): start([*serve, "--fixtures", str(paths[fmt]),
                                        *[a.replace("{fmt}", fmt) for a in extra]])
                   for store, extra in stores.items() for fmt in ("jwt", "opaque")}
        for _, port in servers.values():
            wrk(binary, script, port, 16, 1)  # warm-up
        for _ in range(args.rounds):
            for (store, fmt), (proc, port) in servers.items():
                before, redis_before = cpu_seconds(proc.pid), cpu_seconds(redis.pid)
                result = wrk(binary, script, port, 16, args.duration)
                requests = result["rps"] * args.duration
                cost.setdefault((store, fmt), []).append((cpu_seconds(proc.pid) - before) / requests * 10_000)
                if store == "redis":
                    redis_cost.setdefault(fmt, []).append((cpu_seconds(redis.pid) - redis_before) / requests * 10_000)
        for proc, _ in servers.values():
            stop(proc)
        # --workers: one process against two, over a temporary SQLite store each, on both cores
        workers = {"1 worker": [*serve, "--state", f"{tmp}/one.db"], "2 workers": [*serve, "--workers", "2"]}
        for _ in range(args.rounds):
            for name, argv in workers.items():
                proc, port = start(argv, pinned=False)
                try:
                    rps.setdefault(name, []).append(wrk(binary, script, port, 64, args.duration)["rps"])
                finally:
                    stop(proc)
    finally:
        redis.terminate()
        redis.wait()
    table = render({k: statistics.median(v) for k, v in cost.items()},
                   {k: statistics.median(v) for k, v in redis_cost.items()},
                   {k: statistics.median(v) for k, v in rps.items()}, args)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", "utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def render(cost: dict[tuple[str, str], float], redis_cost: dict[str, float], rps: dict[str, float],
           args: argparse.Namespace) -> str:
    rows = ["| measure | value | baseline | ratio | target | ok |", "|---|---|---|---|---|---|"]
    for fmt in ("jwt", "opaque"):
        base = cost[("memory", fmt)]
        rows.append(f"| CPU s per 10,000 {fmt} tokens, memory | {base:.2f} | | | | |")
        for store, target in (("sqlite", 1.3), ("redis", 1.6)):
            ratio = cost[(store, fmt)] / base
            extra = f" (+ redis-server {redis_cost[fmt]:.2f})" if store == "redis" else ""
            rows.append(f"| CPU s per 10,000 {fmt} tokens, {store}{extra} | {cost[(store, fmt)]:.2f} | {base:.2f} | "
                        f"{ratio:.2f}x | <= {target}x | {'yes' if ratio <= target else 'NO'} |")
    ratio = rps["2 workers"] / rps["1 worker"]
    rows.append(f"| tokens/s, --workers 2 (jwt, SQLite, two cores) | {rps['2 workers']:.0f} | "
                f"{rps['1 worker']:.0f} | {ratio:.2f}x | >= 1.6x | {'yes' if ratio >= 1.6 else 'NO'} |")
    head = (f"wrk, {args.rounds} interleaved rounds of {args.duration} s (median); CPU runs: server pinned to CPU "
            f"{SERVER_CORE}, wrk and redis-server to CPU 0, concurrency 16; workers: unpinned, concurrency 64")
    return "\n".join([head, "", *rows])


if __name__ == "__main__":
    sys.exit(main())
