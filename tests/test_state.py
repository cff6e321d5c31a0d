"""``serve --state FILE``: a restarted server honours what it issued (docs/state.md)."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_op_auth import create_app
from mock_op_auth.settings import Settings
from mock_op_auth.state.sqlite import SqliteStore
from mock_op_auth.state.store import MemoryStore
from tests.helpers import CLIENT, assert_refused_everywhere, client_credentials, code_flow
from tests.live import BIN, free_port, start, stop


def asgi(state: Path) -> httpx.AsyncClient:
    app = create_app(settings=Settings(state=str(state)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test")


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=CLIENT)


async def test_without_state_the_store_is_in_memory(server) -> None:
    assert isinstance(server.store, MemoryStore)


async def test_a_second_app_on_the_same_file_honours_the_refresh_token(tmp_path: Path) -> None:
    async with asgi(tmp_path / "state.db") as first:
        tokens = await code_flow(first)
    async with asgi(tmp_path / "state.db") as second:
        response = await refresh(second, tokens["refresh_token"])
        assert response.status_code == 200, response.text
        assert (await refresh(second, tokens["refresh_token"])).json()["error"] == "invalid_grant"  # rotated


async def test_revocation_and_keys_survive_a_reopen(tmp_path: Path) -> None:
    async with asgi(tmp_path / "state.db") as first:
        revoked = (await client_credentials(first))["access_token"]
        kept = (await client_credentials(first))["access_token"]
        assert (await first.post("/revoke", data={"token": revoked}, auth=CLIENT)).status_code == 200
        jwks = (await first.get("/jwks")).json()
    async with asgi(tmp_path / "state.db") as second:
        assert (await second.get("/jwks")).json() == jwks
        gone = await second.post("/introspect", data={"token": revoked}, auth=CLIENT)
        live = await second.post("/introspect", data={"token": kept}, auth=CLIENT)
        assert gone.json() == {"active": False}
        assert live.json()["active"] is True


async def test_reset_forgets_records_but_keeps_keys(tmp_path: Path) -> None:
    async with asgi(tmp_path / "state.db") as client:
        tokens = await code_flow(client)
        jwks = (await client.get("/jwks")).json()
        assert (await client.post("/_mock/reset")).status_code in (200, 204)
        assert (await refresh(client, tokens["refresh_token"])).status_code == 400
        assert (await client.get("/jwks")).json() == jwks


async def test_tokens_from_before_a_reset_stay_refused_after_a_restart(tmp_path: Path) -> None:
    async with asgi(tmp_path / "state.db") as first:
        held = [await code_flow(first, scope="openid accounts"), await client_credentials(first)]
        assert (await first.post("/_mock/reset")).status_code == 200
    async with asgi(tmp_path / "state.db") as second:
        for tokens in held:
            await assert_refused_everywhere(second, tokens)


def test_expired_rows_are_purged(tmp_path: Path) -> None:
    from mock_op_auth.state.clock import Clock
    from mock_op_auth.state.store import RefreshToken

    clock = Clock()
    store = SqliteStore(tmp_path / "state.db", clock)
    store.PURGE_EVERY = 10
    for i in range(25):
        store.put_refresh(RefreshToken(f"t{i}", "g", "c", 0, clock.now() + 5))
    clock.advance(10)
    for i in range(10):
        store.put_refresh(RefreshToken(f"u{i}", "g", "c", 0, clock.now() + 5))
    assert store.sizes()["refresh_tokens"] == 10  # the 25 expired rows went at the first purge after expiry
    assert store.get_refresh("t24") is None
    store.close()


def test_a_file_that_is_not_a_database_is_refused_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    state.write_bytes(b"this is not sqlite" * 100)
    result = subprocess.run([str(BIN), "serve", "--port", "0", "--state", str(state)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "state database" in result.stderr


@pytest.mark.parametrize("schema", ["CREATE TABLE meta (k TEXT, v TEXT)", "CREATE TABLE signing_keys (kid TEXT)"])
def test_another_programs_database_is_refused_at_start(tmp_path: Path, schema: str) -> None:
    state = tmp_path / "theirs.db"
    with sqlite3.connect(state) as db:
        db.execute(schema)
    result = subprocess.run([str(BIN), "serve", "--port", "0", "--state", str(state)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stderr
    assert "not a state database of this server" in result.stderr and "Traceback" not in result.stderr


async def test_a_new_state_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It holds the private signing keys, client secrets and session secrets."""
    state = tmp_path / "state.db"
    previous = os.umask(0o022)
    try:
        app = create_app(settings=Settings(state=str(state)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
            issued = await client.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT)
            assert issued.status_code == 200
    finally:
        os.umask(previous)
    files = sorted(tmp_path.glob("state.db*"))
    assert {f.name for f in files} >= {"state.db", "state.db-wal", "state.db-shm", "state.db-lock"}
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}


# -- a live server killed with SIGKILL and started again on the same file -----------------------------

@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Path, int, list[subprocess.Popen[bytes]]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield tmp_path / "state.db", free_port(), procs
    for proc in procs:
        stop(proc)


async def test_sigkill_mid_use_loses_nothing_committed(live) -> None:
    state, port, procs = live
    procs.append(start(port, "--state", str(state), log=state.with_suffix(".log")))
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as client:
        held = await code_flow(client)
        revoked = (await client_credentials(client))["access_token"]
        assert (await client.post("/revoke", data={"token": revoked}, auth=CLIENT)).status_code == 200
        for _ in range(20):  # writes in flight right up to the kill
            await client_credentials(client)
    os.kill(procs[0].pid, signal.SIGKILL)
    procs[0].wait()
    db = sqlite3.connect(state)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    procs.append(start(port, "--state", str(state), log=state.with_suffix(".log")))
    async with httpx.AsyncClient(base_url=base) as client:
        old = await client.get("/userinfo", headers={"Authorization": f"Bearer {held['access_token']}"})
        assert old.status_code == 200, old.text
        gone = await client.post("/introspect", data={"token": revoked}, auth=CLIENT)
        assert gone.json() == {"active": False}
        again = await refresh(client, held["refresh_token"])
        assert again.status_code == 200, again.text
        assert again.json()["refresh_token"] != held["refresh_token"]
