from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest

from mock_op_auth.config.schema import Resource
from mock_op_auth.state.keys import generate_key, sign_with_pem
from mock_op_auth.state.store import AccessToken
from tests.helpers import client_credentials, code_flow, start_of_a_second

ACCOUNTS = "/accounts/v3/accounts"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(server, **changes) -> dict:
    now = int(server.clock.now())
    base = {"iss": "http://mock.test", "sub": "demo-client", "aud": "http://mock.test", "exp": now + 300,
            "iat": now, "jti": "j1", "client_id": "demo-client", "scope": "accounts"}
    return {**base, **changes}


def recorded(server, token_claims: dict) -> dict:
    """Record ``token_claims`` as the server records every token it issues (keyed by ``jti``): a JWT
    the store does not know is refused however well it is signed."""
    server.store.put_access(AccessToken(
        key=token_claims["jti"], client_id=token_claims["client_id"], subject=token_claims["sub"],
        scope=tuple(token_claims["scope"].split()), issued_at=token_claims["iat"], expires_at=token_claims["exp"],
        audience=token_claims["aud"], issuer=token_claims["iss"]))
    return token_claims


async def call(client: httpx.AsyncClient, token: str | None, api_key: str | None = "demo-client",
               path: str = ACCOUNTS) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if api_key is not None:
        headers["x-api-key"] = api_key
    return await client.get(path, headers=headers)


async def test_valid_token_with_scope_and_api_key_gets_the_fixture_response(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client))["access_token"]
    response = await call(client, token)
    assert response.status_code == 200
    assert response.json()["accounts"][0]["currency"] == "EUR"


async def test_path_parameters_match(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client))["access_token"]
    response = await call(client, token, path="/accounts/v3/accounts/FI33/transactions")
    assert response.status_code == 200 and "transactions" in response.json()


async def test_token_from_the_code_flow_works_too(client: httpx.AsyncClient) -> None:
    tokens = await code_flow(client, scope="openid accounts")
    assert (await call(client, tokens["access_token"])).status_code == 200


async def test_missing_token_is_401_without_error_code(client: httpx.AsyncClient) -> None:
    response = await call(client, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="mock-op-auth", resource_metadata="http://mock.test/.well-known/oauth-protected-resource"')


async def test_missing_scope_is_403_insufficient_scope(client: httpx.AsyncClient) -> None:
    token = (await client_credentials(client, scope="payments"))["access_token"]
    response = await call(client, token)
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="accounts"' in challenge


@pytest.mark.parametrize("api_key", [None, "wrong", "demo-public"])
async def test_missing_or_wrong_api_key_is_401(client: httpx.AsyncClient, api_key: str | None) -> None:
    token = (await client_credentials(client))["access_token"]
    response = await call(client, token, api_key=api_key)
    assert response.status_code == 401


async def test_unknown_route_is_404_and_wrong_method_405(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nope")).status_code == 404
    assert (await client.delete(ACCOUNTS)).status_code == 405


async def test_opaque_tokens_work_at_the_resource(client: httpx.AsyncClient, server) -> None:
    server.reload(server.config.model_copy(update={
        "server": server.config.server.model_copy(update={"access_token_format": "opaque"})}))
    token = (await client_credentials(client))["access_token"]
    assert token.count(".") == 0
    assert (await call(client, token)).status_code == 200
    assert (await call(client, token + "x")).status_code == 401


# Hostile tokens: each must be refused with 401 invalid_token.

def alg_none(server) -> str:
    header = {"alg": "none", "typ": "at+jwt", "kid": server.keys.current.kid}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims(server)).encode())}."


def hs256_with_public_key(server) -> str:
    public_pem = server.keys.current.public_pem()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": server.keys.current.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims(server)).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered(server) -> str:
    token = server.keys.sign(claims(server), typ="at+jwt")
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(claims(server, scope='accounts payments')).encode())}.{signature}"


def unknown_kid(server) -> str:
    other = generate_key("RS256")
    return sign_with_pem(claims(server), other.private_pem, "RS256", {"kid": "not-ours", "typ": "at+jwt"})


def own_kid_foreign_key(server) -> str:
    other = generate_key("RS256")
    return sign_with_pem(claims(server), other.private_pem, "RS256", {"kid": server.keys.current.kid})


def wrong_issuer(server) -> str:
    return server.keys.sign(claims(server, iss="https://evil.example"), typ="at+jwt")


def wrong_audience(server) -> str:
    return server.keys.sign(claims(server, aud="https://other-api.example"), typ="at+jwt")


def expired(server) -> str:
    return server.keys.sign(claims(server, exp=int(server.clock.now()) - 1), typ="at+jwt")


def not_yet_valid(server) -> str:
    now = int(server.clock.now())
    return server.keys.sign(claims(server, nbf=now + 600, exp=now + 900), typ="at+jwt")


def garbage(server) -> str:
    return "eyJ.eyJ.sig"


@pytest.mark.parametrize("forge", [alg_none, hs256_with_public_key, tampered, unknown_kid, own_kid_foreign_key,
                                   wrong_issuer, wrong_audience, expired, not_yet_valid, garbage])
async def test_hostile_tokens_are_refused(client: httpx.AsyncClient, server, forge) -> None:
    recorded(server, claims(server))  # so that what refuses each is its own defect, not an unknown jti
    response = await call(client, forge(server))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "invalid_token"


async def test_a_token_signed_correctly_by_the_server_is_accepted(client: httpx.AsyncClient, server) -> None:
    """The control for the hostile cases: the same claims, honestly signed, pass."""
    assert (await call(client, server.keys.sign(recorded(server, claims(server)), typ="at+jwt"))).status_code == 200


async def test_a_well_signed_token_the_store_does_not_know_is_refused(client: httpx.AsyncClient, server) -> None:
    """Signed with the server's own key, but never issued (or forgotten by a reset): refused."""
    response = await call(client, server.keys.sign(claims(server), typ="at+jwt"))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "error_description": "the token is unknown"}


async def test_token_expires_by_the_mock_clock(client: httpx.AsyncClient, server) -> None:
    await start_of_a_second(client)
    token = (await client_credentials(client))["access_token"]
    server.clock.advance(3599)
    assert (await call(client, token)).status_code == 200
    server.clock.advance(1)
    response = await call(client, token)
    assert response.status_code == 401 and "expired" in response.json()["error_description"]


async def test_a_fixture_route_cannot_shadow_the_servers_own_paths(default_config, rsa_key) -> None:
    from mock_op_auth.config.schema import Resource
    from tests.conftest import build_app

    shadow = Resource.model_validate({"path": "/jwks", "methods": ["GET"], "scopes": ["accounts"],
                                      "response": {"json": {"keys": "hijacked"}}})
    extra = Resource.model_validate({"path": "/extra/{id}", "methods": ["GET"], "scopes": ["accounts"],
                                     "response": {"json": {"ok": True}}})
    config = default_config.model_copy(update={"resources": [*default_config.resources, shadow, extra]})
    app = build_app(config, rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        jwks = await c.get("/jwks")
        assert jwks.status_code == 200 and isinstance(jwks.json()["keys"], list)
        token = (await client_credentials(c))["access_token"]
        assert (await c.get("/extra/7", headers={"Authorization": f"Bearer {token}"})).json() == {"ok": True}
        assert (await c.head("/accounts/v3/accounts", headers={"Authorization": f"Bearer {token}",
                                                               "x-api-key": "demo-client"})).status_code == 200


@pytest.mark.parametrize("dialect", ["rfc", "apigee", "psd2"])
async def test_every_401_names_the_resource_metadata_whatever_the_dialect(server, client: httpx.AsyncClient,
                                                                        dialect: str) -> None:
    """RFC 9728 §5.1: the challenge leads a client to /.well-known/oauth-protected-resource."""
    route = Resource(path="/d/v1/thing", methods=["GET"], scopes=["accounts"], dialect=dialect)
    server.reload(server.config.model_copy(update={"resources": [route]}))
    response = await client.get("/d/v1/thing")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="mock-op-auth"')
    assert 'resource_metadata="http://mock.test/.well-known/oauth-protected-resource"' in (
        response.headers["www-authenticate"])
    await client.post("/_mock/rules", json={"match": {"endpoint": "resource"},
                                            "error": {"error": "invalid_token", "status": 401}, "times": 1})
    token = (await client_credentials(client))["access_token"]
    scripted = await client.get("/d/v1/thing", headers={"Authorization": f"Bearer {token}"})
    assert scripted.status_code == 401 and "resource_metadata=" in scripted.headers["www-authenticate"]


async def test_a_resource_at_one_of_the_mocks_own_paths_is_said_in_the_log(default_config, rsa_key, caplog) -> None:
    """The mock's own route answers there, so the resource never would: said once, not silently."""
    from tests.conftest import build_app

    shadowing = [Resource.model_validate({"path": path, "methods": ["GET"], "scopes": ["accounts"],
                                          "response": {"json": {"mine": True}}})
                 for path in ("/jwks", "/accounts-psd2/v1/authorizations/{id}", "/token")]
    config = default_config.model_copy(update={"resources": [*default_config.resources, *shadowing]})
    with caplog.at_level("WARNING", logger="mock_op_auth"):
        app = build_app(config, rsa_key)
    said = [r.getMessage() for r in caplog.records if "is never served" in r.getMessage()]
    assert len(said) == 3 and any("GET /jwks" in m for m in said), said
    assert not any("/accounts/v3/accounts" in m for m in said)  # the fixture's own resources are fine
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as client:
        assert "keys" in (await client.get("/jwks")).json()
