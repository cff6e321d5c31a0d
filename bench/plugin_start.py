"""Measure what the pytest plugin costs a test run: the session start and the per-test reset.

    .venv/bin/python bench/plugin_start.py [--starts 10] [--resets 200]

Start: entering ``run_server()`` until the first access token is in hand (what the first test
using ``op_auth`` waits for), after the imports; the first start in the process is reported
on its own (it pays uvicorn's lazy imports). Reset: ``OpAuth.reset()`` over HTTP, as the
fixture does before each test. Targets: start <= 150 ms, reset <= 2 ms (median).
"""

from __future__ import annotations

import argparse
import statistics
import time

IMPORT_STARTED = time.perf_counter()

from mock_op_auth.testing import run_server  # noqa: E402

IMPORTS_MS = (time.perf_counter() - IMPORT_STARTED) * 1000
START_TARGET_MS = 150.0
RESET_TARGET_MS = 2.0


def time_start() -> float:
    started = time.perf_counter()
    with run_server() as server:
        server.token(scope="accounts")
        elapsed = time.perf_counter() - started
    return elapsed * 1000


def time_resets(count: int) -> list[float]:
    with run_server() as server:
        for _ in range(20):  # warm the connection and the code paths
            server.reset()
        times = []
        for _ in range(count):
            started = time.perf_counter()
            server.reset()
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=10, help="server starts to time (default 10)")
    parser.add_argument("--resets", type=int, default=200, help="resets to time (default 200)")
    args = parser.parse_args()
    first = time_start()
    starts = [time_start() for _ in range(args.starts)]
    resets = time_resets(args.resets)
    start_median, reset_median = statistics.median(starts), statistics.median(resets)
    rows = [
        ("imports (testing + server stack)", f"{IMPORTS_MS:.1f}", "", ""),
        ("start -> first token, first in process", f"{first:.1f}", f"<= {START_TARGET_MS:.0f}",
         "ok" if first <= START_TARGET_MS else "OVER"),
        (f"start -> first token, median of {args.starts}", f"{start_median:.1f}", f"<= {START_TARGET_MS:.0f}",
         "ok" if start_median <= START_TARGET_MS else "OVER"),
        (f"start -> first token, max of {args.starts}", f"{max(starts):.1f}", "", ""),
        (f"reset, median of {args.resets}", f"{reset_median:.3f}", f"<= {RESET_TARGET_MS:.0f}",
         "ok" if reset_median <= RESET_TARGET_MS else "OVER"),
        (f"reset, p95 of {args.resets}", f"{sorted(resets)[int(len(resets) * 0.95) - 1]:.3f}", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'ms':>8}  {'target':>7}  result")
    for name, value, target, result in rows:
        print(f"{name:<{width}}  {value:>8}  {target:>7}  {result}")
    return 0 if start_median <= START_TARGET_MS and reset_median <= RESET_TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
