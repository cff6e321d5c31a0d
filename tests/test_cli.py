"""The command line as a user runs it: real subprocesses, real sockets on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CLI = [sys.executable, "-m", "mock_op_auth"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/_mock/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("server did not become ready")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "warning"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "MOCK_OP_AUTH_ISSUER": "http://issuer.example"}) as proc:
        try:
            wait_ready(url, proc)
            yield url, proc
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_serve_answers_tokens_with_the_configured_issuer(served: tuple[str, subprocess.Popen[str]]) -> None:
    url, _ = served
    response = httpx.post(f"{url}/token", data={"grant_type": "client_credentials"},
                          auth=("demo-client", "demo-secret"))
    assert response.status_code == 200
    doc = httpx.get(f"{url}/.well-known/openid-configuration").json()
    assert doc["issuer"] == "http://issuer.example"


def test_healthcheck_exits_0_against_a_ready_server(served: tuple[str, subprocess.Popen[str]]) -> None:
    url, _ = served
    result = run("healthcheck", "--url", url)
    assert result.returncode == 0, result.stderr


def test_healthcheck_reads_the_port_from_the_environment(served: tuple[str, subprocess.Popen[str]]) -> None:
    url, _ = served
    result = run("healthcheck", env={"MOCK_OP_AUTH_PORT": url.rsplit(":", 1)[1]})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("env", "reason"), [
    ({"MOCK_OP_AUTH_PORT": "eighty"}, "port: Input should be a valid integer"),
    ({"MOCK_OP_AUTH_LOG_LEVEL": "loud"}, "log_level: Input should be"),
    ({"mock_op_auth_workers": "0"}, "workers: Input should be greater than or equal to 1"),  # names match in any case
    # every endpoint in discovery and every iss is built on the issuer (RFC 8414 §2)
    ({"MOCK_OP_AUTH_ISSUER": "not-a-url"}, "must be an http:// or https:// URL with a host"),
    ({"MOCK_OP_AUTH_ISSUER": "ftp://op.example"}, "must be an http:// or https:// URL"),
    ({"MOCK_OP_AUTH_ISSUER": "https://op.example/?tenant=1"}, "no query or fragment"),
    ({"MOCK_OP_AUTH_ISSUER": "https://op.example/#x"}, "no query or fragment"),
    ({"MOCK_OP_AUTH_ISSUER": "https://op.example/a b"}, "no blanks"),
    ({"MOCK_OP_AUTH_ISSUER": "https://op.example:http/"}, "is not a URL"),
])
def test_a_bad_setting_in_the_environment_exits_2_with_the_reason(env: dict[str, str], reason: str) -> None:
    result = run("serve", env=env)
    assert result.returncode == 2
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_healthcheck_exits_1_when_nothing_answers() -> None:
    result = run("healthcheck", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "1")
    assert result.returncode == 1
    assert "unhealthy" in result.stderr


def test_check_accepts_a_good_file_and_reports_each_problem(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("clients:\n  a: {secret: s, grant_types: [client_credentials], scopes: [x]}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("clients:\n  a: {secret: s, grant_types: [teleport]}\nserver: {code_ttl: -1}\n")
    ok = run("check", str(good))
    assert ok.returncode == 0 and "ok (1 clients" in ok.stdout
    failed = run("check", str(good), str(bad))
    assert failed.returncode == 1
    assert f"{bad}: clients.a.grant_types.0:" in failed.stdout
    assert f"{bad}: server.code_ttl:" in failed.stdout


@pytest.mark.parametrize("path", ["/x/{a}/{a}", "/x/{id:nope}"])
def test_check_refuses_a_resource_path_the_stub_cannot_match(tmp_path: Path, path: str) -> None:
    """It once passed check, then crashed serve, or under --watch made every request a 500."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("clients:\n  a: {secret: s, grant_types: [client_credentials], scopes: [x]}\n"
                   f"resources:\n  - {{path: '{path}', methods: [GET], scopes: [x]}}\n")
    failed = run("check", str(bad))
    assert failed.returncode == 1
    assert f"{bad}: resources.0.path:" in failed.stdout and "cannot be matched" in failed.stdout
    served = run("serve", "--port", "0", "--fixtures", str(bad))
    assert served.returncode == 1 and "Traceback" not in served.stderr


def test_serve_refuses_a_broken_fixture(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("clients: [")
    result = run("serve", "--fixtures", str(bad), "--port", str(free_port()))
    assert result.returncode == 1
    assert "cannot load fixtures" in result.stderr and "bad.yaml" in result.stderr


def test_info_logs_name_each_request_but_never_a_secret(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("w") as sink, subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "info"],
                                                 stdout=sink, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            wait_ready(url, proc)
            token = httpx.post(f"{url}/token", data={"grant_type": "client_credentials"},
                               auth=("demo-client", "demo-secret")).json()["access_token"]
            httpx.get(f"{url}/userinfo", params={"access_token": token})
            httpx.post(f"{url}/introspect", data={"token": token, "client_id": "demo-client",
                                                  "client_secret": "demo-secret"})
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    text = log.read_text()
    assert "POST /token 200" in text and "endpoint=introspect" in text
    for secret in ("demo-secret", token, token[-20:]):
        assert secret not in text
