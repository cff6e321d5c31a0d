from __future__ import annotations

import httpx
from jose import jwt

from tests.helpers import CLIENT, REDIRECT, code_flow, get_code, pkce_pair


async def redeem(client: httpx.AsyncClient, code: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    return await client.post("/token", data=data, auth=CLIENT)


async def test_code_flow_issues_access_refresh_and_id_token(client: httpx.AsyncClient) -> None:
    body = await code_flow(client, nonce="n-123", login_hint="bob")
    assert body["token_type"] == "Bearer"
    assert body["refresh_count"] == 0
    assert body["refresh_token_expires_in"] == 1800
    assert isinstance(body["refresh_token_issued_at"], int)
    claims = jwt.get_unverified_claims(body["id_token"])
    assert claims["sub"] == "bob"
    assert claims["aud"] == "demo-client"
    assert claims["nonce"] == "n-123"
    assert claims["email"] == "bob@example.com"
    assert "at_hash" in claims


async def test_access_token_is_an_rfc9068_jwt(client: httpx.AsyncClient) -> None:
    body = await code_flow(client)
    header = jwt.get_unverified_header(body["access_token"])
    claims = jwt.get_unverified_claims(body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} <= set(claims)
    assert claims["sub"] == "alice" and claims["client_id"] == "demo-client"
    assert claims["aud"] == claims["iss"] == "http://mock.test"


async def test_reused_code_is_invalid_grant_and_revokes_its_tokens(client: httpx.AsyncClient) -> None:
    code = await get_code(client)
    first = await redeem(client, code)
    assert first.status_code == 200
    again = await redeem(client, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    introspection = await client.post("/introspect", data={"token": first.json()["access_token"]}, auth=CLIENT)
    assert introspection.json() == {"active": False}
    refresh = await client.post("/token", data={"grant_type": "refresh_token",
                                               "refresh_token": first.json()["refresh_token"]}, auth=CLIENT)
    assert refresh.json()["error"] == "invalid_grant"


async def test_expired_code_is_invalid_grant(client: httpx.AsyncClient, server) -> None:
    code = await get_code(client)
    server.clock.advance(61)
    response = await redeem(client, code)
    assert response.json()["error"] == "invalid_grant"


async def test_redirect_uri_must_match_the_authorization_request(client: httpx.AsyncClient) -> None:
    code = await get_code(client)
    response = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": "http://localhost:8000/other"}, auth=CLIENT)
    assert response.json()["error"] == "invalid_grant"


async def test_code_redeemed_by_another_client_is_invalid_grant(client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(client, client_id="demo-public", code_challenge=challenge, code_challenge_method="S256")
    response = await redeem(client, code, code_verifier=verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_pkce_s256_round_trip_for_a_public_client(client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(client, client_id="demo-public", code_challenge=challenge, code_challenge_method="S256")
    response = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": REDIRECT, "client_id": "demo-public",
                                                "code_verifier": verifier})
    assert response.status_code == 200, response.text


async def test_wrong_pkce_verifier_is_invalid_grant(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    other, _ = pkce_pair()
    code = await get_code(client, client_id="demo-public", code_challenge=challenge, code_challenge_method="S256")
    response = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": REDIRECT, "client_id": "demo-public",
                                                "code_verifier": other})
    assert response.json()["error"] == "invalid_grant"


async def test_missing_verifier_when_a_challenge_was_sent_is_invalid_grant(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    code = await get_code(client, code_challenge=challenge, code_challenge_method="S256")
    response = await redeem(client, code)
    assert response.json()["error"] == "invalid_grant"


async def test_plain_pkce_is_supported(client: httpx.AsyncClient) -> None:
    verifier, _ = pkce_pair()
    code = await get_code(client, code_challenge=verifier, code_challenge_method="plain")
    response = await redeem(client, code, code_verifier=verifier)
    assert response.status_code == 200


async def test_public_client_without_secret_cannot_use_basic_with_empty_secret(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials"}, auth=("demo-public", ""))
    assert response.status_code == 401


async def test_unknown_code_is_invalid_grant(client: httpx.AsyncClient) -> None:
    response = await redeem(client, "nope")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_repeated_parameter_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", content="grant_type=client_credentials&grant_type=client_credentials",
                                 headers={"content-type": "application/x-www-form-urlencoded"}, auth=CLIENT)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_unknown_grant_type_is_unsupported(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "password"}, auth=CLIENT)
    assert response.json()["error"] == "unsupported_grant_type"


async def test_missing_grant_type_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={}, auth=CLIENT)
    assert response.json()["error"] == "invalid_request"


async def test_client_may_only_use_its_own_grants(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials", "client_id": "demo-public"})
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"


async def test_unknown_client_is_invalid_client_without_basic_challenge(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials", "client_id": "x",
                                                "client_secret": "y"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert "www-authenticate" not in response.headers


async def test_json_body_is_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", json={"grant_type": "client_credentials"}, auth=CLIENT)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_body_over_64_kib_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": "client_credentials", "pad": "x" * 70_000},
                                 auth=CLIENT)
    assert response.status_code == 413 and response.json()["error"] == "invalid_request"
