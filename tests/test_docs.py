"""The documentation's shell examples run exactly as written against a live server.

Every ```sh block in README.md and docs/*.md is read in order, as a user would follow it: a
line ``[VAR=value ...] mock-op-auth serve [flags]`` starts a fresh server (the default one
when a file has none), and the commands after it run as one bash script against it, with
``127.0.0.1:8080`` rewritten to the server's free port. Blocks that never mention
``127.0.0.1:8080`` or start a server are not run; a block right after ``<!-- no-test -->`` is
skipped. ``<!-- expect: TEXT -->`` lines in a file name text its examples' output must contain.
"""

from __future__ import annotations

import os
import re
import shlex
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.test_cli import CLI, free_port, wait_ready

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- no-test -->\s*)?```sh\n(.*?)```", re.S)
SERVE = re.compile(r"^((?:[A-Z_][A-Z0-9_]*=\S+\s+)*)(?:\.venv/bin/)?mock-op-auth serve\b(.*)$")
EXPECT = re.compile(r"<!-- expect: (.*?) -->")


@dataclass
class Segment:
    """Commands run against one server, started with ``env`` and ``args``."""

    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def segments(path: Path) -> list[Segment]:
    found = [Segment()]
    for skip, body in BLOCK.findall(path.read_text()):
        if skip or ("127.0.0.1:8080" not in body and "mock-op-auth serve" not in body):
            continue
        for line in body.splitlines():
            match = SERVE.match(line.strip())
            if match:
                env = dict(item.split("=", 1) for item in match.group(1).split())
                found.append(Segment(env, shlex.split(match.group(2))))
            else:
                found[-1].lines.append(line)
    return [s for s in found if any(line.strip() and not line.lstrip().startswith("#") for line in s.lines)]


def wait_ready_tls(url: str, proc: subprocess.Popen[str], tls_dir: Path, timeout: float = 20) -> None:
    """``wait_ready`` for ``serve --tls``: the CA it makes on start is the one to trust."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            context = ssl.create_default_context(cafile=str(tls_dir / "ca.crt"))
            if httpx.get(f"{url}/_mock/health", timeout=0.5, verify=context).status_code == 200:
                return
        except (httpx.TransportError, OSError, ssl.SSLError):
            time.sleep(0.05)
    raise AssertionError("server did not become ready")


def run_segment(segment: Segment, tls_dir: Path) -> subprocess.CompletedProcess[str]:
    """One server and its commands; both see ``MOCK_OP_AUTH_TLS_DIR``, so ``certs`` finds the server's CA."""
    port = free_port()
    args = [a for a in segment.args if a not in ("--port", "8080")]
    script = "\n".join(segment.lines).replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    env = {**os.environ, "MOCK_OP_AUTH_TLS_DIR": str(tls_dir), **segment.env,
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    tls = "--tls" in args or segment.env.get("MOCK_OP_AUTH_TLS") in ("1", "true")
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    with subprocess.Popen([*CLI, "serve", *args, "--port", str(port), "--log-level", "warning"], cwd=ROOT,
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        try:
            if tls:
                wait_ready_tls(url, proc, tls_dir)
            else:
                wait_ready(url, proc)
            return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True,
                                  text=True, timeout=120, env=env)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.mark.parametrize("doc", [d for d in DOCS if segments(d)], ids=lambda d: d.name)
def test_shell_examples_run_as_written(doc: Path, tmp_path: Path) -> None:
    output = ""
    for segment in segments(doc):
        result = run_segment(segment, tmp_path / "tls")
        assert result.returncode == 0, f"{doc.name} examples failed:\n{result.stdout}\n{result.stderr}"
        output += result.stdout
    for expected in EXPECT.findall(doc.read_text()):
        assert expected in output, f"{doc.name}: {expected!r} not in the output:\n{output}"
