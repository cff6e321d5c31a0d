"""OP's token ``status``: what a pending and a rejected token response look like and do (docs/scenarios.md)."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import CLIENT, REDIRECT, code_flow, get_code


async def redeem(client: httpx.AsyncClient, status: str) -> tuple[httpx.Response, str]:
    await client.post("/_mock/rules", json={"match": {"endpoint": "token"}, "token": {"status": status}})
    code = await get_code(client)
    response = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": REDIRECT}, auth=CLIENT)
    return response, code


@pytest.mark.parametrize("status", ["pending", "rejected"])
async def test_not_approved_response_shape(client: httpx.AsyncClient, status: str) -> None:
    response, _ = await redeem(client, status)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "status"}
    assert body["status"] == status and body["token_type"] == "Bearer"


@pytest.mark.parametrize("status", ["pending", "rejected"])
async def test_not_approved_token_opens_nothing(client: httpx.AsyncClient, status: str) -> None:
    response, code = await redeem(client, status)
    access = response.json()["access_token"]
    resource = await client.get("/accounts/v3/accounts", headers={"Authorization": f"Bearer {access}",
                                                                  "x-api-key": "demo-client"})
    assert resource.status_code == 401
    assert 'error="invalid_token"' in resource.headers["www-authenticate"]
    assert resource.json()["error_description"] == "the token is not approved"
    assert (await client.get("/userinfo", headers={"Authorization": f"Bearer {access}"})).status_code == 401
    introspected = await client.post("/introspect", data={"token": access}, auth=CLIENT)
    assert introspected.json() == {"active": False}
    again = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": REDIRECT}, auth=CLIENT)
    assert again.json()["error"] == "invalid_grant"  # the code was consumed: a client starts over


async def test_approved_after_pending_once_the_rule_is_gone(client: httpx.AsyncClient) -> None:
    await redeem(client, "pending")
    await client.delete("/_mock/rules")
    body = await code_flow(client)
    assert body["status"] == "approved" and "refresh_token" in body and "id_token" in body


async def test_client_credentials_pending(client: httpx.AsyncClient) -> None:
    await client.post("/_mock/rules", json={"match": {"grant_type": "client_credentials"},
                                            "token": {"status": "pending"}})
    response = await client.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT)
    assert response.json()["status"] == "pending"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=CLIENT)


async def test_max_refresh_count_from_a_scenario(client: httpx.AsyncClient, server) -> None:
    config = server.config.model_validate({**server.config.model_dump(by_alias=True), "scenarios": {
        **server.config.model_dump(by_alias=True)["scenarios"],
        "two-refreshes": {"server": {"max_refresh_count": 2}}}})
    server.reload(config)
    await client.put("/_mock/scenario", json={"name": "two-refreshes"})
    token = (await code_flow(client))["refresh_token"]
    counts = []
    for _ in range(2):
        body = (await refresh(client, token)).json()
        counts.append(body["refresh_count"])
        token = body["refresh_token"]
    assert counts == [1, 2]
    refused = await refresh(client, token)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "the refresh limit of 2 has been reached"}
    await client.put("/_mock/scenario", json={"name": None})
    assert (await refresh(client, token)).status_code == 200  # the limit belongs to the scenario


async def test_a_pending_refresh_leaves_the_refresh_token_usable(client: httpx.AsyncClient) -> None:
    token = (await code_flow(client))["refresh_token"]
    await client.post("/_mock/rules", json={"match": {"grant_type": "refresh_token"}, "token": {"status": "pending"},
                                            "times": 1})
    pending = (await refresh(client, token)).json()
    assert pending["status"] == "pending" and "refresh_token" not in pending
    again = await refresh(client, token)
    assert again.status_code == 200 and again.json()["status"] == "approved"
