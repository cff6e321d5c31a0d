"""Soak: issue N short-lived tokens through HTTP and report RSS growth over the steady state.

    python bench/soak.py [--tokens 500000] [--ttl 2] [--format opaque|jwt] [--max-seconds 900]

Starts ``mock-op-auth serve`` on one core with a fixture whose tokens live ``--ttl`` seconds,
drives client-credentials requests with wrk in bounded rounds until ``--tokens`` were issued
(or ``--max-seconds`` passed), and samples the server's RSS after each round. The steady state
is the RSS once the first 10% of the tokens are issued (stores at their working size); the
target is growth past it of at most 30 MiB. Loopback only; every round is bounded in time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml
from run import BIN, LUA, Target, ensure_wrk, rss_mib, stop, wrk

TARGET_MIB = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=500_000)
    parser.add_argument("--ttl", type=int, default=2, help="access token lifetime, seconds")
    parser.add_argument("--format", choices=["opaque", "jwt"], default="opaque")
    parser.add_argument("--round", type=int, default=10, help="seconds per wrk round")
    parser.add_argument("--max-seconds", type=int, default=900)
    args = parser.parse_args()
    binary = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="mock-op-auth-soak-"))
    script = tmp / "bench.lua"
    script.write_text(LUA, "utf-8")
    from mock_op_auth.config import loader

    fixture = yaml.safe_load((Path(loader.__file__).parent / "default.yaml").read_text("utf-8"))
    fixture["server"].update(access_token_format=args.format, access_token_ttl=args.ttl)
    path = tmp / "soak.yaml"
    path.write_text(yaml.safe_dump(fixture), "utf-8")
    target = Target("mock", [str(BIN / "mock-op-auth"), "serve", "--host", "127.0.0.1", "--port", "{port}",
                             "--log-level", "warning", "--fixtures", str(path)])
    proc, port, _ = target.start()
    issued, errors, steady = 0, 0, None
    started = time.monotonic()
    samples: list[tuple[int, float]] = [(0, rss_mib(proc.pid))]
    try:
        while issued < args.tokens and time.monotonic() - started < args.max_seconds:
            result = wrk(binary, script, port, 64, args.round)
            issued += int(result["rps"] * args.round)
            errors += int(result["errors"])
            samples.append((issued, rss_mib(proc.pid)))
            if steady is None and issued >= args.tokens // 10:
                steady = samples[-1][1]
            print(f"{issued:>9} tokens  {result['rps']:7.0f}/s  RSS {samples[-1][1]:6.1f} MiB", flush=True)
    finally:
        stop(proc)
    steady = steady if steady is not None else samples[-1][1]
    final, peak = samples[-1][1], max(s[1] for s in samples)
    growth = peak - steady
    elapsed = time.monotonic() - started
    print(f"\n{issued} tokens ({args.format}, ttl {args.ttl} s) in {elapsed:.0f} s, {errors} errors")
    print(f"RSS: start {samples[0][1]:.1f} MiB, steady {steady:.1f} MiB, peak {peak:.1f} MiB, end {final:.1f} MiB")
    print(f"growth over steady state: {growth:.1f} MiB (target <= {TARGET_MIB:.0f} MiB): "
          f"{'yes' if growth <= TARGET_MIB and issued >= args.tokens else 'NO'}")
    return 0 if growth <= TARGET_MIB else 1


if __name__ == "__main__":
    sys.exit(main())
