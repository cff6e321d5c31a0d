"""A real ``mock-op-auth serve`` process on 127.0.0.1, for tests that need sockets or a restart."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent / "mock-op-auth"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(port: int, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``serve`` with ``args`` and return once it answers health (its stderr goes to ``log``)."""
    with log.open("ab") as sink:
        proc = subprocess.Popen([str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level",
                                 "warning", *args], stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_mock/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            if proc.poll() is not None:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.05)  # polling a starting process, not waiting on time
    proc.kill()
    proc.wait()
    raise AssertionError("the server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
