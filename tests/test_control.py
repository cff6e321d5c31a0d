"""The control API through HTTP: admin token, clock, journal, key rotation, OpenAPI."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest

from mock_op_auth import Settings, create_app, load_default
from mock_op_auth.server import Server
from tests.helpers import (
    CLIENT,
    REDIRECT,
    assert_refused_everywhere,
    client_credentials,
    code_flow,
    get_code,
    pkce_pair,
    start_of_a_second,
)

ACCOUNTS = "/accounts/v3/accounts"


async def accounts(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get(ACCOUNTS, headers={"Authorization": f"Bearer {access_token}", "x-api-key": "demo-client"})


async def introspect(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post("/introspect", data={"token": token}, auth=CLIENT)
    assert response.status_code == 200
    return response.json()


async def advance(client: httpx.AsyncClient, seconds: float) -> dict[str, Any]:
    response = await client.post("/_mock/clock", json={"advance": seconds})
    assert response.status_code == 200
    return response.json()


# --- admin token ---

async def test_admin_token_guards_every_control_call_but_health() -> None:
    app = create_app(settings=Settings(admin_token="s3cret-admin"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        assert (await client.get("/_mock/health")).json() == {"status": "ok"}
        for method, path in [("GET", "/_mock/scenarios"), ("POST", "/_mock/reset"), ("GET", "/_mock/requests"),
                             ("GET", "/_mock/clock"), ("POST", "/_mock/keys/rotate"), ("GET", "/_mock/rules")]:
            bare = await client.request(method, path)
            wrong = await client.request(method, path, headers={"Authorization": "Bearer nope"})
            assert (bare.status_code, wrong.status_code) == (401, 401), path
            assert bare.json()["error"] == "unauthorized"
            assert bare.headers["www-authenticate"].startswith("Bearer ")
        refused = await client.put("/_mock/scenario", json={"name": "token-outage"},
                                   headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401
        good = {"Authorization": "Bearer s3cret-admin"}
        assert (await client.get("/_mock/scenarios", headers=good)).json()["active"] is None
        assert (await client.put("/_mock/scenario", json={"name": "token-outage"}, headers=good)).status_code == 200
        journal = (await client.get("/_mock/requests", headers=good)).text
        assert "s3cret-admin" not in journal and "nope" not in journal


# --- clock ---

async def test_clock_reads_advances_and_sets(client: httpx.AsyncClient) -> None:
    start = (await client.get("/_mock/clock")).json()
    assert start["offset"] == 0
    moved = await advance(client, 3600)
    assert moved["offset"] == pytest.approx(3600)
    assert moved["now"] == pytest.approx(start["now"] + 3600, abs=5)
    pinned = (await client.post("/_mock/clock", json={"set": 2_000_000_000})).json()
    assert pinned["now"] == pytest.approx(2_000_000_000, abs=2)
    for bad in ({}, {"advance": 1, "set": 2}, {"advance": "soon"}, {"rewind": 1}, {"set": -1}, {"set": 1e300},
                {"advance": 1e300}):
        assert (await client.post("/_mock/clock", json=bad)).status_code == 422
    nan = await client.post("/_mock/clock", content=b'{"advance": NaN}', headers={"Content-Type": "application/json"})
    assert nan.status_code == 422
    assert (await client.get("/_mock/clock")).json()["now"] == pytest.approx(2_000_000_000, abs=2)
    await client.post("/_mock/reset")
    assert (await client.get("/_mock/clock")).json()["offset"] == 0


async def test_clock_expires_codes(client: httpx.AsyncClient) -> None:
    code = await get_code(client)
    await advance(client, 61)  # code_ttl is 60
    response = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": REDIRECT}, auth=CLIENT)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "the code has expired"}


async def test_clock_expires_access_tokens_at_the_resource_and_introspection(client: httpx.AsyncClient) -> None:
    await start_of_a_second(client)
    access = (await client_credentials(client))["access_token"]
    assert (await accounts(client, access)).status_code == 200
    assert (await introspect(client, access))["active"] is True
    await advance(client, 3599)
    assert (await accounts(client, access)).status_code == 200
    await advance(client, 1)
    expired = await accounts(client, access)
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert (await introspect(client, access)) == {"active": False}
    await client.post("/_mock/clock", json={"advance": -10})  # back in time: valid again
    assert (await accounts(client, access)).status_code == 200


async def test_clock_expires_refresh_tokens(client: httpx.AsyncClient) -> None:
    tokens = await code_flow(client)
    await advance(client, 1801)  # refresh_token_ttl is 1800
    assert (await introspect(client, tokens["refresh_token"])) == {"active": False}
    response = await client.post("/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": tokens["refresh_token"]}, auth=CLIENT)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# --- journal ---

async def test_journal_never_shows_a_secret(client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(client, code_challenge=challenge, code_challenge_method="S256")
    issued = (await client.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
        "client_id": "demo-client", "client_secret": "demo-secret"})).json()
    refreshed = (await client.post("/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": issued["refresh_token"]}, auth=CLIENT)).json()
    await client.post("/introspect", data={"token": refreshed["access_token"]}, auth=CLIENT)
    await client.post("/revoke", data={"token": refreshed["refresh_token"]}, auth=CLIENT)
    await client.get("/userinfo", params={"access_token": issued["access_token"]})
    await accounts(client, refreshed["access_token"])
    text = (await client.get("/_mock/requests")).text
    for secret in ("demo-secret", code, verifier, issued["access_token"], issued["refresh_token"],
                   refreshed["access_token"], refreshed["refresh_token"], issued["id_token"],
                   "ZGVtby1jbGllbnQ6ZGVtby1zZWNyZXQ"):  # base64 of demo-client:demo-secret
        assert secret not in text
    entries = json.loads(text)["requests"]
    token_entry = next(e for e in entries if e["grant_type"] == "authorization_code")
    assert token_entry["params"]["client_secret"] == "***" and token_entry["params"]["code"] == "***"
    basic = next(e for e in entries if e["grant_type"] == "refresh_token")
    assert basic["headers"]["authorization"] == "Basic ***"
    assert basic["client_id"] == "demo-client" and basic["status"] == 200


async def test_journal_entries_and_filters(client: httpx.AsyncClient) -> None:
    await client_credentials(client)
    await client.post("/token", data={"grant_type": "client_credentials"}, auth=("demo-public", "x"))
    await client.get("/jwks")
    everything = (await client.get("/_mock/requests")).json()["requests"]
    assert [e["endpoint"] for e in everything] == ["token", "token", "jwks"]
    first = everything[0]
    assert {k: first[k] for k in ("method", "path", "endpoint", "client_id", "grant_type", "status", "scenario",
                                  "rule")} == {"method": "POST", "path": "/token", "endpoint": "token",
                                               "client_id": "demo-client", "grant_type": "client_credentials",
                                               "status": 200, "scenario": None, "rule": None}
    assert everything[0]["id"] < everything[1]["id"] < everything[2]["id"]
    by_endpoint = (await client.get("/_mock/requests", params={"endpoint": "token"})).json()["requests"]
    assert len(by_endpoint) == 2
    by_client = (await client.get("/_mock/requests", params={"client_id": "demo-public"})).json()["requests"]
    assert [e["status"] for e in by_client] == [401]
    both = await client.get("/_mock/requests", params={"endpoint": "jwks", "client_id": "demo-client"})
    assert both.json() == {"requests": []}
    assert (await client.delete("/_mock/requests")).status_code == 204
    assert (await client.get("/_mock/requests")).json() == {"requests": []}


async def test_journal_is_bounded_by_journal_size() -> None:
    config = load_default()
    config = config.model_copy(update={"server": config.server.model_copy(update={"journal_size": 3})})
    app = create_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        for _ in range(5):
            await client.get("/jwks")
        entries = (await client.get("/_mock/requests")).json()["requests"]
        assert [e["id"] for e in entries] == [3, 4, 5]


async def test_control_calls_that_change_state_are_journaled(client: httpx.AsyncClient) -> None:
    await client.put("/_mock/scenario", json={"name": "token-outage"})
    await client.post("/_mock/rules", json={"match": {"endpoint": "token"}, "respond": {"status": 500}})
    await client.post("/_mock/rules", json={"match": {"endpoint": "nowhere"}})  # refused: journaled with 422
    await client.post("/_mock/clock", json={"advance": 5})
    await client.get("/_mock/scenarios")  # a read: not journaled
    await client.get("/_mock/clock")
    entries = (await client.get("/_mock/requests", params={"endpoint": "control"})).json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("PUT", "/_mock/scenario", 200), ("POST", "/_mock/rules", 201), ("POST", "/_mock/rules", 422),
        ("POST", "/_mock/clock", 200)]
    assert entries[0]["params"] == {"name": "token-outage"}
    await client.delete("/_mock/requests")
    assert (await client.get("/_mock/requests")).json() == {"requests": []}  # its own delete is not journaled
    await client.post("/_mock/rules", json={"match": {"endpoint": "token"}, "respond": {"status": 500}})
    await client.post("/_mock/reset")
    assert (await client.get("/_mock/requests")).json() == {"requests": []}  # nor is reset


# --- key rotation ---

async def test_key_rotation_keeps_the_old_key_until_its_tokens_expire(client: httpx.AsyncClient) -> None:
    await start_of_a_second(client)
    old = (await client_credentials(client))["access_token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    rotated = await client.post("/_mock/keys/rotate")
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["kid"] != old_kid
    assert [k["kid"] for k in body["keys"]] == [old_kid, body["kid"]]
    assert body["keys"][0]["retire_at"] is not None and body["keys"][1]["retire_at"] is None
    assert {k["kid"] for k in (await client.get("/jwks")).json()["keys"]} == {old_kid, body["kid"]}
    new = (await client_credentials(client))["access_token"]
    assert jwt.get_unverified_header(new)["kid"] == body["kid"]
    assert (await accounts(client, old)).status_code == 200
    assert (await accounts(client, new)).status_code == 200
    await advance(client, 3599)
    assert (await accounts(client, old)).status_code == 200  # the old key still verifies a live token
    await advance(client, 2)
    assert [k["kid"] for k in (await client.get("/jwks")).json()["keys"]] == [body["kid"]]


async def test_rotation_keeps_the_old_key_for_a_longer_lived_token(client: httpx.AsyncClient, server: Server) -> None:
    await client.post("/_mock/rules", json={"match": {"endpoint": "token"}, "token": {"expires_in": 7200},
                                            "times": 1})
    long_lived = (await client_credentials(client))["access_token"]
    await client.post("/_mock/keys/rotate")
    await advance(client, 7000)
    assert (await accounts(client, long_lived)).status_code == 200
    assert len(server.keys.live()) == 2


# --- OpenAPI ---

async def test_control_api_is_in_the_openapi_document_with_models(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/_mock/openapi.json")).json()
    paths = doc["paths"]
    expected = {("/_mock/health", "get"), ("/_mock/reset", "post"), ("/_mock/scenarios", "get"),
                ("/_mock/scenario", "put"), ("/_mock/rules", "post"), ("/_mock/rules", "get"),
                ("/_mock/rules", "delete"), ("/_mock/requests", "get"), ("/_mock/requests", "delete"),
                ("/_mock/clock", "get"), ("/_mock/clock", "post"), ("/_mock/keys/rotate", "post")}
    assert expected <= {(p, m) for p, ops in paths.items() for m in ops}
    schemas = doc["components"]["schemas"]
    assert {"Rule", "RuleMatch", "RawResponse", "ErrorAction", "TokenAction", "ScenarioChoice", "ClockChange",
            "ClockState", "Journal", "JournalEntry", "KeyRotation"} <= set(schemas)
    rule_body = paths["/_mock/rules"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert rule_body == {"$ref": "#/components/schemas/Rule"}
    journal = paths["/_mock/requests"]["get"]
    assert {p["name"] for p in journal["parameters"]} == {"endpoint", "client_id"}


async def test_setting_the_clock_moves_expiry_both_ways(client: httpx.AsyncClient) -> None:
    access = (await client_credentials(client))["access_token"]
    exp = jwt.decode(access, options={"verify_signature": False})["exp"]
    await client.post("/_mock/clock", json={"set": exp})
    assert (await accounts(client, access)).status_code == 401
    await client.post("/_mock/clock", json={"set": exp - 10})
    assert (await accounts(client, access)).status_code == 200
    await client.post("/_mock/clock", json={"set": exp - 7200})  # before iat: not valid yet
    refused = await accounts(client, access)
    assert refused.status_code == 401 and "not valid yet" in refused.headers["www-authenticate"]


# --- reset forgets every token, self-contained JWTs included ---

@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_reset_refuses_every_token_issued_before_it(client: httpx.AsyncClient, server: Server,
                                                          token_format: str) -> None:
    server.reload(server.config.model_copy(update={
        "server": server.config.server.model_copy(update={"access_token_format": token_format})}))
    issued = [await code_flow(client, scope="openid accounts"), await client_credentials(client)]
    minted = await client.post("/_mock/tokens", json={"client_id": "demo-client", "scope": "accounts"})
    issued.append(minted.json())
    await advance(client, 600)  # a token from a moved clock is refused too once the clock is back
    issued.append(await client_credentials(client))
    for tokens in issued:
        assert (await accounts(client, tokens["access_token"])).status_code == 200
    assert (await client.post("/_mock/reset")).status_code == 200
    for tokens in issued:
        await assert_refused_everywhere(client, tokens)
    fresh = await client_credentials(client)  # and tokens issued after the reset work
    assert (await accounts(client, fresh["access_token"])).status_code == 200
