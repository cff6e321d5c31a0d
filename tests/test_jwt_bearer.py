"""The JWT bearer grant (RFC 7523 §2.1) at /token, for any client whose jwks signs the assertion."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.dpop_helpers import ProofKey
from tests.helpers import CLIENT, FromNow, at_signing

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def signer() -> ProofKey:
    return ProofKey("ES256")


@pytest.fixture
def keyed(server, signer: ProofKey) -> None:
    """demo-client has the grant and a JWKS with ``signer``'s public key."""
    demo = server.config.clients["demo-client"]
    clients = {**server.config.clients, "demo-client": demo.model_copy(update={
        "grant_types": [*demo.grant_types, JWT_BEARER], "jwks": {"keys": [{**signer.jwk, "kid": "k1"}]}})}
    server.reload(server.config.model_copy(update={"clients": clients}))


def assertion(signer: ProofKey, **changes: Any) -> str:
    claims = {"iss": "demo-client", "sub": "alice", "aud": "http://mock.test/token", "exp": int(time.time()) + 60,
              **changes}
    return jwt.encode(at_signing(claims), signer.private, algorithm="ES256",
                      headers={"kid": "k1"})


async def grant(client: httpx.AsyncClient, signed: str, auth: tuple[str, str] | None = CLIENT,
                **data: str) -> httpx.Response:
    return await client.post("/token", data={"grant_type": JWT_BEARER, "assertion": signed, **data}, auth=auth)


def refused(response: httpx.Response, error: str = "invalid_grant") -> str:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error
    return str(response.json()["error_description"])


@pytest.mark.usefixtures("keyed")
async def test_an_assertion_for_a_user_gets_a_token_for_that_user(client, signer: ProofKey) -> None:
    response = await grant(client, assertion(signer, sub="bob"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and "refresh_token" not in body and "id_token" not in body
    assert body["scope"] == "accounts payments"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["client_id"]) == ("bob", "demo-client")


@pytest.mark.usefixtures("keyed")
async def test_aud_may_be_the_issuer_and_scope_may_be_asked_for(client, signer: ProofKey) -> None:
    response = await grant(client, assertion(signer, aud=["http://mock.test"]), scope="accounts")
    assert response.status_code == 200 and response.json()["scope"] == "accounts"
    refused(await grant(client, assertion(signer), scope="admin"), "invalid_scope")


@pytest.mark.usefixtures("keyed")
@pytest.mark.parametrize(("changes", "why"), [
    ({"iss": "demo-public"}, "iss"),
    ({"aud": "https://elsewhere.example/token"}, "aud"),
    ({"exp": None}, "exp"),
    ({"exp": True}, "needs an exp"),
    ({"exp": "9999999999"}, "needs an exp"),
    ({"exp": FromNow(-1)}, "expired"),
    ({"nbf": FromNow(300)}, "not valid yet"),
    ({"sub": "mallory"}, "no user"),
    ({"sub": None}, "no user"),
])
async def test_an_assertion_wrong_in_one_way_is_invalid_grant(client, signer: ProofKey, changes: dict[str, Any],
                                                              why: str) -> None:
    assert why in refused(await grant(client, assertion(signer, **changes)))


@pytest.mark.usefixtures("keyed")
async def test_forged_assertions_are_invalid_grant(client, signer: ProofKey) -> None:
    stranger = ProofKey("ES256")
    assert "does not verify" in refused(await grant(client, assertion(stranger)))
    claims = {"iss": "demo-client", "sub": "alice", "aud": "http://mock.test/token", "exp": int(time.time()) + 60}
    none = jwt.encode(claims, None, algorithm="none")
    assert "does not verify" in refused(await grant(client, none))
    hmac = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    assert "does not verify" in refused(await grant(client, hmac))
    assert refused(await grant(client, "not.a.jwt"))


@pytest.mark.usefixtures("keyed")
async def test_a_jti_is_accepted_once(client, signer: ProofKey) -> None:
    signed = assertion(signer, jti="once")
    assert (await grant(client, signed)).status_code == 200
    assert "replay" in refused(await grant(client, signed))
    assert (await grant(client, assertion(signer, jti="twice"))).status_code == 200


@pytest.mark.usefixtures("keyed")
async def test_the_client_authenticates_as_at_the_token_endpoint(client, signer: ProofKey) -> None:
    response = await grant(client, assertion(signer), auth=("demo-client", "wrong"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    missing = await client.post("/token", data={"grant_type": JWT_BEARER}, auth=CLIENT)
    refused(missing, "invalid_request")


async def test_a_client_with_the_grant_and_no_keys_cannot_use_it_and_it_is_not_advertised(server, client) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert JWT_BEARER not in doc["grant_types_supported"]
    demo = server.config.clients["demo-client"]
    clients = {**server.config.clients, "demo-client": demo.model_copy(
        update={"grant_types": [*demo.grant_types, JWT_BEARER]})}
    server.reload(server.config.model_copy(update={"clients": clients}))
    refused(await grant(client, "a.b.c"), "unauthorized_client")
    assert JWT_BEARER not in (await client.get("/.well-known/openid-configuration")).json()["grant_types_supported"]


@pytest.mark.usefixtures("keyed")
async def test_the_grant_is_advertised_bound_to_dpop_and_journaled(client, signer: ProofKey) -> None:
    assert JWT_BEARER in (await client.get("/.well-known/openid-configuration")).json()["grant_types_supported"]
    key = ProofKey()
    response = await client.post("/token", auth=CLIENT, headers={"DPoP": key.proof("POST", "http://mock.test/token")},
                                 data={"grant_type": JWT_BEARER, "assertion": assertion(signer)})
    assert response.json()["token_type"] == "DPoP"
    entry = (await client.get("/_mock/requests", params={"endpoint": "token"})).json()["requests"][-1]
    assert entry["grant_type"] == JWT_BEARER and entry["params"]["assertion"] == "***"
