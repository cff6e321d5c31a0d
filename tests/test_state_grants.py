"""``serve --state FILE`` keeps device codes, pushed requests and DPoP/assertion markers too, and
takes single-use records once even with two servers on one file."""

from __future__ import annotations

from pathlib import Path

import httpx

from mock_op_auth import create_app
from mock_op_auth.settings import Settings
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.sqlite import SqliteStore
from mock_op_auth.state.store import DeviceCode, MemoryStore, PushedRequest
from tests.dpop_helpers import ProofKey
from tests.helpers import CLIENT, REDIRECT, query_of

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


def asgi(state: Path) -> httpx.AsyncClient:
    app = create_app(settings=Settings(state=str(state)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test")


def device(code: str = "dc", **changes: object) -> DeviceCode:
    fields: dict[str, object] = {"device_code": code, "user_code": "BCDFGHJK", "client_id": "c", "scope": ("a",),
                                 "expires_at": Clock().now() + 600, "interval": 5, **changes}
    return DeviceCode(**fields)  # type: ignore[arg-type]


async def test_a_device_code_started_on_one_server_is_approved_and_redeemed_on_another(tmp_path: Path) -> None:
    async with asgi(tmp_path / "state.db") as first:
        started = (await first.post("/device_authorization", auth=CLIENT)).json()
    async with asgi(tmp_path / "state.db") as second:
        assert (await second.post(f"/_mock/device/{started['user_code']}", json={"decision": "approve"})).status_code \
            == 200
        issued = await second.post("/token", data={"grant_type": DEVICE_CODE, "device_code": started["device_code"]},
                                   auth=CLIENT)
        assert issued.status_code == 200, issued.text
    async with asgi(tmp_path / "state.db") as third:
        again = await third.post("/token", data={"grant_type": DEVICE_CODE, "device_code": started["device_code"]},
                                 auth=CLIENT)
        assert again.json()["error"] == "invalid_grant"


async def test_a_pushed_request_is_used_once_across_servers(tmp_path: Path) -> None:
    async with asgi(tmp_path / "state.db") as first:
        pushed = await first.post("/par", auth=CLIENT, data={"response_type": "code", "redirect_uri": REDIRECT})
        uri = pushed.json()["request_uri"]
    async with asgi(tmp_path / "state.db") as second, asgi(tmp_path / "state.db") as third:
        answered = await second.get("/authorize", params={"client_id": "demo-client", "request_uri": uri})
        assert "code" in query_of(answered.headers["location"])
        assert (await third.get("/authorize", params={"client_id": "demo-client", "request_uri": uri})).status_code \
            == 400


async def test_a_dpop_proof_replayed_at_another_server_on_the_file_is_refused(tmp_path: Path) -> None:
    proof = ProofKey().proof("POST", "http://mock.test/token")
    data = {"grant_type": "client_credentials", "scope": "accounts"}
    async with asgi(tmp_path / "state.db") as first:
        assert (await first.post("/token", data=data, auth=CLIENT, headers={"DPoP": proof})).status_code == 200
    async with asgi(tmp_path / "state.db") as second:
        replay = await second.post("/token", data=data, auth=CLIENT, headers={"DPoP": proof})
        assert replay.status_code == 400 and "replay" in replay.json()["error_description"]


def test_sqlite_takes_a_single_use_record_once_for_two_stores(tmp_path: Path) -> None:
    clock = Clock()
    one, two = SqliteStore(tmp_path / "s.db", clock), SqliteStore(tmp_path / "s.db", clock)
    code, pushed = device(), PushedRequest("urn:x", "c", {"a": "b"}, clock.now() + 60)
    one.put_device(code)
    one.put_pushed(pushed)
    assert two.find_device("BCDFGHJK") == code
    assert one.take_device("dc") == code and two.take_device("dc") is None
    assert two.take_pushed("urn:x") == pushed and one.take_pushed("urn:x") is None
    one.close()
    two.close()


def test_swap_device_changes_only_an_unchanged_record(tmp_path: Path) -> None:
    clock = Clock()
    for store in (MemoryStore(clock), SqliteStore(tmp_path / "s.db", clock)):
        store.put_device(device())
        current = store.get_device("dc")
        assert current is not None
        approved = DeviceCode(**{**current.__dict__, "status": "approved"})
        polled = DeviceCode(**{**current.__dict__, "last_poll": 1.0})
        assert store.swap_device(current, approved)
        assert not store.swap_device(current, polled)  # the decision is not overwritten by a stale poll
        assert store.get_device("dc") == approved


def test_markers_refuse_a_live_key_and_take_it_again_once_expired(tmp_path: Path) -> None:
    clock = Clock()
    for store in (MemoryStore(clock), SqliteStore(tmp_path / "m.db", clock)):
        assert store.add_marker("jti-1", clock.now() + 10)
        assert not store.add_marker("jti-1", clock.now() + 10)
        assert store.has_marker("jti-1") and not store.has_marker("jti-2")
        clock.advance(11)
        assert not store.has_marker("jti-1")
        assert store.add_marker("jti-1", clock.now() + 10)
        clock.reset()
