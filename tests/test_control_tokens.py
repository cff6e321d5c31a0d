"""POST /_mock/tokens: minted tokens, valid or with one defect, as the resource stub and
introspection see them."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import jwt
import pytest

from mock_op_auth import create_app
from mock_op_auth.settings import Settings
from tests.helpers import CLIENT

ACCOUNTS = "/accounts/v3/accounts"
API_KEY = {"x-api-key": "demo-client"}
ISSUER = "http://mock.test"


async def mint(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post("/_mock/tokens", json={"client_id": "demo-client", **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    return str(body["access_token"])


async def get_accounts(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(ACCOUNTS, headers={"Authorization": f"Bearer {token}", **API_KEY})


async def introspect(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post("/introspect", data={"token": token}, auth=CLIENT)
    assert response.status_code == 200
    return dict(response.json())


async def test_minted_token_opens_the_resource_and_is_active(client: httpx.AsyncClient) -> None:
    token = await mint(client, scope="accounts", sub="alice")
    assert (await get_accounts(client, token)).status_code == 200
    info = await introspect(client, token)
    assert info["active"] is True
    assert (info["client_id"], info["sub"], info["scope"], info["iss"]) == ("demo-client", "alice", "accounts", ISSUER)


async def test_minted_jwt_verifies_with_the_published_jwks(client: httpx.AsyncClient) -> None:
    response = await client.post("/_mock/tokens", json={"client_id": "demo-client", "scope": "accounts payments",
                                                        "expires_in": 120, "claims": {"tenant": "op"}})
    body = response.json()
    assert body["expires_in"] == 120
    assert response.headers["cache-control"] == "no-store"  # a token, as at /token (RFC 6749 §5.1)
    jwks = (await client.get("/jwks")).json()
    header = jwt.get_unverified_header(body["access_token"])
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(body["access_token"], jwt.PyJWK(key).key, algorithms=["RS256"], audience=ISSUER,
                        issuer=ISSUER)
    assert header["typ"] == "at+jwt"
    assert claims["exp"] - claims["iat"] == 120
    assert (claims["sub"], claims["client_id"], claims["scope"], claims["tenant"]) == (
        "demo-client", "demo-client", "accounts payments", "op")


async def test_default_scope_is_the_clients_non_oidc_scopes(client: httpx.AsyncClient) -> None:
    token = await mint(client)
    assert (await introspect(client, token))["scope"] == "accounts payments"


async def test_negative_expires_in_is_already_expired(client: httpx.AsyncClient) -> None:
    response = await client.post("/_mock/tokens", json={"client_id": "demo-client", "scope": "accounts",
                                                        "expires_in": -1})
    assert response.json()["expires_in"] == -1
    refused = await get_accounts(client, response.json()["access_token"])
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert (await introspect(client, response.json()["access_token"])) == {"active": False}


async def test_minted_token_expires_by_the_mock_clock(client: httpx.AsyncClient) -> None:
    token = await mint(client, scope="accounts", expires_in=60)
    await client.post("/_mock/clock", json={"advance": 61})
    assert (await get_accounts(client, token)).json()["error_description"] == "the token has expired"


@pytest.mark.parametrize(("defect", "description"), [
    ("expired", "the token has expired"),
    ("not_yet_valid", "the token is not valid yet"),
    ("wrong_issuer", "the token was issued by another issuer"),
    ("wrong_audience", "the token is meant for another audience"),
    ("unknown_kid", "the token was signed with an unknown key"),
    ("bad_signature", "the token signature does not verify"),
    ("alg_none", "the token's algorithm is not accepted"),
])
async def test_each_defect_is_refused_at_the_resource_with_invalid_token(
        client: httpx.AsyncClient, defect: str, description: str) -> None:
    token = await mint(client, scope="accounts", defect=defect)
    response = await get_accounts(client, token)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "error_description": description}
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="mock-op-auth", error="invalid_token", error_description="{description}", '
        'resource_metadata="http://mock.test/.well-known/oauth-protected-resource"')


MINT = {"client_id": "demo-client", "sub": "alice", "scope": "accounts payments", "expires_in": 120,
        "claims": {"tenant": "op"}}
# What a strict library (PyJWT, every check on) refuses each defect for: its own property, nothing else.
STRICT_REFUSAL: dict[str, tuple[type[Exception], str]] = {
    "expired": (jwt.ExpiredSignatureError, "expired"),
    "not_yet_valid": (jwt.ImmatureSignatureError, "(nbf)"),
    "wrong_issuer": (jwt.InvalidIssuerError, "Invalid issuer"),
    "wrong_audience": (jwt.InvalidAudienceError, "Audience"),
    "bad_signature": (jwt.InvalidSignatureError, "Signature verification failed"),
    "alg_none": (jwt.InvalidAlgorithmError, "not allowed"),
}


@pytest.mark.parametrize("defect", ["expired", "not_yet_valid", "wrong_issuer", "wrong_audience", "unknown_kid",
                                    "bad_signature", "alg_none"])
async def test_each_defect_changes_only_its_own_property(client: httpx.AsyncClient, defect: str) -> None:
    """Header, claims and lifetime are those of a valid minted token but for the defect's own property."""
    valid = (await client.post("/_mock/tokens", json=MINT)).json()
    broken = (await client.post("/_mock/tokens", json={**MINT, "defect": defect})).json()
    now = time.time()  # the mock clock is not moved here, so it reads the real time a library uses
    header, claims = jwt.get_unverified_header(broken["access_token"]), unverified(broken["access_token"])
    expected_header = jwt.get_unverified_header(valid["access_token"])
    expected = unverified(valid["access_token"])
    assert claims.pop("jti") != expected.pop("jti")  # unique per token
    expires_in = 120
    if defect == "expired":  # a token that lived its lifetime and ended a minute ago
        expected.update(exp=now - 60, iat=now - 180, nbf=now - 180)
        expires_in = -60
    elif defect == "not_yet_valid":  # issued now, valid in ten minutes, for its lifetime
        expected.update(nbf=now + 600, exp=now + 720)
        expires_in = 720
    elif defect == "wrong_issuer":
        expected["iss"] = "https://wrong-issuer.invalid"
    elif defect == "wrong_audience":
        expected["aud"] = "https://wrong-audience.invalid"
    elif defect == "unknown_kid":
        expected_header["kid"] = header["kid"]
        assert header["kid"] not in {k["kid"] for k in (await client.get("/jwks")).json()["keys"]}
    elif defect == "alg_none":
        expected_header["alg"] = "none"
    assert header == expected_header
    assert claims.keys() == expected.keys()
    for name, value in expected.items():
        if name in ("iat", "nbf", "exp"):
            assert claims[name] == pytest.approx(value, abs=2), name
        else:
            assert claims[name] == value, name
    assert broken["expires_in"] == expires_in
    if defect in STRICT_REFUSAL:
        error, reason = STRICT_REFUSAL[defect]
        with pytest.raises(error, match=re.escape(reason)):
            await strict_decode(client, broken["access_token"])
    await strict_decode(client, valid["access_token"])  # the control: the valid token passes every check


def unverified(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def strict_decode(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """Decode as a strict verifier does: the JWKS key of the token's kid (the current key for an
    unknown one), this issuer and audience, and every time claim."""
    keys = {k["kid"]: k for k in (await client.get("/jwks")).json()["keys"]}
    jwk = keys.get(jwt.get_unverified_header(token).get("kid")) or next(iter(keys.values()))
    return dict(jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=ISSUER, issuer=ISSUER,
                           options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]}))


@pytest.mark.parametrize("defect", ["expired", "not_yet_valid", "wrong_issuer", "unknown_kid", "bad_signature",
                                    "alg_none"])
async def test_defective_tokens_are_inactive_at_introspection(client: httpx.AsyncClient, defect: str) -> None:
    assert await introspect(client, await mint(client, scope="accounts", defect=defect)) == {"active": False}


async def test_wrong_audience_is_active_at_introspection_with_its_audience(client: httpx.AsyncClient) -> None:
    """The token is this server's, live and well signed; the resource that introspects checks ``aud``
    (RFC 7662 §2.2, §4), so the mock tells it the truth and shows the foreign audience."""
    info = await introspect(client, await mint(client, scope="accounts", defect="wrong_audience"))
    assert info["active"] is True
    assert info["aud"] == "https://wrong-audience.invalid"


async def test_alg_none_token_carries_no_signature(client: httpx.AsyncClient) -> None:
    token = await mint(client, scope="accounts", defect="alg_none")
    assert token.endswith(".")
    assert jwt.get_unverified_header(token)["alg"] == "none"


async def test_unknown_kid_is_in_no_jwks(client: httpx.AsyncClient) -> None:
    token = await mint(client, scope="accounts", defect="unknown_kid")
    kids = {k["kid"] for k in (await client.get("/jwks")).json()["keys"]}
    assert jwt.get_unverified_header(token)["kid"] not in kids


async def test_not_yet_valid_token_becomes_valid_when_the_clock_reaches_it(client: httpx.AsyncClient) -> None:
    token = await mint(client, scope="accounts", defect="not_yet_valid")
    assert (await get_accounts(client, token)).status_code == 401
    await client.post("/_mock/clock", json={"advance": 601})
    assert (await get_accounts(client, token)).status_code == 200


async def test_token_without_the_routes_scope_is_insufficient_scope(client: httpx.AsyncClient) -> None:
    response = await get_accounts(client, await mint(client, scope="payments"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="accounts"' in response.headers["www-authenticate"]


async def test_minted_jwt_is_recorded_so_revocation_reaches_it(client: httpx.AsyncClient) -> None:
    token = await mint(client, scope="accounts")
    assert (await client.post("/revoke", data={"token": token}, auth=CLIENT)).status_code == 200
    response = await get_accounts(client, token)
    assert response.json()["error_description"] == "the token has been revoked"
    assert await introspect(client, token) == {"active": False}


async def test_minted_opaque_token_opens_the_resource_and_can_be_revoked(client: httpx.AsyncClient) -> None:
    token = await mint(client, scope="accounts", format="opaque")
    assert token.count(".") == 0
    assert (await get_accounts(client, token)).status_code == 200
    assert (await introspect(client, token))["active"] is True
    await client.post("/revoke", data={"token": token}, auth=CLIENT)
    assert (await get_accounts(client, token)).status_code == 401


async def test_opaque_token_can_be_minted_expired(client: httpx.AsyncClient) -> None:
    token = await mint(client, scope="accounts", format="opaque", defect="expired")
    assert (await get_accounts(client, token)).json()["error_description"] == "the token has expired"


@pytest.mark.parametrize(("fields", "reason"), [
    ({"client_id": "nobody"}, "unknown client nobody"),
    ({"client_id": "demo-client", "scope": "admin"}, "scope not allowed for client demo-client: admin"),
    ({"client_id": "demo-client", "claims": {"iss": "x", "exp": 1}}, "claims may not set exp, iss"),
    ({"client_id": "demo-client", "format": "opaque", "defect": "bad_signature"}, "defect bad_signature needs"),
])
async def test_bad_mint_requests_are_400(client: httpx.AsyncClient, fields: dict[str, Any], reason: str) -> None:
    response = await client.post("/_mock/tokens", json=fields)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].startswith(reason)


@pytest.mark.parametrize("fields", [
    {},
    {"client_id": "demo-client", "defect": "broken"},
    {"client_id": "demo-client", "format": "saml"},
    {"client_id": "demo-client", "lifetime": 3},
    {"client_id": "demo-client", "expires_in": 10**12},
])
async def test_malformed_mint_bodies_are_422(client: httpx.AsyncClient, fields: dict[str, Any]) -> None:
    response = await client.post("/_mock/tokens", json=fields)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def test_minting_needs_the_admin_token_when_one_is_set() -> None:
    app = create_app(settings=Settings(admin_token="s3cret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as client:
        body = {"client_id": "demo-client"}
        assert (await client.post("/_mock/tokens", json=body)).status_code == 401
        allowed = await client.post("/_mock/tokens", json=body, headers={"Authorization": "Bearer s3cret"})
        assert allowed.status_code == 200
