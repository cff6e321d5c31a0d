"""The device authorization grant (RFC 8628): /device_authorization, polling states by the mock
clock, decisions through POST /_mock/device/{user_code} and the /device page, rules and journal."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from mock_op_auth.config.schema import Scenario, ScenarioServer
from tests.helpers import CLIENT
from tests.html_forms import form_with, forms

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


async def start(client: httpx.AsyncClient, **data: str) -> dict[str, Any]:
    response = await client.post("/device_authorization", data={"scope": "openid profile accounts", **data},
                                 auth=CLIENT)
    assert response.status_code == 200, response.text
    return response.json()


async def poll(client: httpx.AsyncClient, device_code: str, auth: tuple[str, str] | None = CLIENT,
               **data: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": DEVICE_CODE, "device_code": device_code, **data},
                             auth=auth)


async def decide(client: httpx.AsyncClient, user_code: str, decision: str, **body: Any) -> httpx.Response:
    return await client.post(f"/_mock/device/{user_code}", json={"decision": decision, **body})


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    assert (await client.post("/_mock/clock", json={"advance": seconds})).status_code == 200


def error_of(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"])


async def test_device_authorization_answers_codes_uris_lifetime_and_interval(client: httpx.AsyncClient) -> None:
    body = await start(client)
    assert set(body) == {"device_code", "user_code", "verification_uri", "verification_uri_complete",
                         "expires_in", "interval"}
    assert body["verification_uri"] == "http://mock.test/device"
    assert body["verification_uri_complete"] == f"http://mock.test/device?user_code={body['user_code']}"
    assert (body["expires_in"], body["interval"]) == (600, 5)
    assert len(body["user_code"]) == 9 and body["user_code"][4] == "-"
    assert set(body["user_code"].replace("-", "")) <= set("BCDFGHJKLMNPQRSTVWXZ")


async def test_a_public_client_starts_with_its_client_id_alone(client: httpx.AsyncClient) -> None:
    response = await client.post("/device_authorization", data={"client_id": "demo-public", "scope": "accounts"})
    assert response.status_code == 200, response.text


async def test_device_authorization_refuses_unknown_clients_foreign_grants_and_scopes(client, server) -> None:
    unknown = await client.post("/device_authorization", data={"client_id": "nobody"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    wrong_secret = await client.post("/device_authorization", auth=("demo-client", "nope"))
    assert wrong_secret.status_code == 401
    scope = await client.post("/device_authorization", data={"scope": "admin"}, auth=CLIENT)
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    clients = {**server.config.clients, "svc": server.config.clients["demo-client"].model_copy(
        update={"grant_types": ["client_credentials"]})}
    server.reload(server.config.model_copy(update={"clients": clients}))
    refused = await client.post("/device_authorization", auth=("svc", "demo-secret"))
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"


async def test_polls_are_pending_until_approved_then_the_code_redeems_once(client: httpx.AsyncClient) -> None:
    body = await start(client)
    assert error_of(await poll(client, body["device_code"])) == "authorization_pending"
    decided = await decide(client, body["user_code"], "approve", user="bob")
    assert decided.status_code == 200 and decided.json() == {"user_code": body["user_code"], "status": "approved"}
    await advance(client, 5)
    issued = await poll(client, body["device_code"])
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens["token_type"] == "Bearer" and "refresh_token" in tokens and "id_token" in tokens
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"] == "bob"
    userinfo = await client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.json()["name"] == "Bob Example"
    await advance(client, 5)
    assert error_of(await poll(client, body["device_code"])) == "invalid_grant"


async def test_the_refresh_token_of_a_device_grant_refreshes(client: httpx.AsyncClient) -> None:
    body = await start(client)
    await decide(client, body["user_code"], "approve")
    tokens = (await poll(client, body["device_code"])).json()
    refreshed = await client.post("/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": tokens["refresh_token"]}, auth=CLIENT)
    assert refresh_sub(refreshed) == "alice"  # the default user, as login: auto picks


def refresh_sub(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(jwt.decode(response.json()["access_token"], options={"verify_signature": False})["sub"])


async def test_polling_sooner_than_the_interval_is_slow_down_and_adds_five_seconds(client) -> None:
    body = await start(client)
    assert error_of(await poll(client, body["device_code"])) == "authorization_pending"  # the first: never slow_down
    await advance(client, 4)
    assert error_of(await poll(client, body["device_code"])) == "slow_down"  # interval now 10
    await advance(client, 9)
    assert error_of(await poll(client, body["device_code"])) == "slow_down"  # 9 < 10; interval now 15
    await advance(client, 15)
    assert error_of(await poll(client, body["device_code"])) == "authorization_pending"
    await advance(client, 14)
    assert error_of(await poll(client, body["device_code"])) == "slow_down"


async def test_a_denied_code_answers_access_denied(client: httpx.AsyncClient) -> None:
    body = await start(client)
    decided = await decide(client, body["user_code"], "deny")
    assert decided.json()["status"] == "denied"
    assert error_of(await poll(client, body["device_code"])) == "access_denied"


async def test_an_expired_code_answers_expired_token_by_the_mock_clock(client: httpx.AsyncClient) -> None:
    body = await start(client)
    await advance(client, 601)
    assert error_of(await poll(client, body["device_code"])) == "expired_token"
    assert (await decide(client, body["user_code"], "approve")).status_code == 409


async def test_server_settings_set_the_lifetime_and_interval(server, client: httpx.AsyncClient) -> None:
    settings = server.config.server.model_copy(update={"device_code_ttl": 30, "device_interval": 0})
    server.reload(server.config.model_copy(update={"server": settings}))
    body = await start(client)
    assert (body["expires_in"], body["interval"]) == (30, 0)
    for _ in range(3):  # interval 0: polling at once is never too soon
        assert error_of(await poll(client, body["device_code"])) == "authorization_pending"


async def test_an_unknown_or_another_clients_device_code_is_invalid_grant(client: httpx.AsyncClient) -> None:
    assert error_of(await poll(client, "never-issued")) == "invalid_grant"
    body = await start(client)
    other = await poll(client, body["device_code"], auth=None, client_id="demo-public")
    assert error_of(other) == "invalid_grant"
    missing = await client.post("/token", data={"grant_type": DEVICE_CODE}, auth=CLIENT)
    assert error_of(missing) == "invalid_request"


async def test_control_decisions_refuse_unknown_decided_and_bad_input(client: httpx.AsyncClient) -> None:
    body = await start(client)
    assert (await decide(client, "BCDF-GHJK", "approve")).status_code == 404
    assert (await decide(client, body["user_code"], "maybe")).status_code == 400
    assert (await client.post(f"/_mock/device/{body['user_code']}", json={})).status_code == 400
    lowercase = body["user_code"].lower().replace("-", " ")
    assert (await decide(client, lowercase, "deny")).status_code == 200  # typed as a user would
    assert (await decide(client, body["user_code"], "approve")).status_code == 409
    assert error_of(await poll(client, body["device_code"])) == "access_denied"


async def test_a_rule_scripts_polls_by_the_grants_last_segment(client: httpx.AsyncClient) -> None:
    body = await start(client)
    await decide(client, body["user_code"], "approve")
    rule = {"match": {"endpoint": "token", "grant_type": "device_code"},
            "error": {"error": "slow_down", "error_description": "scripted"}, "times": 2}
    assert (await client.post("/_mock/rules", json=rule)).status_code == 201
    for _ in range(2):
        response = await poll(client, body["device_code"])
        assert response.json() == {"error": "slow_down", "error_description": "scripted"}
    assert (await poll(client, body["device_code"])).status_code == 200
    journal = (await client.get("/_mock/requests", params={"endpoint": "token"})).json()["requests"]
    assert [e["grant_type"] for e in journal] == [DEVICE_CODE] * 3
    assert [e["rule"] for e in journal] == ["runtime:1", "runtime:1", None]
    assert all(e["params"]["device_code"] == "***" for e in journal)


async def test_a_rule_at_the_device_endpoint_fails_the_authorization_request(client: httpx.AsyncClient) -> None:
    rule = {"match": {"endpoint": "device"}, "respond": {"status": 503, "json": {"error": "temporarily_unavailable"}},
            "times": 1}
    await client.post("/_mock/rules", json=rule)
    failed = await client.post("/device_authorization", auth=CLIENT)
    assert failed.status_code == 503
    await start(client)
    entries = (await client.get("/_mock/requests", params={"endpoint": "device"})).json()["requests"]
    assert [(e["path"], e["status"], e["client_id"]) for e in entries] == [
        ("/device_authorization", 503, "demo-client"), ("/device_authorization", 200, "demo-client")]


async def test_discovery_names_the_endpoint_only_while_a_client_has_the_grant(server, client) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["device_authorization_endpoint"] == "http://mock.test/device_authorization"
    assert DEVICE_CODE in doc["grant_types_supported"]
    clients = {k: c.model_copy(update={"grant_types": [g for g in c.grant_types if g != DEVICE_CODE]})
               for k, c in server.config.clients.items()}
    server.reload(server.config.model_copy(update={"clients": clients}))
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert "device_authorization_endpoint" not in doc and DEVICE_CODE not in doc["grant_types_supported"]


# --- the /device page, over HTTP (tests/test_device_browser.py drives it in Chromium) ---

async def test_the_device_page_shows_a_code_box(client: httpx.AsyncClient) -> None:
    page = await client.get("/device")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    box = forms(page.text)
    assert len(box) == 1 and box[0].method == "get" and box[0].action == "/device"
    assert "user_code" in box[0].inputs
    assert "<script" not in page.text and "default-src 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("typed", ["BCDF-GHJK", "x", "<script>"])
async def test_an_unknown_code_shows_the_box_again_with_why(client: httpx.AsyncClient, typed: str) -> None:
    page = await client.get("/device", params={"user_code": typed})
    assert page.status_code == 404
    assert "no such code" in page.text and "<script>" not in page.text


async def test_approving_on_the_page_lets_the_device_poll_a_token(client: httpx.AsyncClient) -> None:
    body = await start(client)
    page = await client.get("/device", params={"user_code": body["user_code"].lower()})
    assert page.status_code == 200
    assert "Demo Client</span> wants to access your account" in page.text and body["user_code"] in page.text
    assert all(f.action == "/device" and len(f.fields["csrf_token"]) >= 32 for f in forms(page.text))
    done = await client.post("/device", data=form_with(page.text, "Bob Example").submit("Bob Example"))
    assert done.status_code == 200 and "Device connected" in done.text
    issued = await poll(client, body["device_code"])
    assert refresh_sub(issued) == "bob"
    again = await client.post("/device", data=form_with(page.text, "Bob Example").submit("Bob Example"))
    assert again.status_code == 400 and "already answered" in again.text  # single use


async def test_denying_on_the_page_makes_the_poll_access_denied(client: httpx.AsyncClient) -> None:
    body = await start(client)
    page = await client.get(body["verification_uri_complete"].removeprefix("http://mock.test"))
    done = await client.post("/device", data=form_with(page.text, "Deny").submit("Deny"))
    assert done.status_code == 200 and "Request denied" in done.text
    assert error_of(await poll(client, body["device_code"])) == "access_denied"


async def test_a_forged_csrf_token_or_a_login_page_form_is_refused(client: httpx.AsyncClient) -> None:
    body = await start(client)
    page = await client.get("/device", params={"user_code": body["user_code"]})
    data = form_with(page.text, "Alice Example").submit("Alice Example")
    forged = await client.post("/device", data={**data, "csrf_token": "x" * 43})
    assert forged.status_code == 400 and "CSRF" in forged.text
    as_login = await client.post("/authorize/decision", data=data)  # a device form posted to the login page
    assert as_login.status_code == 400
    cross_site = await client.post("/device", data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 400 and "not from another site" in cross_site.text
    assert error_of(await poll(client, body["device_code"])) == "authorization_pending"


async def test_the_page_journals_as_device_with_the_chosen_user(client: httpx.AsyncClient) -> None:
    body = await start(client)
    page = await client.get("/device", params={"user_code": body["user_code"]})
    await client.post("/device", data=form_with(page.text, "Alice Example").submit("Alice Example"))
    entries = (await client.get("/_mock/requests", params={"endpoint": "device"})).json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/device_authorization", 200), ("GET", "/device", 200), ("POST", "/device", 200)]
    assert entries[2]["params"]["csrf_token"] == "***"


async def test_a_scenario_overrides_the_device_lifetime_and_interval(server, client: httpx.AsyncClient) -> None:
    scenarios = {**server.config.scenarios, "quick-device": Scenario(
        server=ScenarioServer(device_code_ttl=30, device_interval=1))}
    server.reload(server.config.model_copy(update={"scenarios": scenarios}))
    response = await client.post("/device_authorization", auth=CLIENT, headers={"X-Mock-Scenario": "quick-device"})
    assert (response.json()["expires_in"], response.json()["interval"]) == (30, 1)
