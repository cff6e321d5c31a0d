"""Scenario rules through HTTP: each action, delay, times, ordering and how a scenario is chosen."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest

from mock_op_auth import Settings, create_app, load_default
from tests.helpers import CLIENT, REDIRECT, authorize, client_credentials, code_flow, get_code, query_of

CC = {"grant_type": "client_credentials", "scope": "accounts"}


@asynccontextmanager
async def app_client(settings: Settings | None = None, **config_changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built from the default fixture with ``config_changes`` and ``settings``."""
    config = load_default()
    if config_changes:
        config = config.model_validate({**config.model_dump(by_alias=True), **config_changes})
    app = create_app(config, settings or Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        yield c


async def add_rule(client: httpx.AsyncClient, **rule: Any) -> str:
    response = await client.post("/_mock/rules", json=rule)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def token(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **data: str) -> httpx.Response:
    return await client.post("/token", data={**CC, **data}, auth=CLIENT, headers=headers)


def claims_of(access_token: str) -> dict[str, Any]:
    return jwt.decode(access_token, options={"verify_signature": False})


async def test_respond_action_answers_exactly_as_given(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"},
                   respond={"status": 418, "json": {"teapot": True}, "headers": {"X-Why": "rule"}})
    response = await token(client)
    assert response.status_code == 418
    assert response.json() == {"teapot": True}
    assert response.headers["x-why"] == "rule"


async def test_respond_action_with_text(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"}, respond={"status": 502, "text": "Bad Gateway"})
    response = await token(client)
    assert (response.status_code, response.text) == (502, "Bad Gateway")
    assert response.headers["content-type"].startswith("text/plain")


async def test_error_action_at_token_is_rfc_shaped_with_the_rules_status(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"},
                   error={"error": "temporarily_unavailable", "error_description": "down", "status": 503})
    response = await token(client)
    assert response.status_code == 503
    assert response.json() == {"error": "temporarily_unavailable", "error_description": "down"}
    assert response.headers["cache-control"] == "no-store"


async def test_error_action_at_authorize_redirects_back_with_error_state_and_iss(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "authorize"}, error={"error": "access_denied"})
    response = await authorize(client, state="xyz")
    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT + "?")
    params = query_of(response.headers["location"])
    assert params == {"error": "access_denied", "state": "xyz", "iss": "http://mock.test"}


async def test_error_rule_burns_no_code(client: httpx.AsyncClient) -> None:
    code = await get_code(client)
    await add_rule(client, match={"endpoint": "token"}, error={"error": "server_error", "status": 500}, times=1)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    assert (await client.post("/token", data=data, auth=CLIENT)).status_code == 500
    assert (await client.post("/token", data=data, auth=CLIENT)).status_code == 200


async def test_token_action_overrides_status_scope_lifetime_claims_and_fields(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"}, token={
        "scope": "payments", "expires_in": 42, "claims": {"acr": "strong"}, "fields": {"consent_id": "c-1"}})
    body = (await token(client)).json()
    assert body["scope"] == "payments"
    assert body["expires_in"] == 42
    assert body["consent_id"] == "c-1"
    claims = claims_of(body["access_token"])
    assert claims["acr"] == "strong"
    assert claims["scope"] == "payments"
    assert claims["exp"] - claims["iat"] == 42


async def test_token_action_without_refresh_token(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token", "grant_type": "authorization_code"},
                   token={"refresh_token": False})
    code = await get_code(client)
    response = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": REDIRECT}, auth=CLIENT)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "approved"
    assert "refresh_token" not in body and "refresh_count" not in body
    assert "id_token" in body


async def test_delay_ms_holds_the_answer(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"}, delay_ms=20)
    started = time.perf_counter()
    response = await token(client)
    assert time.perf_counter() - started >= 0.02
    assert response.status_code == 200  # a delay-only rule then behaves normally


async def test_times_is_used_up_then_normal_behaviour(client: httpx.AsyncClient) -> None:
    rule_id = await add_rule(client, match={"endpoint": "token"}, respond={"status": 503}, times=2)
    assert [(await token(client)).status_code for _ in range(3)] == [503, 503, 200]
    rules = (await client.get("/_mock/rules")).json()["rules"]
    assert rules == [{"id": rule_id, "used": 2, "match": {"endpoint": "token"}, "respond": {"status": 503},
                      "times": 2}]


async def test_match_narrows_by_grant_client_scope_and_method(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token", "grant_type": "authorization_code"}, respond={"status": 500})
    await add_rule(client, match={"client_id": "someone-else"}, respond={"status": 500})
    await add_rule(client, match={"scope": "payments"}, respond={"status": 500})
    await add_rule(client, match={"endpoint": "token", "method": "GET"}, respond={"status": 500})
    assert (await token(client, scope="accounts")).status_code == 200
    assert (await token(client, scope="accounts payments")).status_code == 500


async def test_first_unexhausted_rule_acts_and_runtime_rules_come_first(client: httpx.AsyncClient) -> None:
    await client.put("/_mock/scenario", json={"name": "token-outage"})
    await add_rule(client, match={"endpoint": "token"}, respond={"status": 429}, times=1)
    await add_rule(client, match={"endpoint": "token"}, respond={"status": 418}, times=1)
    statuses = [(await token(client)).status_code for _ in range(5)]
    assert statuses == [429, 418, 503, 503, 200]
    rules = [e["rule"] for e in (await client.get("/_mock/requests", params={"endpoint": "token"})).json()["requests"]]
    assert rules == ["runtime:1", "runtime:2", "token-outage:0", "token-outage:0", None]


async def test_reactivating_a_scenario_resets_its_counters(client: httpx.AsyncClient) -> None:
    await client.put("/_mock/scenario", json={"name": "token-outage"})
    assert [(await token(client)).status_code for _ in range(3)] == [503, 503, 200]
    await client.put("/_mock/scenario", json={"name": "token-outage"})
    assert (await token(client)).status_code == 503


async def test_reset_resets_counters_rules_and_scenario(client: httpx.AsyncClient) -> None:
    await client.put("/_mock/scenario", json={"name": "token-outage"})
    await add_rule(client, match={"endpoint": "token"}, respond={"status": 500})
    assert (await client.post("/_mock/reset")).json() == {"status": "ok"}
    assert (await client.get("/_mock/rules")).json() == {"rules": []}
    assert (await client.get("/_mock/scenarios")).json()["active"] is None
    assert (await token(client)).status_code == 200
    assert (await token(client, headers={"X-Mock-Scenario": "token-outage"})).status_code == 503


async def test_delete_rules_removes_them(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"}, respond={"status": 500})
    assert (await client.delete("/_mock/rules")).status_code == 204
    assert (await token(client)).status_code == 200


async def test_header_picks_a_scenario_for_one_request(client: httpx.AsyncClient) -> None:
    response = await token(client, headers={"X-Mock-Scenario": "consent-pending"})
    assert response.json()["status"] == "pending"
    assert (await token(client)).json()["status"] == "approved"
    entry = (await client.get("/_mock/requests")).json()["requests"][0]
    assert (entry["scenario"], entry["rule"]) == ("consent-pending", "consent-pending:0")


async def test_unknown_scenario_header_is_invalid_request_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"}, respond={"status": 503}, times=1)
    response = await token(client, headers={"X-Mock-Scenario": "nope"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert (await client.get("/_mock/rules")).json()["rules"][0]["used"] == 0
    assert (await token(client)).status_code == 503


async def test_a_clients_scenario_applies_to_its_requests_only() -> None:
    config = load_default().model_dump(by_alias=True)
    config["clients"]["demo-client"]["scenario"] = "consent-pending"
    async with app_client(clients=config["clients"]) as client:
        assert (await token(client)).json()["status"] == "pending"
        await client.put("/_mock/scenario", json={"name": "token-outage"})
        assert (await token(client)).json()["status"] == "pending"  # the client's scenario wins over the active


async def test_a_clients_scenario_applies_to_requests_made_with_its_tokens() -> None:
    """A bearer request names no client; the one behind the token is known once it is checked."""
    config = load_default().model_dump(by_alias=True)
    config["scenarios"]["accounts-down"] = {"rules": [
        {"match": {"endpoint": "resource"}, "respond": {"status": 503, "json": {"error": "down"}}},
        {"match": {"endpoint": "userinfo"}, "error": {"error": "server_error", "status": 500}}]}
    config["clients"]["demo-client"]["scenario"] = "accounts-down"
    async with app_client(clients=config["clients"], scenarios=config["scenarios"]) as client:
        mine = await client.post("/_mock/tokens", json={"client_id": "demo-client", "sub": "alice",
                                                        "scope": "openid accounts"})
        other = await client.post("/_mock/tokens", json={"client_id": "demo-public", "sub": "alice",
                                                         "scope": "openid accounts"})
        mine_auth = {"Authorization": f"Bearer {mine.json()['access_token']}"}
        other_auth = {"Authorization": f"Bearer {other.json()['access_token']}"}
        down = await client.get("/accounts/v3/accounts", headers={**mine_auth, "x-api-key": "demo-client"})
        assert (down.status_code, down.json()) == (503, {"error": "down"})
        entry = (await client.get("/_mock/requests", params={"endpoint": "resource"})).json()["requests"][-1]
        assert (entry["client_id"], entry["scenario"], entry["rule"]) == ("demo-client", "accounts-down",
                                                                          "accounts-down:0")
        assert (await client.get("/userinfo", headers=mine_auth)).status_code == 500
        # another client's token, even one naming demo-client in the query, is not under that scenario
        fine = await client.get("/accounts/v3/accounts", params={"client_id": "demo-client"},
                                headers={**other_auth, "x-api-key": "demo-public"})
        assert fine.status_code == 200
        assert (await client.get("/userinfo", headers=other_auth)).status_code == 200
        # and the header still picks a scenario for one request
        await client.put("/_mock/scenario", json={"name": None})
        picked = await client.get("/accounts/v3/accounts", headers={**mine_auth, "x-api-key": "demo-client",
                                                                    "X-Mock-Scenario": "token-outage"})
        assert picked.status_code == 200


async def test_default_scenario_from_settings_and_from_fixture() -> None:
    async with app_client(Settings(scenario="consent-pending")) as client:
        assert (await client.get("/_mock/scenarios")).json()["active"] == "consent-pending"
        assert (await token(client)).json()["status"] == "pending"
        await client.put("/_mock/scenario", json={"name": None})
        assert (await token(client)).json()["status"] == "approved"
        await client.post("/_mock/reset")
        assert (await token(client)).json()["status"] == "pending"  # reset goes back to the default
    server = {**load_default().server.model_dump(), "default_scenario": "token-outage"}
    async with app_client(server=server) as client:
        assert (await token(client)).status_code == 503


async def test_environment_variable_picks_the_default_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCK_OP_AUTH_SCENARIO", "token-outage")
    async with app_client(Settings()) as client:
        assert (await client.get("/_mock/scenarios")).json()["active"] == "token-outage"


@pytest.mark.parametrize("rule", [
    {"match": {"endpoint": "token"}},  # no action
    {"match": {"endpoint": "token"}, "respond": {"status": 500}, "error": {"error": "x"}},  # two actions
    {"match": {"endpoint": "nowhere"}, "respond": {"status": 500}},
    {"match": {"endpoint": "token"}, "respond": {"status": 500}, "times": 0},
    {"match": {"endpoint": "token"}, "respond": {"status": 500}, "colour": "red"},
    {"match": {"endpoint": "token"}, "error": {"error": "x", "status": 302}},
    {"match": {"endpoint": "token"}, "respond": {"headers": {"X-Split": "a\r\nSet-Cookie: b"}}},
    {"match": {"endpoint": "token"}, "respond": {"headers": {"X-€": "1"}}},
    {"match": {"endpoint": "token"}, "respond": {"headers": {"Content-Length": "5"}}},
    {"match": {"endpoint": "token"}, "delay_ms": -1},
    {"match": {"endpoint": "payments"}, "status": "Bogus"},
    {"match": {"endpoint": "token"}, "status": "pending", "respond": {"status": 500}},
    {"match": {"endpoint": "token"}, "status": ""},
    # past what a store holds or a response can be: refused when added, not a 500 at each match
    {"match": {"endpoint": "introspect"}, "delay_ms": 1, "times": 10**29},
    {"match": {"endpoint": "token"}, "token": {"expires_in": 10**23}},
    {"match": {"endpoint": "token"}, "token": {"refresh_token_expires_in": -(10**23)}},
    {"match": {"endpoint": "token"}, "respond": {"status": 101, "json": {"a": 1}}},  # no final response
    {"match": {"endpoint": "token"}, "respond": {"status": 204, "json": {"a": 1}}},  # a 204 has no content
    {"match": {"endpoint": "token"}, "respond": {"status": 304, "text": "x"}},
])
async def test_malformed_rule_is_422_and_changes_nothing(client: httpx.AsyncClient, rule: dict[str, Any]) -> None:
    response = await client.post("/_mock/rules", json=rule)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert (await client.get("/_mock/rules")).json() == {"rules": []}
    await client_credentials(client)


async def test_unknown_scenario_put_is_404_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await client.put("/_mock/scenario", json={"name": "consent-pending"})
    response = await client.put("/_mock/scenario", json={"name": "no-such-scenario"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert (await client.get("/_mock/scenarios")).json()["active"] == "consent-pending"


async def test_scenarios_lists_the_fixtures_scenarios(client: httpx.AsyncClient) -> None:
    await client.put("/_mock/scenario", json={"name": "login-denied"})
    body = (await client.get("/_mock/scenarios")).json()
    assert body["active"] == "login-denied"
    names = {s["name"]: s for s in body["scenarios"]}
    assert {"token-outage", "consent-pending", "login-denied"} <= set(names)
    assert names["login-denied"]["active"] is True and names["token-outage"]["rules"] == 1


async def test_token_action_sets_the_refresh_token_lifetime(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"}, token={"refresh_token_expires_in": 120})
    code = await get_code(client)
    body = (await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": REDIRECT}, auth=CLIENT)).json()
    assert body["refresh_token_expires_in"] == 120
    await client.post("/_mock/clock", json={"advance": 121})
    refused = await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                                auth=CLIENT)
    assert refused.json()["error"] == "invalid_grant"


async def test_runtime_rules_are_bounded_and_used_up_ones_make_room(client: httpx.AsyncClient, server) -> None:
    from mock_op_auth.config.schema import Rule
    from mock_op_auth.scenarios import MAX_RUNTIME_RULES

    filler = Rule.model_validate({"match": {"endpoint": "revoke"}, "respond": {"status": 503}})
    for _ in range(MAX_RUNTIME_RULES - 1):  # set up directly: a thousand HTTP calls would only be slower
        server.engine.add_rule(filler)
    await add_rule(client, match={"endpoint": "token"}, respond={"status": 429}, times=1)
    refused = await client.post("/_mock/rules", json={"match": {"endpoint": "token"}, "respond": {"status": 500}})
    assert refused.status_code == 409 and "DELETE /_mock/rules" in refused.json()["error_description"]
    assert (await token(client, grant_type="client_credentials")).status_code == 429  # the one-shot rule is used up
    again = await client.post("/_mock/rules", json={"match": {"endpoint": "token"}, "respond": {"status": 500}})
    assert again.status_code == 201


async def test_status_action_is_the_tokens_status_at_a_token_endpoint(client: httpx.AsyncClient) -> None:
    await add_rule(client, match={"endpoint": "token"}, status="pending", times=1)
    body = (await token(client)).json()
    assert body["status"] == "pending" and "refresh_token" not in body
    assert (await token(client)).json()["status"] == "approved"


async def test_an_injected_error_looks_like_the_real_one(client: httpx.AsyncClient) -> None:
    """scenarios.md: "At the resource stub and userinfo it is an RFC 6750 error"; DESIGN §3: an
    invalid_client to a client that tried Basic carries the Basic challenge."""
    tokens = await code_flow(client, scope="openid accounts")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}", "x-api-key": "demo-client"}
    await add_rule(client, match={"endpoint": "resource"}, times=1,
                   error={"error": "invalid_token", "error_description": "injected", "status": 401})
    await add_rule(client, match={"endpoint": "userinfo"}, times=1, error={"error": "invalid_token", "status": 401})
    await add_rule(client, match={"endpoint": "token"}, times=1, error={"error": "invalid_client", "status": 401})
    resource = await client.get("/accounts/v3/accounts", headers=bearer)
    assert resource.status_code == 401
    assert resource.json() == {"error": "invalid_token", "error_description": "injected"}
    assert 'error="invalid_token"' in resource.headers["www-authenticate"]
    assert "resource_metadata=" in resource.headers["www-authenticate"]
    userinfo = await client.get("/userinfo", headers=bearer)
    assert userinfo.status_code == 401 and userinfo.headers["www-authenticate"].startswith("Bearer realm=")
    refused = await token(client)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Basic realm="mock-op-auth"'
