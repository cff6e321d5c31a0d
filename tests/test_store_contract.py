"""One suite every store passes (DESIGN §11): memory, SQLite and Redis (a real redis-server).

The first part drives the Store interface itself: single use, rotation and revocation as
compare-and-set. The second drives the mock over HTTP on each store; the third runs two apps on
one shared store (SQLite or Redis), which must behave as one server. Real processes racing on
one store are in tests/test_scale.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from mock_op_auth import create_app
from mock_op_auth.routers.psd2_payments import PIS_JWKS
from mock_op_auth.settings import Settings
from mock_op_auth.state.clock import Clock, SharedClock
from mock_op_auth.state.factory import open_store
from mock_op_auth.state.store import (
    AccessToken,
    AuthCode,
    Grant,
    Intent,
    LoginRequest,
    MemoryStore,
    RecordStore,
    RefreshToken,
    RegisteredClient,
)
from tests.conftest import redis_url
from tests.helpers import CLIENT, REDIRECT, client_credentials, code_flow, get_code


@pytest.fixture
def store(store_spec: str | None) -> Iterator[RecordStore]:
    clock = Clock() if store_spec is None else SharedClock()
    opened = MemoryStore(clock) if store_spec is None else open_store(store_spec, clock)
    if store_spec is not None:
        clock.bind(opened)  # type: ignore[attr-defined]
    yield opened
    if hasattr(opened, "close"):
        opened.close()


def a_code(code: str = "c1", **changes: Any) -> AuthCode:
    return replace(AuthCode(code, "demo-client", REDIRECT, ("openid",), "alice", "alice", 0, Clock().now() + 60),
                   **changes)


def a_grant(grant_id: str = "g1", **changes: Any) -> Grant:
    now = Clock().now()
    return replace(Grant(grant_id, "demo-client", "alice", "alice", ("openid",), 0, int(now), now + 600, now + 600,
                         current_refresh="r1"), **changes)


def a_token(key: str, grant_id: str | None = "g1") -> AccessToken:
    return AccessToken(key, "demo-client", "alice", ("accounts",), 0, Clock().now() + 600, "aud", "iss", grant_id)


# -- the Store interface ------------------------------------------------------------------------------

def test_a_code_is_redeemed_once(store: RecordStore) -> None:
    store.put_code(a_code())
    first = store.redeem_code("c1", "g1")
    second = store.redeem_code("c1", "g2")
    assert first is not None and first.grant_id is None  # won
    assert second is not None and second.grant_id == "g1"  # lost, and told who won
    assert store.get_code("c1").grant_id == "g1"
    assert store.redeem_code("unknown", "g3") is None


def test_a_refresh_token_rotates_once(store: RecordStore) -> None:
    store.put_grant(a_grant())
    assert store.rotate_refresh("g1", "r1", a_grant(current_refresh="r2", refresh_count=1))
    assert not store.rotate_refresh("g1", "r1", a_grant(current_refresh="r3", refresh_count=1))
    assert store.get_grant("g1").current_refresh == "r2"


def test_a_revoked_grant_stays_revoked(store: RecordStore) -> None:
    store.put_grant(a_grant())
    store.put_access(a_token("t1"))
    store.revoke_grant("g1")
    store.put_grant(a_grant(current_refresh="late"))  # a write that raced the revocation
    store.put_access(a_token("t2"))
    assert store.get_grant("g1").revoked is True
    assert store.get_access("t1").revoked is True
    assert not store.rotate_refresh("g1", "r1", a_grant(current_refresh="r2"))


def test_records_of_every_kind_round_trip(store: RecordStore) -> None:
    now = Clock().now()
    store.put_refresh(RefreshToken("r1", "g1", "demo-client", 0, now + 60))
    store.put_login(LoginRequest("l1", "csrf", now + 60, {"a": [1, 2]}, {"b": "c"}))
    store.put_intent(Intent("i1", "tpp", "Unauthorized", now, now + 60))
    store.put_registered_client(RegisteredClient("dyn", {"secret": "s"}, 5))
    assert store.get_refresh("r1") == RefreshToken("r1", "g1", "demo-client", 0, now + 60)
    assert store.get_login("l1").request == {"a": [1, 2]}
    assert store.take_login("l1") and not store.take_login("l1")
    assert store.link_grant("i1", "g1").grant_ids == ("g1",)
    assert store.link_grant("i1", "g2").grant_ids == ("g1", "g2")
    assert [c.client_id for c in store.registered_clients()] == ["dyn"]
    store.clear()
    assert store.get_refresh("r1") is None and store.get_intent("i1") is None and store.registered_clients() == []


def test_live_tokens_leave_out_revoked_and_expired(store: RecordStore) -> None:
    store.put_access(a_token("live", None))
    store.put_access(replace(a_token("old", None), expires_at=Clock().now() - 1))
    store.put_access(a_token("gone", None))
    store.revoke_access("gone")
    assert [t.key for t in store.live_access_tokens()] == ["live"]


# -- the mock over HTTP, on each store ----------------------------------------------------------------

@asynccontextmanager
async def mock(spec: str | None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings=Settings(state=spec))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        yield client


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=CLIENT)


async def redeem(client: httpx.AsyncClient, code: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                             "redirect_uri": REDIRECT}, auth=CLIENT)


async def test_a_replayed_code_revokes_what_it_produced(store_spec: str | None) -> None:
    async with mock(store_spec) as client:
        code = await get_code(client)
        first = await redeem(client, code)
        assert first.status_code == 200
        again = await redeem(client, code)
        assert again.json()["error"] == "invalid_grant"
        gone = await client.post("/introspect", data={"token": first.json()["access_token"]}, auth=CLIENT)
        assert gone.json() == {"active": False}


async def test_refresh_reuse_revokes_the_family(store_spec: str | None) -> None:
    async with mock(store_spec) as client:
        tokens = await code_flow(client)
        newer = await refresh(client, tokens["refresh_token"])
        assert newer.status_code == 200
        reused = await refresh(client, tokens["refresh_token"])
        assert reused.json()["error"] == "invalid_grant"
        assert (await refresh(client, newer.json()["refresh_token"])).status_code == 400
        gone = await client.post("/introspect", data={"token": newer.json()["access_token"]}, auth=CLIENT)
        assert gone.json() == {"active": False}


async def test_a_times_rule_fires_that_often_then_the_clock_and_reset(store_spec: str | None) -> None:
    async with mock(store_spec) as client:
        rule = {"match": {"endpoint": "token"}, "respond": {"status": 503}, "times": 2}
        assert (await client.post("/_mock/rules", json=rule)).status_code == 201
        statuses = [(await client.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT)).status_code
                    for _ in range(3)]
        assert statuses == [503, 503, 200]
        assert (await client.get("/_mock/rules")).json()["rules"][0]["used"] == 2
        token = (await client_credentials(client))["access_token"]
        await client.post("/_mock/clock", json={"advance": 7200})
        assert (await client.post("/introspect", data={"token": token}, auth=CLIENT)).json() == {"active": False}
        ids = [e["id"] for e in (await client.get("/_mock/requests")).json()["requests"]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert (await client.post("/_mock/reset")).status_code == 200
        assert (await client.get("/_mock/clock")).json()["offset"] == 0
        assert (await client.get("/_mock/rules")).json()["rules"] == []
        assert (await client.get("/_mock/requests")).json()["requests"] == []


async def test_a_rotated_key_keeps_old_tokens_verifying(store_spec: str | None) -> None:
    async with mock(store_spec) as client:
        token = (await client_credentials(client))["access_token"]
        rotated = (await client.post("/_mock/keys/rotate")).json()
        assert len((await client.get("/jwks")).json()["keys"]) == 2
        assert rotated["kid"] in {k["kid"] for k in (await client.get("/jwks")).json()["keys"]}
        assert (await client.post("/introspect", data={"token": token}, auth=CLIENT)).json()["active"] is True


def test_a_reset_keeps_named_keys_and_forgets_records(store: RecordStore) -> None:
    assert store.named_key("pis", lambda: "the first PEM") == "the first PEM"
    store.put_access(a_token("t1", None))
    store.clear()
    if hasattr(store, "reset_state"):  # what /_mock/reset calls on a shared store
        store.reset_state()
    assert store.get("access", "t1") is None
    assert store.named_key("pis", lambda: "another PEM") == "the first PEM"


# -- two apps on one shared store behave as one server --------------------------------------------------

@pytest.fixture(params=["sqlite", "redis"])
def shared_spec(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("redis_spec"))


async def test_two_apps_on_one_store_share_everything(shared_spec: str) -> None:
    async with mock(shared_spec) as a, mock(shared_spec) as b:
        # tokens, and their revocation
        token = (await client_credentials(a))["access_token"]
        assert (await b.post("/introspect", data={"token": token}, auth=CLIENT)).json()["active"] is True
        assert (await b.post("/revoke", data={"token": token}, auth=CLIENT)).status_code == 200
        assert (await a.post("/introspect", data={"token": token}, auth=CLIENT)).json() == {"active": False}
        # keys: one created, rotations seen by both
        assert (await a.get("/jwks")).json() == (await b.get("/jwks")).json()
        await a.post("/_mock/keys/rotate")
        assert len((await b.get("/jwks")).json()["keys"]) == 2
        # the scenario, the clock and a times: 3 rule counted over both
        await b.put("/_mock/scenario", json={"name": "consent-pending"})
        assert (await a.get("/_mock/scenarios")).json()["active"] == "consent-pending"
        await a.put("/_mock/scenario", json={"name": None})
        await a.post("/_mock/clock", json={"advance": 100})
        assert (await b.get("/_mock/clock")).json()["offset"] == pytest.approx(100)
        await a.post("/_mock/rules", json={"match": {"endpoint": "jwks"}, "respond": {"status": 500}, "times": 3})
        statuses = [(await client.get("/jwks")).status_code for client in (a, b, a, b, a)]
        assert statuses == [500, 500, 500, 200, 200]
        # one journal, ids unique and increasing across both
        journal = (await b.get("/_mock/requests", params={"endpoint": "jwks"})).json()["requests"]
        assert len(journal) >= 7
        ids = [e["id"] for e in journal]
        assert ids == sorted(set(ids))
        # a code issued at one, redeemed at the other, once
        code = await get_code(a)
        assert (await redeem(b, code)).status_code == 200
        assert (await redeem(a, code)).status_code == 400
        # reset at one is a reset for both
        await b.post("/_mock/reset")
        assert (await a.get("/_mock/clock")).json()["offset"] == 0
        assert (await a.get("/_mock/requests")).json()["requests"] == []


async def test_a_reset_keeps_the_pis_response_key_for_processes_started_after_it(shared_spec: str) -> None:
    async with mock(shared_spec) as a:
        before = (await a.get(PIS_JWKS)).json()
        assert (await a.post("/_mock/reset")).status_code == 200
        assert (await a.get(PIS_JWKS)).json() == before
    async with mock(shared_spec) as b:  # a replica started after the reset signs with the same key
        assert (await b.get(PIS_JWKS)).json() == before


async def test_namespaces_are_shared_by_apps_on_one_store(shared_spec: str) -> None:
    async with mock(shared_spec) as a, mock(shared_spec) as b:
        created = await a.post("/_mock/namespaces", json={"name": "team-1"})
        assert created.status_code == 201
        issued = await a.post("/ns/team-1/token", data={"grant_type": "client_credentials"}, auth=CLIENT)
        token = issued.json()["access_token"]
        seen = await b.post("/ns/team-1/introspect", data={"token": token}, auth=CLIENT)
        assert seen.json()["active"] is True and seen.json()["iss"] == "http://mock.test/ns/team-1"
        assert (await b.post("/introspect", data={"token": token}, auth=CLIENT)).json() == {"active": False}
        assert (await b.delete("/_mock/namespaces/team-1")).status_code == 204
        assert (await a.post("/ns/team-1/introspect", data={"token": token}, auth=CLIENT)).status_code == 404


@pytest.mark.parametrize("name", ["*", "t*", "team-?", "[a-z]*", "team-a\\"])
async def test_deleting_a_namespace_no_name_could_be_deletes_nothing(store_spec: str | None, name: str) -> None:
    """A name no namespace can have is a 404 that changes nothing; on Redis it once reached a
    SCAN pattern and deleted every key it matched (the root's signing keys and tokens with ``*``)."""
    async with mock(store_spec) as client:
        assert (await client.post("/_mock/namespaces", json={"name": "team-a"})).status_code == 201
        jwks = (await client.get("/jwks")).json()
        root = (await client_credentials(client))["access_token"]
        inside = (await client.post("/ns/team-a/token", data={"grant_type": "client_credentials"}, auth=CLIENT))
        response = await client.delete(f"/_mock/namespaces/{quote(name, safe='')}")
        assert response.status_code == 404 and response.json()["error"] == "not_found"
        assert (await client.post("/introspect", data={"token": root}, auth=CLIENT)).json()["active"] is True
        seen = await client.post("/ns/team-a/introspect", data={"token": inside.json()["access_token"]}, auth=CLIENT)
        assert seen.json()["active"] is True
        assert [n["name"] for n in (await client.get("/_mock/namespaces")).json()["namespaces"]] == ["team-a"]
        assert (await client.get("/jwks")).json() == jwks


async def test_a_redis_prefix_with_glob_characters_resets_only_its_own_keys(redis_spec: str) -> None:
    base = redis_spec.split("?")[0]
    own = redis_spec.split("prefix=")[1]
    async with mock(f"{base}?prefix={own}-a") as neighbour, mock(f"{base}?prefix={own}-*") as starred:
        token = (await client_credentials(neighbour))["access_token"]
        assert (await starred.post("/_mock/reset")).status_code == 200
        assert (await neighbour.post("/introspect", data={"token": token}, auth=CLIENT)).json()["active"] is True


async def test_processes_put_their_key_back_when_redis_comes_back_empty(redis_spec: str) -> None:
    """A Redis restarted without its data: the processes' key goes back into it, so a process
    started afterwards signs and verifies with the same key (not a new one that orphans theirs)."""
    import redis

    prefix = redis_spec.split("prefix=")[1]
    async with mock(redis_spec) as first:
        kid = (await first.get("/jwks")).json()["keys"][0]["kid"]
        wiped = redis.Redis.from_url(redis_url())
        try:
            wiped.delete(*wiped.scan_iter(match=f"{prefix}:*"))
        finally:
            wiped.close()
        token = (await client_credentials(first))["access_token"]  # issued after the loss
        async with mock(redis_spec) as later:
            assert [k["kid"] for k in (await later.get("/jwks")).json()["keys"]] == [kid]
            seen = await later.post("/introspect", data={"token": token}, auth=CLIENT)
            assert seen.json()["active"] is True
