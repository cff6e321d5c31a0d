from __future__ import annotations

import httpx

from tests.helpers import client_credentials, code_flow


async def test_userinfo_releases_claims_by_scope(client: httpx.AsyncClient) -> None:
    tokens = await code_flow(client, scope="openid email")
    response = await client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "email": "alice@example.com", "email_verified": True}


async def test_userinfo_by_post_with_form_token(client: httpx.AsyncClient) -> None:
    tokens = await code_flow(client, scope="openid profile")
    response = await client.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert response.status_code == 200 and response.json()["name"] == "Alice Example"


async def test_userinfo_without_token_is_401_with_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="mock-op-auth"'


async def test_userinfo_needs_openid_scope(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client))["access_token"]
    response = await client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="openid"' in response.headers["www-authenticate"]


async def test_userinfo_with_expired_token_is_invalid_token(client: httpx.AsyncClient, server) -> None:
    tokens = await code_flow(client)
    server.clock.advance(3601)
    response = await client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["www-authenticate"]
