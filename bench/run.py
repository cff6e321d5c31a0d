"""Benchmark: the mock as a user runs it (``mock-op-auth serve`` on one core) against two baselines
built here (bench/baselines.py), measured in the same run with wrk on the other core.

    python bench/run.py [--duration 5] [--markdown FILE]

Measures client-credentials tokens/s with p50/p99 for RS256 JWT and opaque tokens, resource-stub
requests/s with a valid token (concurrency 16 and 64), RS256 tokens/s over TLS against the signing
baseline over TLS (same certificate), cold start (spawn to the first 200 token
response) and RSS after load, and prints each as a ratio against its target. Installs Debian's
wrk when it is missing. Every server listens on 127.0.0.1 only; every load run is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
SERVER_CORE, LOAD_CORE = "1", "0"
CONCURRENCY = (16, 64)
FORM = "grant_type=client_credentials&scope=accounts"
BASIC = "Basic " + base64.b64encode(b"demo-client:demo-secret").decode()
RESOURCE = "/accounts/v3/accounts"

LUA = """
wrk.method = os.getenv("BENCH_METHOD")
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local key = os.getenv("BENCH_API_KEY")
if key ~= "" then wrk.headers["x-api-key"] = key end
if wrk.method == "GET" then wrk.body = nil end
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read
            + summary.errors.write + summary.errors.timeout
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, '
    .. '"detail": "status %d, connect %d, read %d, write %d, timeout %d"}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def ensure_wrk() -> str:
    """wrk from Debian, installed when missing (waits for a dpkg lock held by someone else)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (apt-get)...", file=sys.stderr)
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-q"], stdout=subprocess.DEVNULL)
        subprocess.run(install, stdout=subprocess.DEVNULL, check=True)
    return shutil.which("wrk") or sys.exit("wrk is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_token(port: int, timeout: float = 2.0, tls: ssl.SSLContext | None = None) -> dict[str, object] | None:
    scheme = "https" if tls else "http"
    request = urllib.request.Request(f"{scheme}://127.0.0.1:{port}/token", data=FORM.encode(), method="POST",
                                     headers={"Authorization": BASIC,
                                              "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls) as response:
            return json.loads(response.read()) if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class Target:
    """A server process started the way a user starts it, pinned to the server core unless not ``pinned``."""

    name: str
    argv: list[str]
    tls: ssl.SSLContext | None = None  # HTTPS: the context that trusts its certificate
    pinned: bool = True

    def start(self) -> tuple[subprocess.Popen[bytes], int, float]:
        """Spawn on a fresh port; returns (process, port, seconds from spawn to the first 200 token)."""
        port = free_port()
        argv = [a.replace("{port}", str(port)) for a in self.argv]
        started = time.perf_counter()
        prefix = ["taskset", "-c", SERVER_CORE] if self.pinned else []
        proc = subprocess.Popen([*prefix, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = started + 30
        while time.perf_counter() < deadline:
            if post_token(port, timeout=1.0, tls=self.tls) is not None:
                return proc, port, time.perf_counter() - started
            if proc.poll() is not None:
                raise SystemExit(f"{self.name} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.002)
        proc.kill()
        raise SystemExit(f"{self.name} did not answer within 30 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk(binary: str, script: Path, port: int, conns: int, duration: int, path: str = "/token",
        method: str = "POST", auth: str = BASIC, api_key: str = "", scheme: str = "http") -> dict[str, float]:
    env = {**os.environ, "BENCH_METHOD": method, "BENCH_BODY": FORM, "BENCH_AUTH": auth, "BENCH_API_KEY": api_key}
    out = subprocess.run(["taskset", "-c", LOAD_CORE, binary, "-t", "2", "-c", str(conns), "-d", f"{duration}s",
                          "--timeout", "5s", "-s", str(script), f"{scheme}://127.0.0.1:{port}{path}"],
                         env=env, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[6:])
    if data["errors"]:
        print(f"wrk errors against port {port} {path}: {data['detail']}", file=sys.stderr)
    return {"rps": data["requests"] / (data["duration_us"] / 1e6), "p50": data["p50_us"] / 1000,
            "p99": data["p99_us"] / 1000, "errors": data["errors"]}


def fixtures(tmp: Path) -> dict[str, Path]:
    from mock_op_auth.config import loader

    text = (Path(loader.__file__).parent / "default.yaml").read_text("utf-8")
    paths = {}
    for fmt in ("jwt", "opaque"):
        data = yaml.safe_load(text)
        data["server"]["access_token_format"] = fmt
        paths[fmt] = tmp / f"{fmt}.yaml"
        paths[fmt].write_text(yaml.safe_dump(data), "utf-8")
    return paths


def cold_starts(targets: list[Target], runs: int) -> dict[str, float]:
    """Median spawn-to-first-token time per target, spawns alternating so drift hits all alike."""
    times: dict[str, list[float]] = {t.name: [] for t in targets}
    for _ in range(runs):
        for target in targets:
            proc, _, seconds = target.start()
            stop(proc)
            times[target.name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median throughput (its latencies with it), errors summed over all runs."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return {**ordered[len(ordered) // 2], "errors": sum(r["errors"] for r in runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over all servers (median)")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold starts per server (median)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table to FILE")
    args = parser.parse_args()
    binary = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="mock-op-auth-bench-"))
    script = tmp / "bench.lua"
    script.write_text(LUA, "utf-8")
    paths = fixtures(tmp)
    py = str(BIN / "python")
    uvicorn = [py, "-m", "uvicorn", "--app-dir", str(BENCH), "--host", "127.0.0.1", "--port", "{port}",
               "--log-level", "warning", "--no-access-log"]
    serve = [str(BIN / "mock-op-auth"), "serve", "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning"]
    # HTTPS: the mock with its own TLS directory, the signing baseline with the same certificate.
    from mock_op_auth.tls.certs import ensure_server_cert

    tls_dir = tmp / "tls"
    server_cert = ensure_server_cert(tls_dir)
    trust = ssl.create_default_context(cafile=str(server_cert.ca.cert_file))
    targets = {
        "static": Target("static", [*uvicorn, "baselines:static_app"]),
        "signing": Target("signing", [*uvicorn, "baselines:signing_app"]),
        "jwt": Target("jwt", [*serve, "--fixtures", str(paths["jwt"])]),
        "opaque": Target("opaque", [*serve, "--fixtures", str(paths["opaque"])]),
        "signing_tls": Target("signing_tls", [*uvicorn, "--ssl-keyfile", str(server_cert.key_file),
                                              "--ssl-certfile", str(server_cert.cert_file), "baselines:signing_app"],
                              trust),
        "jwt_tls": Target("jwt_tls", [*serve, "--tls", "--tls-dir", str(tls_dir), "--fixtures", str(paths["jwt"])],
                          trust),
    }
    cold = cold_starts([targets["static"], targets["jwt"]], args.cold_runs)
    # All four servers run side by side (each pinned to the server core, idle unless loaded) and
    # the load visits them in turn, round after round: background noise on a shared machine
    # then hits baseline and mock alike, and the ratios hold even when absolute numbers move.
    started = {name: target.start()[:2] for name, target in targets.items()}
    idle = {name: rss_mib(proc.pid) for name, (proc, _) in started.items()}
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    rss: dict[str, float] = {}
    try:
        schemes = {name: "https" if target.tls else "http" for name, target in targets.items()}
        for name, (_, port) in started.items():
            wrk(binary, script, port, 16, 1, scheme=schemes[name])  # warm-up
        jwt_port = started["jwt"][1]
        for _ in range(args.rounds):
            for name, (_, port) in started.items():
                for conns in CONCURRENCY:
                    runs.setdefault((name, conns), []).append(
                        wrk(binary, script, port, conns, args.duration, scheme=schemes[name]))
            # A fresh token per round: the store keeps at most 50,000 live tokens, and a token it
            # has dropped (the oldest first) is refused like any token it does not know.
            token = post_token(jwt_port)
            assert token is not None
            bearer = f"Bearer {token['access_token']}"
            for conns in CONCURRENCY:
                runs.setdefault(("resource", conns), []).append(
                    wrk(binary, script, jwt_port, conns, args.duration, RESOURCE, "GET", bearer, "demo-client"))
        rss = {name: rss_mib(proc.pid) for name, (proc, _) in started.items()}
    finally:
        for proc, _ in started.values():
            stop(proc)
    results = {key: median_run(values) for key, values in runs.items()}
    table = render(results, cold, idle, rss, args.duration, args.rounds)
    print(table)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", "utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def render(results: dict[tuple[str, int], dict[str, float]], cold: dict[str, float], idle: dict[str, float],
           rss: dict[str, float], duration: int, rounds: int) -> str:
    rows = ["| measure | c | value | p50 ms | p99 ms | errors | baseline | ratio | target | ok |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, base, target in (("signing", None, None), ("static", None, None), ("jwt", "signing", 0.9),
                               ("opaque", "static", 0.5), ("resource", "static", 0.5),
                               ("signing_tls", None, None), ("jwt_tls", "signing_tls", 0.8)):
        label = {"signing": "signing baseline tokens/s", "static": "static baseline tokens/s",
                 "jwt": "RS256 JWT tokens/s", "opaque": "opaque tokens/s", "resource": "resource requests/s",
                 "signing_tls": "signing baseline tokens/s over TLS",
                 "jwt_tls": "RS256 JWT tokens/s over TLS"}[name]
        for conns in CONCURRENCY:
            r = results[(name, conns)]
            if base is None:
                rows.append(f"| {label} | {conns} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                            f"{r['errors']:.0f} | | | | |")
                continue
            ratio = r["rps"] / results[(base, conns)]["rps"]
            rows.append(f"| {label} | {conns} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['errors']:.0f} "
                        f"| {results[(base, conns)]['rps']:.0f} | {ratio:.2f}x | >= {target}x | "
                        f"{'yes' if ratio >= target and not r['errors'] else 'NO'} |")
    ratio = cold["jwt"] / cold["static"]
    rows.append(f"| cold start ms | | {cold['jwt'] * 1000:.0f} | | | | {cold['static'] * 1000:.0f} | {ratio:.2f}x "
                f"| <= 1.2x | {'yes' if ratio <= 1.2 else 'NO'} |")
    rows.append(f"| RSS idle MiB (jwt / opaque) | | {idle['jwt']:.1f} / {idle['opaque']:.1f} | | | | "
                f"{idle['static']:.1f} | | | |")
    for name in ("jwt", "opaque"):
        rows.append(f"| RSS after load MiB ({name}) | | {rss[name]:.1f} | | | | {rss['static']:.1f} | | <= 70 MiB | "
                    f"{'yes' if rss[name] <= 70 else 'NO'} |")
    head = (f"wrk: {rounds} interleaved rounds of {duration} s per server and concurrency (median shown); "
            f"servers pinned to CPU {SERVER_CORE}, wrk to CPU {LOAD_CORE}; RSS of the mock after all rounds")
    return "\n".join([head, "", *rows])


if __name__ == "__main__":
    sys.exit(main())
