"""Real server processes on one store (DESIGN §11): SQLite and a real redis-server, concurrent
requests spread over every process, Redis going away mid-run, ``--state`` that cannot be used,
and ``serve --workers``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import redis_url
from tests.helpers import CLIENT, REDIRECT
from tests.live import BIN, free_port, start, stop

ATTEMPTS = 6  # codes and refresh tokens raced per store: each race is one chance to see a double use
ISSUER = "http://op-auth.test"  # replicas behind one name: a token's iss is the same at every process


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Three ``serve`` processes on one store (the test's parameter: sqlite or redis)."""
    spec = str(tmp_path / "state.db") if request.param == "sqlite" else request.getfixturevalue("redis_spec")
    procs = []
    try:
        for i in range(3):
            port = free_port()
            procs.append((port, start(port, "--state", spec, "--issuer", ISSUER, log=tmp_path / f"server-{i}.log")))
        yield [f"http://127.0.0.1:{port}" for port, _ in procs]
    finally:
        for _, proc in procs:
            stop(proc)


async def code_at(base: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.get("/authorize", params={
            "client_id": "demo-client", "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid accounts"})
        assert response.status_code == 302, response.text
        return str(httpx.URL(response.headers["location"]).params["code"])


async def at_once(calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """POST each (base, path, form) at the same moment, one connection per call, already open."""
    clients = [httpx.AsyncClient(base_url=base, auth=CLIENT) for base, _, _ in calls]
    try:
        for client in clients:  # connect first, so the requests leave together
            await client.get("/_mock/health")
        return list(await asyncio.gather(*(client.post(path, data=form)
                                           for client, (_, path, form) in zip(clients, calls, strict=True))))
    finally:
        for client in clients:
            await client.aclose()


@pytest.mark.parametrize("cluster", ["sqlite", "redis"], indirect=True)
async def test_a_code_redeemed_at_every_process_at_once_succeeds_once(cluster: list[str]) -> None:
    for _ in range(ATTEMPTS):
        code = await code_at(cluster[0])
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        answers = await at_once([(base, "/token", form) for base in cluster for _ in range(2)])
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] + [400] * 5, [r.text for r in answers]


@pytest.mark.parametrize("cluster", ["sqlite", "redis"], indirect=True)
async def test_a_refresh_token_refreshed_at_once_succeeds_once_and_the_family_dies_everywhere(
        cluster: list[str]) -> None:
    for _ in range(ATTEMPTS):
        code = await code_at(cluster[1])
        async with httpx.AsyncClient(base_url=cluster[2], auth=CLIENT) as client:
            tokens = (await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                        "redirect_uri": REDIRECT})).json()
        for base in cluster:
            async with httpx.AsyncClient(base_url=base, auth=CLIENT) as client:
                assert (await client.post("/introspect", data={"token": tokens["access_token"]})).json()["active"]
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        answers = await at_once([(base, "/token", form) for base in cluster for _ in range(2)])
        winners = [r for r in answers if r.status_code == 200]
        assert len(winners) == 1, [r.text for r in answers]
        assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code != 200)
        newest = winners[0].json()
        for base in cluster:  # reuse revoked the family, the winner's tokens included, at every process
            async with httpx.AsyncClient(base_url=base, auth=CLIENT) as client:
                seen = await client.post("/introspect", data={"token": newest["access_token"]})
                assert seen.json() == {"active": False}
                again = await client.post("/token", data={"grant_type": "refresh_token",
                                                          "refresh_token": newest["refresh_token"]})
                assert again.status_code == 400


@pytest.mark.parametrize("cluster", ["sqlite", "redis"], indirect=True)
async def test_processes_share_tokens_rules_clock_and_journal(cluster: list[str]) -> None:
    a, b, c = (httpx.AsyncClient(base_url=base, auth=CLIENT) for base in cluster)
    try:
        token = (await a.post("/token", data={"grant_type": "client_credentials"})).json()["access_token"]
        assert (await b.post("/introspect", data={"token": token})).json()["active"] is True
        await c.post("/revoke", data={"token": token})
        assert (await a.post("/introspect", data={"token": token})).json() == {"active": False}
        await b.post("/_mock/rules", json={"match": {"endpoint": "jwks"}, "respond": {"status": 500}, "times": 4})
        statuses = await asyncio.gather(*(client.get("/jwks") for client in (a, b, c, a, b, c)))
        assert sorted(r.status_code for r in statuses) == [200, 200, 500, 500, 500, 500]
        await c.post("/_mock/clock", json={"advance": 60})
        assert (await a.get("/_mock/clock")).json()["offset"] == pytest.approx(60)
        ids = [e["id"] for e in (await b.get("/_mock/requests")).json()["requests"]]
        assert len(ids) >= 10 and ids == sorted(set(ids))
    finally:
        for client in (a, b, c):
            await client.aclose()


# -- Redis going away mid-run -------------------------------------------------------------------------------

def redis_server(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A redis-server of this test's own (append-only file, so a restart keeps what it held)."""
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.05)  # waiting for the process to listen
    proc.kill()
    raise AssertionError("redis-server did not start")


def test_redis_going_away_answers_503_and_recovers_with_nothing_half_written(tmp_path: Path) -> None:
    redis_url()  # the suite's Redis is required, and so is redis-server for this one
    redis_port, port = free_port(), free_port()
    redis = redis_server(redis_port, tmp_path)
    server = start(port, "--state", f"redis://127.0.0.1:{redis_port}/0", log=tmp_path / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, auth=CLIENT, timeout=10) as client:
            code = client.get("/authorize", params={"client_id": "demo-client", "redirect_uri": REDIRECT,
                                                    "response_type": "code", "scope": "openid"})
            held = client.post("/token", data={"grant_type": "authorization_code", "redirect_uri": REDIRECT,
                                               "code": httpx.URL(code.headers["location"]).params["code"]}).json()
            redis.terminate()
            redis.wait(10)
            down = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": held["refresh_token"]})
            assert down.status_code == 503, down.text
            assert down.json()["error"] == "temporarily_unavailable"
            assert down.headers["retry-after"] == "1"
            control = client.get("/_mock/clock")
            assert control.status_code == 503 and control.json()["error"] == "temporarily_unavailable"
            redis = redis_server(redis_port, tmp_path)
            again = client.post("/token", data={"grant_type": "refresh_token",
                                                "refresh_token": held["refresh_token"]})
            assert again.status_code == 200, again.text  # the failed attempt rotated nothing
            assert client.post("/introspect", data={"token": again.json()["access_token"]}).json()["active"]
    finally:
        stop(server)
        redis.terminate()
        redis.wait(10)


# -- --state that cannot be used, and --workers ---------------------------------------------------------------

@pytest.mark.parametrize(("spec", "reason"), [
    ("postgres://db/x", "unknown store postgres://"),
    ("redis://127.0.0.1:notaport/0", "Port could not be cast"),
    ("redis://127.0.0.1:6379/zero", "the database is a number"),
    ("sqlite://", "sqlite:///relative/path"),
    # what redis-py would refuse only at the first connection
    ("redis://127.0.0.1:6379/0?db=abc", "Invalid value for 'db'"),
    ("redis://127.0.0.1:6379/0?socket_timeout=soon", "Invalid value for 'socket_timeout'"),
    ("redis://127.0.0.1:6379/0?colour=red", "colour"),
    ("redis://mock:s3cret-pw@127.0.0.1:6379/0?colour=red", "redis://mock:***@127.0.0.1:6379/0"),
])
def test_a_store_url_that_cannot_be_parsed_exits_2_with_the_reason(spec: str, reason: str) -> None:
    result = subprocess.run([str(BIN), "serve", "--port", "0", "--state", spec], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2, result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr


def test_a_store_that_cannot_be_reached_exits_1_with_the_reason() -> None:
    result = subprocess.run([str(BIN), "serve", "--port", "0", "--state", f"redis://127.0.0.1:{free_port()}/0"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "cannot reach Redis" in result.stderr


def test_a_redis_that_refuses_the_database_exits_1_with_the_reason() -> None:
    url = redis_url().split("?")[0].rsplit("/", 1)[0] + "/99999"
    result = subprocess.run([str(BIN), "serve", "--port", "0", "--state", url], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1, result.stderr
    assert "Redis refused" in result.stderr and "DB index is out of range" in result.stderr
    assert "Traceback" not in result.stderr


def test_workers_share_one_temporary_store_answer_healthcheck_and_stop_gracefully(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen([str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
                                 "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while subprocess.run([str(BIN), "healthcheck", "--url", base, "--timeout", "1"],
                             capture_output=True).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, "the workers did not come up"
            time.sleep(0.1)  # polling starting processes
        assert len(list(tmp_path.glob("mock-op-auth-*/state.db"))) == 1
        with httpx.Client(base_url=base, auth=CLIENT) as client:  # a new connection each: both workers answer
            tokens = [httpx.post(f"{base}/token", data={"grant_type": "client_credentials"}, auth=CLIENT).json()
                      for _ in range(8)]
            for issued in tokens:
                assert client.post("/introspect", data={"token": issued["access_token"]}).json()["active"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert list(tmp_path.glob("mock-op-auth-*")) == []  # the temporary store went with it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
