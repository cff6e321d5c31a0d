"""POST /tpp-registration/register (op-auth.md §4.1): a TPP registers at runtime and uses its credentials."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from tests.op_helpers import (
    FIXTURES,
    KEYS,
    app_for,
    authorize,
    fragment_of,
    http,
    request_object,
)

REGISTER = "/tpp-registration/register"
JWKS = json.loads((FIXTURES / "keys" / "psd2-tpp-jwks.json").read_text())
REDIRECT = "https://new-tpp.example/cb"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2")) as c:
        yield c


def signed(claims: dict[str, Any], alg: str = "RS256") -> str:
    pem, kid = KEYS[alg]
    return jwt.encode(claims, pem, algorithm=alg, headers={"kid": kid})


def registration(now: float, *, ssa: dict[str, Any] | None = None, **request: Any) -> str:
    """A registration JWT as OP's example builds it, keys inline in the SSA (software_jwks)."""
    statement = {"iss": "tpp-org-1", "iat": int(now), "exp": int(now) + 600, "jti": str(uuid.uuid4()),
                 "software_client_id": "new-tpp-software", "software_roles": ["AIS", "PIS"],
                 "software_jwks_endpoint": "https://new-tpp.example/jwks.json", "software_client_name": "New TPP",
                 "software_redirect_uris": [REDIRECT], "org_name": "New TPP Oy", "org_id": "FIN-123",
                 "software_jwks": JWKS, **(ssa or {})}
    claims = {"iat": int(now), "exp": int(now) + 600, "aud": "https://op.fi/", "jti": str(uuid.uuid4()),
              "redirect_uris": [REDIRECT], "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
              "software_statement": signed(statement, "ES256"), **request}
    return signed(claims)


async def register(client: httpx.AsyncClient, body: str, api_key: str | None = "tpp-api-key") -> httpx.Response:
    headers = {"content-type": "application/jwt", "accept": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    return await client.post(REGISTER, content=body, headers=headers)


async def test_a_registered_tpp_gets_credentials_and_can_use_them(client: httpx.AsyncClient) -> None:
    response = await register(client, registration(time.time()))
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"client_id", "client_id_issued_at", "client_secret", "client_secret_expires_at", "api_key",
                         "client_name", "redirect_uris", "grant_types", "software_id", "scope", "jwks_endpoint",
                         "software_roles"}
    assert re.fullmatch(r"[A-Za-z0-9]{20}", body["client_id"])
    assert body["api_key"] == "tpp-api-key" and body["scope"] == "openid accounts payments"
    assert body["redirect_uris"] == [REDIRECT] and body["client_name"] == "New TPP"
    new_id, secret = body["client_id"], body["client_secret"]
    headers = {"x-api-key": body["api_key"]}
    token = await client.post("/oauth/token", headers=headers, data={
        "grant_type": "client_credentials", "scope": "accounts", "client_id": new_id, "client_secret": secret})
    assert token.status_code == 200
    intent = await client.post("/accounts-psd2/v1/authorizations", json={}, headers={
        **headers, "authorization": f"Bearer {token.json()['access_token']}"})
    assert intent.status_code == 201
    request = request_object(intent.json()["authorizationId"], iss=new_id, client_id=new_id, redirect_uri=REDIRECT)
    response = await authorize(client, request, client_id=new_id)
    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT + "#")
    assert "code" in fragment_of(response.headers["location"])


async def test_registration_needs_a_known_x_api_key(client: httpx.AsyncClient) -> None:
    missing = await register(client, registration(time.time()), api_key=None)
    assert missing.status_code == 401 and missing.json()["type"] == "SECURITY"
    unknown = await register(client, registration(time.time()), api_key="nobody")
    assert unknown.status_code == 401


async def test_registration_must_be_signed_by_a_key_of_the_ssa(client: httpx.AsyncClient) -> None:
    claims = jwt.decode(registration(time.time()), options={"verify_signature": False})
    forged = jwt.encode(claims, "a-shared-secret-of-32-bytes-min!!", algorithm="HS256")
    response = await register(client, forged)
    assert response.status_code == 400 and response.json()["error"] == "invalid_software_statement"


@pytest.mark.parametrize("request_claims, ssa, error", [
    ({"software_statement": None}, None, "invalid_software_statement"),
    ({}, {"software_jwks": None}, "invalid_software_statement"),
    ({}, {"exp": 1}, "invalid_software_statement"),
    ({"aud": "https://elsewhere.example"}, None, "invalid_client_metadata"),
    ({"redirect_uris": ["https://evil.example/cb"]}, None, "invalid_redirect_uri"),
    ({"redirect_uris": ["javascript://x%0aalert(1)"]}, {"software_redirect_uris": ["javascript://x%0aalert(1)"]},
     "invalid_redirect_uri"),  # RFC 9700 §4.1.3, however the SSA allows it
    ({}, {"software_roles": ["ADMIN"]}, "invalid_software_statement"),
    ({"grant_types": ["password"]}, None, "invalid_client_metadata"),
])
async def test_bad_registrations_are_refused_in_rfc7591_terms(client: httpx.AsyncClient,
                                                             request_claims: dict[str, Any],
                                                             ssa: dict[str, Any] | None, error: str) -> None:
    response = await register(client, registration(time.time(), ssa=ssa, **request_claims))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


async def test_registration_body_must_be_application_jwt(client: httpx.AsyncClient) -> None:
    response = await client.post(REGISTER, json={"redirect_uris": [REDIRECT]}, headers={"x-api-key": "tpp-api-key"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_registered_clients_are_forgotten_on_reset(client: httpx.AsyncClient) -> None:
    body = (await register(client, registration(time.time()))).json()
    await client.post("/_mock/reset")
    token = await client.post("/oauth/token", headers={"x-api-key": "tpp-api-key"}, data={
        "grant_type": "client_credentials", "scope": "accounts", "client_id": body["client_id"],
        "client_secret": body["client_secret"]})
    assert token.status_code == 401 and token.json()["error"] == "invalid_client"


async def test_registered_clients_survive_a_fixture_reload() -> None:
    app = app_for("op-psd2")
    async with http(app) as client:
        body = (await register(client, registration(time.time()))).json()
        server = app.state.server
        server.reload(server.config.model_copy(update={"users": {}}))
        token = await client.post("/oauth/token", headers={"x-api-key": "tpp-api-key"}, data={
            "grant_type": "client_credentials", "scope": "accounts", "client_id": body["client_id"],
            "client_secret": body["client_secret"]})
        assert token.status_code == 200
