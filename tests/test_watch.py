"""``serve --watch`` as a real process: a changed fixture is picked up, a broken one refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

FIXTURE = {
    "clients": {"first": {"secret": "first-secret", "grant_types": ["client_credentials"], "scopes": ["accounts"]}},
    "scenarios": {"outage": {"rules": [{"match": {"endpoint": "token"}, "respond": {"status": 503}}]}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def write(path: Path, data: object) -> None:
    """Write so that the size changes or the mtime moves, as an editor's save does."""
    text = yaml.safe_dump(data) if not isinstance(data, str) else data
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path, Path]]:
    fixture, log = tmp_path / "bank.yaml", tmp_path / "server.log"
    write(fixture, FIXTURE)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_OP_AUTH_")}
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "mock_op_auth", "serve", "--port", str(port), "--fixtures",
                                 str(fixture), "--watch", "--log-level", "info"], stdout=sink, stderr=sink, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            def healthy() -> bool:
                try:
                    return client.get("/_mock/health").status_code == 200
                except httpx.TransportError:
                    return False
            wait_for(healthy, "the server to start")
            yield client, fixture, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def token(client: httpx.Client, who: str) -> httpx.Response:
    return client.post("/token", data={"grant_type": "client_credentials"}, auth=(who, f"{who}-secret"))


def test_watch_reloads_a_changed_fixture_and_refuses_a_broken_one(served: tuple[httpx.Client, Path, Path]) -> None:
    client, fixture, log = served
    first = token(client, "first").json()["access_token"]
    client.put("/_mock/scenario", json={"name": "outage"})
    client.post("/_mock/clock", json={"advance": 100})
    assert token(client, "second").status_code == 401

    changed = {**FIXTURE, "clients": {**FIXTURE["clients"], "second": {
        "secret": "second-secret", "grant_types": ["client_credentials"], "scopes": ["accounts"]}}}
    write(fixture, changed)
    wait_for(lambda: token(client, "second").status_code == 503, "the new client to be known")
    assert client.get("/_mock/scenarios").json()["active"] == "outage"  # state survives a reload
    assert client.get("/_mock/clock").json()["offset"] == pytest.approx(100)
    assert client.post("/introspect", data={"token": first}, auth=("first", "first-secret")).json()["active"]

    write(fixture, "clients:\n  third: {secret: x, grant_types: [client_credentials], colour: red}\n")
    wait_for(lambda: "fixtures not reloaded" in log.read_text(), "the refusal in the log")
    line = next(ln for ln in log.read_text().splitlines() if "fixtures not reloaded" in ln)
    assert "ERROR" in line and "clients.third.colour" in line and str(fixture) in line
    client.put("/_mock/scenario", json={"name": None})
    assert token(client, "second").status_code == 200  # the last good configuration is still served
    assert token(client, "third").status_code == 401


def test_a_directory_is_watched_as_a_whole(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from mock_op_auth import Settings, create_app, load_fixtures
    from mock_op_auth.watch import reload_once, signature

    write(tmp_path / "a.yaml", FIXTURE)
    server = create_app(load_fixtures(tmp_path), Settings()).state.server
    before = signature(tmp_path)
    write(tmp_path / "b.yml", {"users": {"zoe": {}}})
    assert signature(tmp_path) != before  # a new file counts as a change
    assert reload_once(server, tmp_path)
    assert "zoe" in server.config.users
    write(tmp_path / "c.json", '{"clients": {"first": {"secret": "again", "grant_types": ["client_credentials"]}}}')
    assert not reload_once(server, tmp_path)
    assert "duplicate id" in caplog.text and "c.json" in caplog.text
    assert server.config.clients["first"].secret == "first-secret"


def test_a_reload_changes_the_scenario_a_reset_returns_to(served: tuple[httpx.Client, Path, Path]) -> None:
    client, fixture, _ = served

    def a_reset_goes_to(name: str | None) -> Callable[[], bool]:
        def check() -> bool:
            assert client.post("/_mock/reset").status_code == 200
            return client.get("/_mock/scenarios").json()["active"] == name
        return check

    write(fixture, {**FIXTURE, "server": {"default_scenario": "outage"}})
    wait_for(a_reset_goes_to("outage"), "a reset to the new default scenario")
    write(fixture, FIXTURE)  # the default removed again
    wait_for(a_reset_goes_to(None), "a reset to no scenario")
