"""RP-initiated logout at /logout (OpenID RP-Initiated Logout 1.0, DESIGN §9): the hint, the
client, the exact post-logout redirect URI, state; errors as a page, never a redirect."""

from __future__ import annotations

import httpx
import pytest

from mock_op_auth.config.schema import Config
from mock_op_auth.server import Server
from tests.conftest import build_app
from tests.helpers import CLIENT, authorize, code_flow, query_of
from tests.html_forms import forms

AFTER = "http://localhost:8000/signed-out"


def with_logout(config: Config, **server: object) -> Config:
    clients = dict(config.clients)
    clients["demo-client"] = clients["demo-client"].model_copy(update={"post_logout_redirect_uris": [AFTER]})
    return config.model_copy(update={"clients": clients,
                                     "server": config.server.model_copy(update=server)})


@pytest.fixture
def app(default_config: Config, rsa_key):
    return build_app(with_logout(default_config), rsa_key)


async def sessions(client: httpx.AsyncClient) -> list[dict]:
    return (await client.get("/_mock/sessions")).json()["sessions"]


async def test_discovery_names_the_end_session_endpoint_and_logout_support(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["end_session_endpoint"] == "http://mock.test/logout"
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    assert doc["frontchannel_logout_supported"] is False
    assert "sid" in doc["claims_supported"]


async def test_logout_with_a_hint_ends_the_session_and_redirects_with_state(client: httpx.AsyncClient) -> None:
    body = await code_flow(client)
    response = await client.get("/logout", params={"id_token_hint": body["id_token"],
                                                   "post_logout_redirect_uri": AFTER, "state": "bye"})
    assert response.status_code == 302
    assert response.headers["location"] == f"{AFTER}?state=bye"
    assert "max-age=0" in response.headers["set-cookie"].lower()
    assert await sessions(client) == []
    assert query_of((await authorize(client, prompt="none")).headers["location"])["error"] == "login_required"


async def test_logout_by_client_id_and_post_works_too(client: httpx.AsyncClient) -> None:
    await code_flow(client)
    response = await client.post("/logout", data={"client_id": "demo-client", "post_logout_redirect_uri": AFTER})
    assert response.status_code == 302 and response.headers["location"] == AFTER
    assert await sessions(client) == []


async def test_logout_without_a_redirect_shows_a_signed_out_page(client: httpx.AsyncClient) -> None:
    await code_flow(client)
    response = await client.get("/logout")
    assert response.status_code == 200 and "You are signed out" in response.text
    assert await sessions(client) == []
    nothing = await client.get("/logout")
    assert nothing.status_code == 200 and "no login session" in nothing.text


CROSS_SITE = {"Sec-Fetch-Site": "cross-site"}  # what a browser sends with a request another site started


async def test_another_site_without_a_hint_gets_a_question_not_a_logout(client: httpx.AsyncClient) -> None:
    """RP-Initiated Logout §6: without a hint, any page could sign the user out; the user is asked."""
    await code_flow(client)
    asked = await client.get("/logout", params={"client_id": "demo-client", "post_logout_redirect_uri": AFTER,
                                                "state": "s1"}, headers=CROSS_SITE)
    assert asked.status_code == 200 and "Sign out of mock-op-auth?" in asked.text
    assert "set-cookie" not in asked.headers and len(await sessions(client)) == 1
    [form] = forms(asked.text)
    assert form.fields == {"client_id": "demo-client", "post_logout_redirect_uri": AFTER, "state": "s1"}
    confirmed = await client.post("/logout", data=form.submit(), headers={"Sec-Fetch-Site": "same-origin"})
    assert confirmed.status_code == 302 and confirmed.headers["location"] == f"{AFTER}?state=s1"
    assert await sessions(client) == []


async def test_another_site_with_a_hint_signs_out_at_once(client: httpx.AsyncClient) -> None:
    body = await code_flow(client)
    response = await client.get("/logout", params={"id_token_hint": body["id_token"]}, headers=CROSS_SITE)
    assert response.status_code == 200 and "You are signed out" in response.text
    assert await sessions(client) == []


@pytest.mark.parametrize("uri", [AFTER + "/", AFTER + "?x=1", "http://localhost:8000/callback", "https://evil.test/"])
async def test_an_unregistered_post_logout_redirect_uri_is_an_error_page(client: httpx.AsyncClient, uri: str) -> None:
    await code_flow(client)
    response = await client.get("/logout", params={"client_id": "demo-client", "post_logout_redirect_uri": uri})
    assert response.status_code == 400 and "location" not in response.headers
    assert "Logout error" in response.text and "not registered" in response.text
    assert len(await sessions(client)) == 1  # nothing ended


async def test_a_redirect_uri_needs_a_client(client: httpx.AsyncClient) -> None:
    response = await client.get("/logout", params={"post_logout_redirect_uri": AFTER})
    assert response.status_code == 400 and "location" not in response.headers
    unknown = await client.get("/logout", params={"client_id": "nobody", "post_logout_redirect_uri": AFTER})
    assert unknown.status_code == 400 and "unknown client" in unknown.text


@pytest.mark.parametrize("defect", ["bad_signature", "alg_none", "unknown_kid"])
async def test_a_forged_id_token_hint_is_an_error_page(client: httpx.AsyncClient, server: Server,
                                                        defect: str) -> None:
    body = await code_flow(client)
    forged = server.keys.forge(body["id_token"], defect)
    response = await client.get("/logout", params={"id_token_hint": forged, "post_logout_redirect_uri": AFTER})
    assert response.status_code == 400 and "location" not in response.headers
    assert "id_token_hint" in response.text
    assert len(await sessions(client)) == 1


async def test_an_access_token_is_no_id_token_hint(client: httpx.AsyncClient) -> None:
    body = await code_flow(client)
    response = await client.get("/logout", params={"id_token_hint": body["access_token"]})
    assert response.status_code == 400


async def test_an_expired_id_token_hint_of_this_server_is_accepted(client: httpx.AsyncClient, server: Server) -> None:
    body = await code_flow(client)
    server.clock.advance(server.config.server.id_token_ttl + 60)
    # the session outlives the ID token: the default session_ttl is a day
    response = await client.get("/logout", params={"id_token_hint": body["id_token"],
                                                   "post_logout_redirect_uri": AFTER})
    assert response.status_code == 302 and response.headers["location"] == AFTER
    assert await sessions(client) == []


async def test_a_client_id_that_contradicts_the_hint_is_refused(client: httpx.AsyncClient) -> None:
    body = await code_flow(client)
    response = await client.get("/logout", params={"id_token_hint": body["id_token"], "client_id": "demo-public"})
    assert response.status_code == 400 and "does not match" in response.text


async def test_the_hints_session_ends_even_from_another_browser(client: httpx.AsyncClient) -> None:
    body = await code_flow(client)
    client.cookies.clear()
    response = await client.get("/logout", params={"id_token_hint": body["id_token"]})
    assert response.status_code == 200 and await sessions(client) == []


async def test_the_journal_and_scenarios_reach_logout(client: httpx.AsyncClient) -> None:
    await code_flow(client)
    rule = {"match": {"endpoint": "logout"}, "error": {"error": "temporarily_unavailable", "status": 503},
            "times": 1}
    assert (await client.post("/_mock/rules", json=rule)).status_code == 201
    failed = await client.get("/logout", params={"client_id": "demo-client", "post_logout_redirect_uri": AFTER})
    assert failed.status_code == 503 and "temporarily_unavailable" in failed.text
    assert len(await sessions(client)) == 1
    done = await client.get("/logout", params={"client_id": "demo-client", "post_logout_redirect_uri": AFTER})
    assert done.status_code == 302
    entries = (await client.get("/_mock/requests", params={"endpoint": "logout"})).json()["requests"]
    assert [(e["status"], e["client_id"], e["rule"]) for e in entries] == [(503, "demo-client", "runtime:1"),
                                                                           (302, "demo-client", None)]


async def test_revoke_on_logout_revokes_the_sessions_tokens(default_config, rsa_key) -> None:
    for revoke in (True, False):
        app = build_app(with_logout(default_config, revoke_on_logout=revoke), rsa_key)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
            body = await code_flow(c)
            other = (await c.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT)).json()
            await c.get("/logout", params={"id_token_hint": body["id_token"]})
            active = (await c.post("/introspect", data={"token": body["access_token"]}, auth=CLIENT)).json()
            assert active["active"] is not revoke
            refresh = await c.post("/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": body["refresh_token"]}, auth=CLIENT)
            assert refresh.status_code == (400 if revoke else 200)
            untouched = (await c.post("/introspect", data={"token": other["access_token"]}, auth=CLIENT)).json()
            assert untouched["active"] is True  # not issued in the session
