"""Keys made ahead (state/keys.KeyPool): namespaces and rotations take a key at once, every key is
new, and a server that never makes a second key makes none ahead (nothing competes with start-up)."""

from __future__ import annotations

import time

import httpx

from mock_op_auth import create_app
from tests.helpers import CLIENT

CC = {"grant_type": "client_credentials"}


def wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


async def test_a_server_that_makes_one_key_makes_none_ahead() -> None:
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        token = await client.post("/token", data=CC, auth=CLIENT)
        assert token.status_code == 200
    time.sleep(0.2)
    assert app.state.server.key_pool.ready("RS256") == 0


async def test_namespaces_and_rotations_get_new_keys_from_the_pool_once_it_fills() -> None:
    app = create_app()
    pool = app.state.server.key_pool
    kids: list[str] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        kids.append((await client.get("/jwks")).json()["keys"][0]["kid"])
        for _ in range(4):
            created = await client.post("/_mock/namespaces", json={})
            assert created.status_code == 201, created.text
            name = created.json()["name"]
            kids.append((await client.get(f"/ns/{name}/jwks")).json()["keys"][0]["kid"])
            assert wait_for(lambda: pool.ready("RS256") == 2)  # made ahead while the "test" runs
            assert (await client.delete(f"/_mock/namespaces/{name}")).status_code == 204
        rotated = await client.post("/_mock/keys/rotate")
        assert rotated.status_code == 200, rotated.text
        kids.append(next(k["kid"] for k in (await client.get("/jwks")).json()["keys"] if k["kid"] not in kids))
        token = await client.post("/token", data=CC, auth=CLIENT)
        assert token.status_code == 200
    assert len(set(kids)) == len(kids) == 6  # no key handed out twice
    assert pool.ready("RS256") <= 2  # bounded
