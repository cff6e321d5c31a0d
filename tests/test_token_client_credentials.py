from __future__ import annotations

import httpx

from tests.helpers import CLIENT, client_credentials


async def test_client_credentials_issues_a_bearer_token_with_op_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials", "scope": "accounts"},
                                 auth=CLIENT)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "accounts"
    assert body["status"] == "approved"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body and "refresh_count" not in body


async def test_client_secret_post_works_like_basic(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials", "client_id": "demo-client",
                                                 "client_secret": "demo-secret"})
    assert response.status_code == 200


async def test_wrong_secret_is_invalid_client_with_basic_challenge(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials"}, auth=("demo-client", "nope"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="mock-op-auth"'


async def test_scope_beyond_the_client_is_invalid_scope(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials", "scope": "admin"}, auth=CLIENT)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_default_scope_is_the_clients_non_oidc_scopes(client: httpx.AsyncClient) -> None:
    body = await client_credentials(client, scope="accounts payments")
    assert body["scope"] == "accounts payments"


async def test_two_authorization_headers_authenticate_no_one(client: httpx.AsyncClient) -> None:
    """A repeated field is one list (RFC 9110 §5.3): a wrong secret then the right one is no login."""
    import base64

    def basic(secret: str) -> tuple[str, str]:
        return ("Authorization", "Basic " + base64.b64encode(f"demo-client:{secret}".encode()).decode())

    response = await client.post("/token", data={"grant_type": "client_credentials"},
                                 headers=[basic("wrong"), basic("demo-secret")])
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_request", "invalid_client")
    assert "access_token" not in response.json()


async def test_two_host_headers_are_a_bad_request(client: httpx.AsyncClient) -> None:
    """The Host names the issuer; RFC 9112 §3.2 says a request with two is answered 400."""
    response = await client.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT,
                                 headers=[("Host", "a.example"), ("Host", "b.example")])
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": "more than one Host header"}
