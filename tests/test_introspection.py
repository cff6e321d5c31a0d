from __future__ import annotations

import httpx

from tests.helpers import CLIENT, client_credentials, code_flow


async def introspect(client: httpx.AsyncClient, token: str, auth=CLIENT) -> httpx.Response:
    return await client.post("/introspect", data={"token": token}, auth=auth)


async def test_live_access_token_is_active_with_its_claims(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client))["access_token"]
    body = (await introspect(client, token)).json()
    assert body["active"] is True
    assert body["client_id"] == "demo-client" and body["scope"] == "accounts" and body["sub"] == "demo-client"
    assert body["iss"] == "http://mock.test" and body["exp"] > body["iat"]


async def test_expired_token_is_inactive(client: httpx.AsyncClient, server) -> None:
    token = (await client_credentials(client))["access_token"]
    server.clock.advance(3600)
    assert (await introspect(client, token)).json() == {"active": False}


async def test_unknown_and_garbage_tokens_are_inactive(client: httpx.AsyncClient) -> None:
    for token in ("nope", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 9000):
        assert (await introspect(client, token)).json() == {"active": False}


async def test_refresh_token_is_introspectable(client: httpx.AsyncClient) -> None:
    tokens = await code_flow(client)
    body = (await introspect(client, tokens["refresh_token"])).json()
    assert body["active"] is True and body["token_type"] == "refresh_token" and body["sub"] == "alice"


async def test_introspection_needs_client_authentication(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client))["access_token"]
    response = await client.post("/introspect", data={"token": token})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    wrong = await introspect(client, token, auth=("demo-client", "wrong"))
    assert wrong.status_code == 401


async def test_public_client_cannot_introspect(client: httpx.AsyncClient) -> None:
    response = await client.post("/introspect", data={"token": "x", "client_id": "demo-public"})
    assert response.status_code == 401


async def test_missing_token_parameter_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/introspect", data={}, auth=CLIENT)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
