"""Login sessions (DESIGN §9): a login starts one; prompt=none, prompt=login, max_age, auth_time and
sid follow it; /_mock/sessions lists and ends them; the store keeps them (``--state`` too)."""

from __future__ import annotations

import httpx
import jwt as pyjwt

from mock_op_auth.config.schema import Config
from mock_op_auth.server import Server
from mock_op_auth.settings import Settings
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.sqlite import SqliteStore
from mock_op_auth.state.store import Session
from tests.conftest import build_app
from tests.helpers import CLIENT, REDIRECT, authorize, code_flow, query_of

COOKIE = "mock_op_auth_session"


def claims(id_token: str) -> dict:
    return pyjwt.decode(id_token, options={"verify_signature": False})


def paged(config: Config) -> Config:
    return config.model_copy(update={"server": config.server.model_copy(update={"login": "page"})})


async def test_a_login_sets_an_httponly_lax_session_cookie(client: httpx.AsyncClient) -> None:
    response = await authorize(client)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back


async def test_the_cookie_is_secure_when_the_issuer_is_https(default_config, rsa_key) -> None:
    app = build_app(default_config, rsa_key, Settings(issuer="https://op.example"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://mock.test") as c:
        cookie = (await authorize(c)).headers["set-cookie"].lower()
        assert "; secure" in cookie


async def test_sessions_are_listed_with_user_clients_and_auth_time(client: httpx.AsyncClient, server: Server) -> None:
    before = int(server.clock.now())
    await authorize(client, login_hint="bob")
    after = int(server.clock.now())
    listed = (await client.get("/_mock/sessions")).json()["sessions"]
    assert len(listed) == 1
    assert listed[0]["user"] == "bob" and listed[0]["clients"] == ["demo-client"]
    assert before <= listed[0]["auth_time"] <= after and listed[0]["sid"]


async def test_id_tokens_carry_the_sessions_sid_and_auth_time(client: httpx.AsyncClient, server: Server) -> None:
    first = claims((await code_flow(client))["id_token"])
    server.clock.advance(120)
    again = claims((await code_flow(client, prompt="none"))["id_token"])
    session = (await client.get("/_mock/sessions")).json()["sessions"][0]
    assert first["sid"] == again["sid"] == session["sid"]
    assert first["auth_time"] == again["auth_time"] == session["auth_time"]
    assert again["iat"] - first["iat"] in (120, 121)  # the advance, plus the real second the flows may cross


async def test_prompt_none_without_a_session_is_login_required(client: httpx.AsyncClient) -> None:
    params = query_of((await authorize(client, prompt="none")).headers["location"])
    assert params["error"] == "login_required" and params["state"] == "st4te"


async def test_prompt_none_with_a_session_answers_silently_even_with_the_login_page(default_config, rsa_key) -> None:
    app = build_app(paged(default_config), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        assert query_of((await authorize(c, prompt="none")).headers["location"])["error"] == "login_required"
        server: Server = app.state.server
        session = server.sessions.start("bob", "bob", 3600, "demo-client", "http://mock.test")
        c.cookies.set(COOKIE, f"{session.sid}.{session.secret}")
        silent = await authorize(c, prompt="none")
        assert silent.status_code == 302 and "code" in query_of(silent.headers["location"])
        again = await authorize(c)  # a live session skips the login page (single sign-on)
        assert again.status_code == 302
        forced = await authorize(c, prompt="login")
        assert forced.status_code == 200 and "Approve as" in forced.text


async def test_a_wrong_cookie_secret_is_no_session(client: httpx.AsyncClient, server: Server) -> None:
    session = server.sessions.start("alice", "alice", 3600, "demo-client", "http://mock.test")
    client.cookies.set(COOKIE, f"{session.sid}.not-the-secret")
    params = query_of((await authorize(client, prompt="none")).headers["location"])
    assert params["error"] == "login_required"


async def test_max_age_elapsed_needs_a_new_login(client: httpx.AsyncClient, server: Server) -> None:
    first = claims((await code_flow(client))["id_token"])
    server.clock.advance(301)
    params = query_of((await authorize(client, prompt="none", max_age="300")).headers["location"])
    assert params["error"] == "login_required"
    fresh = claims((await code_flow(client, max_age="300"))["id_token"])  # login: auto logs in anew
    assert fresh["auth_time"] - first["auth_time"] in (301, 302) and fresh["sid"] != first["sid"]
    within = claims((await code_flow(client, prompt="none", max_age="300"))["id_token"])
    assert within["sid"] == fresh["sid"]
    assert query_of((await authorize(client, max_age="-1")).headers["location"])["error"] == "invalid_request"


async def test_a_login_hint_naming_someone_else_logs_in_anew(client: httpx.AsyncClient) -> None:
    alice = claims((await code_flow(client))["id_token"])
    bob = claims((await code_flow(client, login_hint="bob"))["id_token"])
    assert alice["sub"] == "alice" and bob["sub"] == "bob" and bob["sid"] != alice["sid"]
    again = claims((await code_flow(client))["id_token"])  # no hint: the browser's session, now bob's
    assert again["sub"] == "bob"
    assert query_of((await authorize(client, prompt="none", login_hint="alice")).headers["location"])[
        "error"] == "login_required"


async def test_a_refreshed_id_token_keeps_sid_and_auth_time(client: httpx.AsyncClient, server: Server) -> None:
    body = await code_flow(client)
    server.clock.advance(60)
    refreshed = await client.post("/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": body["refresh_token"]}, auth=CLIENT)
    old, new = claims(body["id_token"]), claims(refreshed.json()["id_token"])
    assert new["sid"] == old["sid"] and new["auth_time"] == old["auth_time"]


async def test_delete_ends_one_session_or_all(client: httpx.AsyncClient, server: Server) -> None:
    await authorize(client)
    sid = (await client.get("/_mock/sessions")).json()["sessions"][0]["sid"]
    assert (await client.delete(f"/_mock/sessions/{sid}")).status_code == 204
    assert (await client.get("/_mock/sessions")).json() == {"sessions": []}
    params = query_of((await authorize(client, prompt="none")).headers["location"])
    assert params["error"] == "login_required"
    assert (await client.delete(f"/_mock/sessions/{sid}")).status_code == 404
    for user in ("alice", "bob"):
        server.sessions.start(user, user, 3600, "demo-client", "http://mock.test")
    assert (await client.delete("/_mock/sessions")).status_code == 204
    assert server.sessions.live() == []
    journal = (await client.get("/_mock/requests", params={"endpoint": "control"})).json()["requests"]
    assert [e["method"] for e in journal] == ["DELETE", "DELETE", "DELETE"]


async def test_sessions_expire_by_the_mock_clock(client: httpx.AsyncClient, server: Server) -> None:
    await authorize(client)
    server.clock.advance(server.config.server.session_ttl + 1)
    assert (await client.get("/_mock/sessions")).json() == {"sessions": []}
    assert query_of((await authorize(client, prompt="none")).headers["location"])["error"] == "login_required"


async def test_reset_forgets_sessions(client: httpx.AsyncClient) -> None:
    await authorize(client)
    await client.post("/_mock/reset")
    assert (await client.get("/_mock/sessions")).json() == {"sessions": []}


async def test_the_dashboard_lists_and_ends_sessions(client: httpx.AsyncClient) -> None:
    from tests.html_forms import forms

    await authorize(client, login_hint="bob")
    page = await client.get("/_mock/ui")
    assert "Login sessions" in page.text and "End session" in page.text
    end = next(f for f in forms(page.text) if f.action == "/_mock/ui/sessions/end")
    done = await client.post(end.action, data=end.fields)
    assert done.status_code == 303
    assert (await client.get("/_mock/sessions")).json() == {"sessions": []}
    refused = await client.post(end.action, data=end.fields)  # ended already
    assert refused.status_code == 404


def test_sqlite_keeps_sessions_and_used_jtis_across_a_restart(tmp_path, default_config) -> None:
    path = tmp_path / "state.sqlite"
    clock = Clock()
    store = SqliteStore(path, clock)
    now = clock.now()
    store.put_session(Session("sid-1", "secret", "alice", "alice", int(now), now + 60, ("demo-client",)))
    store.link_session_grant("sid-1", "grant-1")
    assert store.add_marker("client-assertion:demo-client:j1", now + 30)
    store.close()
    again = SqliteStore(path, clock)
    assert again.get_session("sid-1").grant_ids == ("grant-1",)
    assert [s.sid for s in again.sessions()] == ["sid-1"]
    assert not again.add_marker("client-assertion:demo-client:j1", now + 30)  # replay after a restart
    clock.advance(31)
    assert again.add_marker("client-assertion:demo-client:j1", now + 90)  # the marker expired by the mock clock
    assert again.take_session("sid-1") is not None and again.take_session("sid-1") is None
    clock.advance(60)
    server = Server(default_config, Settings(state=str(path)))
    assert server.sessions.live() == []


def test_memory_store_takes_a_used_jti_once_until_it_expires() -> None:
    """Client assertions' jtis are markers like DPoP's (bounded: tests/invariants/test_store_bounds.py)."""
    from mock_op_auth.state.store import MemoryStore

    clock = Clock()
    store = MemoryStore(clock)
    now = clock.now()
    assert store.add_marker("client-assertion:c:a", now + 10)
    assert not store.add_marker("client-assertion:c:a", now + 10)
    assert store.add_marker("client-assertion:other:a", now + 10)  # another client's jti is its own
    clock.advance(11)
    assert store.add_marker("client-assertion:c:a", now + 20)


async def test_login_page_approval_starts_a_session(default_config, rsa_key) -> None:
    from tests.html_forms import forms

    app = build_app(paged(default_config), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        page = await authorize(c)
        approve = next(f for f in forms(page.text) if f.fields.get("decision") == "approve")
        done = await c.post(approve.action, data={**approve.fields, "user": "bob"})
        assert done.status_code == 302 and COOKIE in done.headers["set-cookie"]
        silent = await authorize(c, prompt="none", redirect_uri=REDIRECT)
        assert "code" in query_of(silent.headers["location"])
        assert [s.user for s in app.state.server.sessions.live()] == ["bob"]


async def test_a_session_cookie_in_one_of_two_cookie_fields_is_found(client: httpx.AsyncClient) -> None:
    """HTTP/2 may split Cookie into several fields (RFC 9113 §8.2.3); they are one list of cookies."""
    session = (await authorize(client)).headers["set-cookie"].split(";")[0]
    client.cookies.clear()
    fields = [("Cookie", session), ("Cookie", "theme=dark")]
    params = {"client_id": "demo-client", "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid",
              "prompt": "none"}
    silent = await client.get("/authorize", params=params, headers=fields)
    assert "code" in query_of(silent.headers["location"]), silent.headers["location"]
