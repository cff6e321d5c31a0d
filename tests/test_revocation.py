from __future__ import annotations

import httpx

from tests.helpers import CLIENT, client_credentials, code_flow


async def revoke(client: httpx.AsyncClient, token: str, **extra: str) -> httpx.Response:
    return await client.post("/revoke", data={"token": token, **extra}, auth=CLIENT)


async def active(client: httpx.AsyncClient, token: str) -> bool:
    return (await client.post("/introspect", data={"token": token}, auth=CLIENT)).json()["active"]


async def test_revoked_access_token_is_inactive_and_refused(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client))["access_token"]
    assert (await revoke(client, token, token_type_hint="access_token")).status_code == 200
    assert not await active(client, token)
    resource = await client.get("/accounts/v3/accounts",
                                headers={"Authorization": f"Bearer {token}", "x-api-key": "demo-client"})
    assert resource.status_code == 401
    assert 'error="invalid_token"' in resource.headers["www-authenticate"]


async def test_revoking_a_refresh_token_revokes_its_grant(client: httpx.AsyncClient) -> None:
    tokens = await code_flow(client)
    assert (await revoke(client, tokens["refresh_token"])).status_code == 200
    assert not await active(client, tokens["access_token"])
    refresh = await client.post("/token", data={"grant_type": "refresh_token",
                                               "refresh_token": tokens["refresh_token"]}, auth=CLIENT)
    assert refresh.json()["error"] == "invalid_grant"


async def test_unknown_token_revocation_is_200(client: httpx.AsyncClient) -> None:
    assert (await revoke(client, "never-issued")).status_code == 200


async def test_wrong_hint_is_ignored(client: httpx.AsyncClient) -> None:
    tokens = await code_flow(client)
    assert (await revoke(client, tokens["refresh_token"], token_type_hint="access_token")).status_code == 200
    assert not await active(client, tokens["refresh_token"])


async def test_revocation_needs_client_authentication(client: httpx.AsyncClient) -> None:
    response = await client.post("/revoke", data={"token": "x"})
    assert response.status_code == 401


async def test_a_client_cannot_revoke_another_clients_token(client: httpx.AsyncClient, server) -> None:
    tokens = await code_flow(client)
    response = await client.post("/revoke", data={"token": tokens["refresh_token"], "client_id": "demo-public"})
    assert response.status_code == 200
    assert await active(client, tokens["refresh_token"])
