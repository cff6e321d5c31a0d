"""JWT client authentication (RFC 7523 §2.2, OIDC Core §9, DESIGN §9): private_key_jwt and
client_secret_jwt at every token path, introspection and revocation, with pinned algorithms,
``aud``, ``exp``, single-use ``jti`` and the client's ``token_endpoint_auth_method`` enforced.
Assertions are made with PyJWT, as a client would; Authlib's own assertion auth classes too."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization

from mock_op_auth.config.schema import Client, Config
from mock_op_auth.state.keys import SigningKey, generate_key
from tests.conftest import build_app
from tests.helpers import FromNow, at_signing

ISSUER = "http://mock.test"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HS_SECRET = "a-long-enough-shared-secret-for-hs256-0123456789"
BASIC_SECRET = "basic-client-secret-of-32-bytes-or-more"


@pytest.fixture(scope="module")
def client_key() -> SigningKey:
    return generate_key("ES256")


@pytest.fixture(scope="module")
def rsa_client_key() -> SigningKey:
    return generate_key("RS256")


def jwt_clients(config: Config, key: SigningKey, rsa: SigningKey | None = None) -> Config:
    jwks = {"keys": [key.public_jwk, *([rsa.public_jwk] if rsa else [])]}
    clients = {
        **config.clients,
        "pk-client": Client(grant_types=["client_credentials"], scopes=["accounts"], api_key="pk-client",
                            jwks=jwks, token_endpoint_auth_method="private_key_jwt"),
        "hs-client": Client(grant_types=["client_credentials"], scopes=["accounts"], secret=HS_SECRET,
                            token_endpoint_auth_method="client_secret_jwt"),
        "pk-with-secret": Client(grant_types=["client_credentials"], scopes=["accounts"], secret=BASIC_SECRET,
                                 jwks=jwks, token_endpoint_auth_method="private_key_jwt"),
        "basic-client": Client(grant_types=["client_credentials"], scopes=["accounts"], secret=BASIC_SECRET,
                               token_endpoint_auth_method="client_secret_basic"),
        "psd2-pk": Client(grant_types=["client_credentials"], scopes=["accounts", "payments"], api_key="psd2-key",
                          jwks=jwks, token_endpoint_auth_method="private_key_jwt"),
    }
    return config.model_copy(update={"clients": clients})


@pytest.fixture
def app(default_config: Config, rsa_key: SigningKey, client_key: SigningKey, rsa_client_key: SigningKey):
    return build_app(jwt_clients(default_config, client_key, rsa_client_key), rsa_key)


def claims_for(client_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token", "iat": now, "exp": now + 60,
              "jti": str(uuid.uuid4())}
    claims.update(changes)
    return at_signing(claims)


def private_key_jwt(key: SigningKey, client_id: str = "pk-client", **changes: Any) -> str:
    return pyjwt.encode(claims_for(client_id, **changes), key.private_pem, algorithm="ES256",
                        headers={"kid": key.kid})


def client_secret_jwt(client_id: str = "hs-client", secret: str = HS_SECRET, **changes: Any) -> str:
    return pyjwt.encode(claims_for(client_id, **changes), secret, algorithm="HS256")


def form(assertion: str, **extra: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, **extra}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_private_key_jwt_gets_a_token(client: httpx.AsyncClient, client_key: SigningKey) -> None:
    for aud in (f"{ISSUER}/token", ISSUER, [ISSUER, "https://other.example"]):
        response = await client.post("/token", data=form(private_key_jwt(client_key, aud=aud)))
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "Bearer"
    journal = (await client.get("/_mock/requests", params={"client_id": "pk-client"})).json()["requests"]
    assert journal[0]["params"]["client_assertion"] == "***"


async def test_client_secret_jwt_gets_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", data=form(client_secret_jwt(), client_id="hs-client"))
    assert response.status_code == 200, response.text


async def test_a_replayed_jti_is_invalid_client(client: httpx.AsyncClient, client_key: SigningKey) -> None:
    assertion = private_key_jwt(client_key)
    assert (await client.post("/token", data=form(assertion))).status_code == 200
    replay = await client.post("/token", data=form(assertion))
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    assert "replay" in replay.json()["error_description"]
    other_client = await client.post("/token", data=form(client_secret_jwt(jti=pyjwt.decode(
        assertion, options={"verify_signature": False})["jti"])))
    assert other_client.status_code == 200  # a jti is one client's


@pytest.mark.parametrize(("changes", "why"), [
    ({"exp": FromNow(-10)}, "expired"),
    ({"exp": None}, "exp"),
    ({"exp": True}, "no exp"),  # a JSON true is no timestamp, though Python counts it as 1
    ({"exp": "9999999999"}, "no exp"),
    ({"aud": "https://elsewhere.example/token"}, "aud"),
    ({"aud": None}, "aud"),
    ({"iss": "someone-else"}, "iss"),
    ({"jti": None}, "jti"),
    ({"nbf": FromNow(600)}, "not valid yet"),
])
async def test_bad_claims_are_invalid_client(client: httpx.AsyncClient, client_key: SigningKey,
                                             changes: dict[str, Any], why: str) -> None:
    response = await client.post("/token", data=form(private_key_jwt(client_key, **changes)))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert why in response.json()["error_description"]


async def test_the_mock_clock_decides_expiry(client: httpx.AsyncClient, client_key: SigningKey) -> None:
    await client.post("/_mock/clock", json={"advance": 120})
    response = await client.post("/token", data=form(private_key_jwt(client_key)))
    assert response.status_code == 401 and "expired" in response.json()["error_description"]


async def test_an_unsigned_assertion_is_refused(client: httpx.AsyncClient) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{header}.{b64(json.dumps(claims_for('pk-client')).encode())}."
    response = await client.post("/token", data=form(unsigned))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_hs256_made_with_the_public_key_is_refused(client: httpx.AsyncClient, client_key: SigningKey) -> None:
    # The classic key-confusion attack: HMAC keyed with the client's public key (PEM or JWK text).
    public_pem = client_key.public.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    for secret in (public_pem, json.dumps(client_key.public_jwk).encode()):
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": client_key.kid}).encode())
        payload = b64(json.dumps(claims_for("pk-client")).encode())
        signature = b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        response = await client.post("/token", data=form(f"{header}.{payload}.{signature}"))
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"


async def test_a_public_key_signature_is_refused_for_client_secret_jwt(client: httpx.AsyncClient,
                                                                       client_key: SigningKey) -> None:
    response = await client.post("/token", data=form(private_key_jwt(client_key, client_id="hs-client")))
    assert response.status_code == 401
    assert "client_secret_jwt" in response.json()["error_description"]


async def test_a_wrong_secret_or_key_does_not_verify(client: httpx.AsyncClient) -> None:
    wrong = client_secret_jwt(secret="not-the-secret-of-hs-client-but-32-bytes-long")
    wrong_secret = await client.post("/token", data=form(wrong))
    assert wrong_secret.status_code == 401
    stranger = generate_key("ES256")
    wrong_key = await client.post("/token", data=form(pyjwt.encode(claims_for("pk-client"), stranger.private_pem,
                                                                    algorithm="ES256")))
    assert wrong_key.status_code == 401


async def test_the_declared_method_is_enforced(client: httpx.AsyncClient, client_key: SigningKey) -> None:
    secret_for_jwt_client = await client.post("/token", data={"grant_type": "client_credentials"},
                                              auth=("pk-with-secret", BASIC_SECRET))
    assert secret_for_jwt_client.status_code == 401
    assert "private_key_jwt" in secret_for_jwt_client.json()["error_description"]
    assert secret_for_jwt_client.headers["www-authenticate"].startswith("Basic")
    jwt_ok = await client.post("/token", data=form(private_key_jwt(client_key, client_id="pk-with-secret")))
    assert jwt_ok.status_code == 200
    post_for_basic = await client.post("/token", data={"grant_type": "client_credentials", "client_id": "basic-client",
                                                       "client_secret": BASIC_SECRET})
    assert post_for_basic.status_code == 200  # basic and post stand in for each other
    jwt_for_basic = await client.post("/token", data=form(client_secret_jwt("basic-client", BASIC_SECRET)))
    assert jwt_for_basic.status_code == 401
    public = await client.post("/token", data={"grant_type": "client_credentials", "client_id": "pk-client"})
    assert public.status_code == 401  # a keys-only client is no public client


async def test_an_assertion_and_a_secret_at_once_is_invalid_request(client: httpx.AsyncClient,
                                                                    client_key: SigningKey) -> None:
    response = await client.post("/token", data=form(private_key_jwt(client_key), client_secret="x"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    wrong_type = await client.post("/token", data={**form(private_key_jwt(client_key)),
                                                   "client_assertion_type": "urn:other"})
    assert wrong_type.status_code == 400
    mismatch = await client.post("/token", data=form(private_key_jwt(client_key), client_id="hs-client"))
    assert mismatch.status_code == 401
    garbage = await client.post("/token", data=form("not.a.jwt"))
    assert garbage.status_code == 401


async def test_introspection_and_revocation_take_assertions(client: httpx.AsyncClient,
                                                            client_key: SigningKey) -> None:
    token = (await client.post("/token", data=form(private_key_jwt(client_key)))).json()["access_token"]
    assertion = private_key_jwt(client_key, aud=f"{ISSUER}/introspect")
    introspected = await client.post("/introspect", data={"token": token, "client_assertion_type": ASSERTION_TYPE,
                                                          "client_assertion": assertion})
    assert introspected.status_code == 200 and introspected.json()["active"] is True
    revoked = await client.post("/revoke", data={"token": token, "client_assertion_type": ASSERTION_TYPE,
                                                 "client_assertion": private_key_jwt(client_key)})
    assert revoked.status_code == 200
    check = await client.post("/introspect", data={"token": token, "client_assertion_type": ASSERTION_TYPE,
                                                   "client_assertion": client_secret_jwt()})
    assert check.json() == {"active": False}
    replay = await client.post("/introspect", data={"token": token, "client_assertion_type": ASSERTION_TYPE,
                                                    "client_assertion": assertion})
    assert replay.status_code == 401


async def test_every_token_path_takes_assertions(client: httpx.AsyncClient, client_key: SigningKey) -> None:
    apigee = await client.post("/auth/v2/accesstoken?grant_type=client_credentials",
                               data={"client_assertion_type": ASSERTION_TYPE,
                                     "client_assertion": private_key_jwt(client_key, aud=ISSUER)})
    assert apigee.status_code == 200 and apigee.json()["token_type"] == "BearerToken"
    corporate = await client.post("/corporate-oidc/v1/token", data=form(private_key_jwt(client_key, aud=ISSUER)))
    assert corporate.status_code == 200
    psd2 = await client.post("/oauth/token", data=form(
        private_key_jwt(client_key, client_id="psd2-pk", aud=f"{ISSUER}/oauth/token"), scope="accounts"),
        headers={"x-api-key": "psd2-key"})
    assert psd2.status_code == 200, psd2.text


async def test_discovery_lists_the_methods_and_their_algorithms(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"]
    assert doc["token_endpoint_auth_signing_alg_values_supported"] == ["RS256", "ES256", "PS256", "HS256"]
    assert doc["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"]
    assert doc["revocation_endpoint_auth_signing_alg_values_supported"] == ["RS256", "ES256", "PS256", "HS256"]


async def test_discovery_without_jwt_capable_clients_has_no_signing_algs(default_config, rsa_key) -> None:
    only_basic = {"svc": Client(grant_types=["client_credentials"], scopes=["accounts"], secret="x",
                                token_endpoint_auth_method="client_secret_basic")}
    app = build_app(default_config.model_copy(update={"clients": only_basic, "resources": []}), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as c:
        doc = (await c.get("/.well-known/openid-configuration")).json()
        assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
        assert "token_endpoint_auth_signing_alg_values_supported" not in doc


async def test_authlib_private_key_jwt_and_client_secret_jwt(app, rsa_client_key: SigningKey) -> None:
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT

    url = f"{ISSUER}/token"
    pem = rsa_client_key.private_pem.decode()
    async with AsyncOAuth2Client("pk-client", pem, token_endpoint_auth_method=PrivateKeyJWT(url),
                                 transport=httpx.ASGITransport(app=app), base_url=ISSUER) as c:
        assert "access_token" in await c.fetch_token(url, grant_type="client_credentials")
    async with AsyncOAuth2Client("hs-client", HS_SECRET, token_endpoint_auth_method=ClientSecretJWT(url),
                                 transport=httpx.ASGITransport(app=app), base_url=ISSUER) as c:
        assert "access_token" in await c.fetch_token(url, grant_type="client_credentials")


def test_fixtures_refuse_a_method_the_client_cannot_use() -> None:
    from pydantic import ValidationError

    for fields in ({"token_endpoint_auth_method": "private_key_jwt"},
                   {"token_endpoint_auth_method": "client_secret_jwt"},
                   {"token_endpoint_auth_method": "none", "secret": "x"}):
        with pytest.raises(ValidationError):
            Client(grant_types=["client_credentials"], **fields)
