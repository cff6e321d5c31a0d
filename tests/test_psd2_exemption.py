"""OP's PSD2 exemption grant (jwt-bearer, op-auth.md §4.2): reuse of an Authorized intent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import jwt
import pytest

from tests.op_helpers import (
    JWT_BEARER,
    KEYS,
    TPP_ID,
    TPP_SECRET,
    app_for,
    create_intent,
    http,
    psd2_authorized,
    psd2_client_credentials,
    psd2_token,
    tpp_headers,
)

INTENTS = "/accounts-psd2/v1/authorizations"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2")) as c:
        yield c


@pytest.fixture
async def jwt_client() -> AsyncIterator[httpx.AsyncClient]:
    """The fixture with JWT access tokens (it issues opaque ones), so a test can read their claims."""
    async with http(app_for("op-psd2", access_token_format="jwt")) as c:
        yield c


async def mock_now(client: httpx.AsyncClient) -> float:
    return (await client.get("/_mock/clock")).json()["now"]


def bearer(token: str) -> dict[str, str]:
    return tpp_headers(authorization=f"Bearer {token}")


def exemption_assertion(intent_id: str, now: float, **overrides: object) -> str:
    claims = {"iss": TPP_ID, "client_id": TPP_ID, "aud": "https://mtls.apis.op.fi", "scope": "payments",
              "iat": int(now), "exp": int(now) + 600, "max_age": 86400, "response_type": "token",
              "claims": {"id_token": {"authorizationId": {"value": intent_id, "essential": True},
                                      "acr": {"essential": True, "values": ["urn:openbanking:psd2:ca"]}}},
              **overrides}
    pem, kid = KEYS["ES256"]
    return jwt.encode(claims, pem, algorithm="ES256", headers={"kid": kid})


async def test_exemption_grant_reuses_an_authorized_intent(jwt_client: httpx.AsyncClient) -> None:
    client = jwt_client
    tokens = await psd2_authorized(client)
    intent_id = tokens["authorizationId"]
    assertion = exemption_assertion(intent_id, await mock_now(client))
    response = await psd2_token(client, grant_type=JWT_BEARER, scope="payments", assertion=assertion)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "payments" and "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["authorizationId"] == intent_id and claims["acr"] == "urn:openbanking:psd2:ca"
    assert claims["sub"] == "psu-11223344"
    token = await psd2_client_credentials(client)
    await client.delete(f"{INTENTS}/{intent_id}", headers=bearer(token))
    introspected = await client.post("/introspect", data={"token": body["access_token"]}, auth=(TPP_ID, TPP_SECRET))
    assert introspected.json() == {"active": False}


async def test_exemption_grant_needs_an_authorized_intent(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    assertion = exemption_assertion(intent["authorizationId"], await mock_now(client))
    response = await psd2_token(client, grant_type=JWT_BEARER, scope="payments", assertion=assertion)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_exemption_assertion_must_verify(client: httpx.AsyncClient) -> None:
    tokens = await psd2_authorized(client)
    claims = jwt.decode(exemption_assertion(tokens["authorizationId"], await mock_now(client)),
                        options={"verify_signature": False})
    forged = jwt.encode(claims, "a-shared-secret-of-32-bytes-min!!", algorithm="HS256")
    response = await psd2_token(client, grant_type=JWT_BEARER, scope="payments", assertion=forged)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_generic_token_endpoint_does_not_offer_the_exemption_grant(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data={"grant_type": JWT_BEARER, "client_id": TPP_ID,
                                                  "client_secret": TPP_SECRET, "assertion": "x.y.z"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
