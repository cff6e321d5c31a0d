"""DPoP (RFC 9449): sender-constrained tokens at /token (every grant, refresh bound to the key),
userinfo and the resource stub (every dialect), nonces, and every way a proof can be wrong."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from mock_op_auth.config.schema import Resource
from tests.dpop_helpers import ProofKey, b64url, unsigned
from tests.helpers import CLIENT, REDIRECT, get_code, pkce_pair, reconfigure

TOKEN_URL = "http://mock.test/token"
ACCOUNTS_URL = "http://mock.test/accounts/v3/accounts"
CC = {"grant_type": "client_credentials", "scope": "accounts"}


@pytest.fixture(scope="module")
def key() -> ProofKey:
    return ProofKey()


async def dpop_token(client: httpx.AsyncClient, key: ProofKey, data: dict[str, str] | None = None,
                     auth: tuple[str, str] | None = CLIENT, **proof: Any) -> httpx.Response:
    return await client.post("/token", data=data or CC, auth=auth,
                             headers={"DPoP": key.proof("POST", TOKEN_URL, **proof)})


async def issued(client: httpx.AsyncClient, key: ProofKey, **kwargs: Any) -> dict[str, Any]:
    response = await dpop_token(client, key, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


async def accounts(client: httpx.AsyncClient, token: str, proof: str | None, scheme: str = "DPoP",
                   path: str = "/accounts/v3/accounts") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}", "x-api-key": "demo-client"}
    if proof is not None:
        headers["DPoP"] = proof
    return await client.get(path, headers=headers)


def refused(response: httpx.Response, error: str = "invalid_dpop_proof", status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    return str(body["error_description"])


async def test_a_proof_at_the_token_endpoint_binds_the_access_token(client, key: ProofKey) -> None:
    body = await issued(client, key)
    assert body["token_type"] == "DPoP"
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["cnf"] == {"jkt": key.jkt}
    introspected = (await client.post("/introspect", data={"token": body["access_token"]}, auth=CLIENT)).json()
    assert introspected["token_type"] == "DPoP" and introspected["cnf"] == {"jkt": key.jkt}


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
async def test_rsa_proofs_bind_too(client: httpx.AsyncClient, alg: str) -> None:
    rsa = ProofKey(alg)
    body = await issued(client, rsa)
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["cnf"]["jkt"] == rsa.jkt


async def test_without_a_proof_the_token_is_a_bearer_token(client: httpx.AsyncClient) -> None:
    body = (await client.post("/token", data=CC, auth=CLIENT)).json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in jwt.decode(body["access_token"], options={"verify_signature": False})


async def test_an_opaque_token_is_bound_through_the_store(server, client, key: ProofKey) -> None:
    reconfigure(server, access_token_format="opaque")
    token = (await issued(client, key))["access_token"]
    assert (await accounts(client, token, key.proof("GET", ACCOUNTS_URL, token=token))).status_code == 200
    assert refused(await accounts(client, token, None, "Bearer"), "invalid_token", 401)


async def test_the_resource_stub_takes_the_token_with_a_proof_of_its_key(client, key: ProofKey) -> None:
    token = (await issued(client, key))["access_token"]
    response = await accounts(client, token, key.proof("GET", ACCOUNTS_URL, token=token))
    assert response.status_code == 200, response.text


async def test_a_dpop_bound_token_sent_as_bearer_is_refused(client, key: ProofKey) -> None:
    token = (await issued(client, key))["access_token"]
    response = await accounts(client, token, None, scheme="Bearer")
    assert "DPoP-bound" in refused(response, "invalid_token", 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP realm="mock-op-auth", algs="ES256 PS256 RS256", error="invalid_token"')
    assert 'resource_metadata="http://mock.test/.well-known/oauth-protected-resource"' in challenge


async def test_a_bearer_token_sent_with_the_dpop_scheme_is_refused(client, key: ProofKey) -> None:
    token = (await client.post("/token", data=CC, auth=CLIENT)).json()["access_token"]
    response = await accounts(client, token, key.proof("GET", ACCOUNTS_URL, token=token))
    assert "not DPoP-bound" in refused(response, "invalid_token", 401)
    assert response.headers["www-authenticate"].startswith("DPoP ")


async def test_a_proof_by_another_key_is_refused_at_the_resource(client, key: ProofKey) -> None:
    token = (await issued(client, key))["access_token"]
    response = await accounts(client, token, ProofKey().proof("GET", ACCOUNTS_URL, token=token))
    assert "another key" in refused(response, "invalid_token", 401)


async def test_a_resource_proof_needs_the_access_token_hash(client, key: ProofKey) -> None:
    token = (await issued(client, key))["access_token"]
    missing = await accounts(client, token, key.proof("GET", ACCOUNTS_URL))
    assert "ath" in refused(missing, status=401)
    other = await accounts(client, token, key.proof("GET", ACCOUNTS_URL, token="another-token"))
    assert "ath" in refused(other, status=401)
    assert other.headers["www-authenticate"].startswith('DPoP realm="mock-op-auth"')
    assert 'error="invalid_dpop_proof"' in other.headers["www-authenticate"]


async def test_a_missing_proof_at_the_resource_is_refused(client, key: ProofKey) -> None:
    token = (await issued(client, key))["access_token"]
    assert "required" in refused(await accounts(client, token, None), status=401)


async def test_a_replayed_proof_is_refused(client, key: ProofKey) -> None:
    token = (await issued(client, key))["access_token"]
    proof = key.proof("GET", ACCOUNTS_URL, token=token)
    assert (await accounts(client, token, proof)).status_code == 200
    assert "replay" in refused(await accounts(client, token, proof), status=401)
    at_token = key.proof("POST", TOKEN_URL)
    assert (await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": at_token})).status_code == 200
    assert "replay" in refused(await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": at_token}))


async def test_the_same_jti_from_another_key_is_not_a_replay(client, key: ProofKey) -> None:
    assert (await dpop_token(client, key, jti="shared-jti")).status_code == 200
    assert (await dpop_token(client, ProofKey(), jti="shared-jti")).status_code == 200


@pytest.mark.parametrize(("proof", "why"), [
    ({"htu": "http://mock.test/introspect"}, "htu"),
    ({"htu": "https://mock.test/token"}, "htu"),
    ({"htm": "GET"}, "htm"),
    ({"iat_offset": -301}, "old"),
    ({"iat_offset": 120}, "future"),
    ({"drop": ("jti",)}, "jti"),
    ({"drop": ("iat",)}, "iat"),
    ({"typ": "JWT"}, "typ"),
])
async def test_a_proof_wrong_in_one_way_is_invalid_dpop_proof(server, client, key: ProofKey,
                                                             proof: dict[str, Any], why: str) -> None:
    now = server.clock.now()
    htm, htu = proof.pop("htm", "POST"), proof.pop("htu", TOKEN_URL)
    iat = now + proof.pop("iat_offset", 0)
    response = await client.post("/token", data=CC, auth=CLIENT,
                                 headers={"DPoP": key.proof(htm, htu, iat=iat, **proof)})
    assert why in refused(response)


async def test_htu_is_compared_without_query_default_port_or_case(client, key: ProofKey) -> None:
    proof = key.proof("POST", "HTTP://Mock.Test:80/token?x=1#f")
    assert (await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": proof})).status_code == 200


async def test_the_iat_window_is_judged_by_the_mock_clock(server, client, key: ProofKey) -> None:
    await client.post("/_mock/clock", json={"advance": 3600})
    assert "old" in refused(await dpop_token(client, key))  # stamped with the real time
    assert (await dpop_token(client, key, iat=server.clock.now())).status_code == 200


async def test_a_private_key_in_the_jwk_header_is_refused(client, key: ProofKey) -> None:
    d = key.private.private_numbers().private_value.to_bytes(32, "big")
    leaked = {**key.jwk, "d": b64url(d)}
    response = await client.post("/token", data=CC, auth=CLIENT,
                                 headers={"DPoP": key.proof("POST", TOKEN_URL, jwk=leaked)})
    assert "private" in refused(response)


async def test_alg_none_hmac_and_a_signature_by_another_key_are_refused(client, key: ProofKey) -> None:
    none = await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": unsigned("POST", TOKEN_URL, key.jwk)})
    assert "alg" in refused(none)
    hmac = jwt.encode({"jti": "h", "htm": "POST", "htu": TOKEN_URL, "iat": 0}, "s" * 32, algorithm="HS256",
                      headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": "c2VjcmV0"}})
    assert "alg" in refused(await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": hmac}))
    other = ProofKey()
    forged = other.proof("POST", TOKEN_URL, jwk=key.jwk)  # claims to be key, signed by another
    assert "does not verify" in refused(await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": forged}))
    for junk in ("not-a-jwt", "a.b.c", "x" * 9000):
        assert refused(await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": junk}))


async def test_an_es256_proof_with_an_rsa_jwk_is_refused(client, key: ProofKey) -> None:
    rsa = ProofKey("RS256")
    mixed = key.proof("POST", TOKEN_URL, jwk=rsa.jwk)
    assert refused(await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": mixed}))


async def test_a_client_with_dpop_bound_access_tokens_must_send_a_proof(server, client, key: ProofKey) -> None:
    clients = {**server.config.clients, "demo-client": server.config.clients["demo-client"].model_copy(
        update={"dpop_bound_access_tokens": True})}
    server.reload(server.config.model_copy(update={"clients": clients}))
    assert "must send a DPoP proof" in refused(await client.post("/token", data=CC, auth=CLIENT))
    assert (await dpop_token(client, key)).status_code == 200


async def test_dpop_nonce_is_demanded_at_the_token_endpoint(server, client, key: ProofKey) -> None:
    reconfigure(server, dpop_nonce=True)
    first = await dpop_token(client, key)
    refused(first, "use_dpop_nonce")
    nonce = first.headers["dpop-nonce"]
    assert (await dpop_token(client, key, nonce=nonce)).status_code == 200
    assert (await dpop_token(client, key, nonce=nonce)).status_code == 200  # a nonce is not single use
    refused(await dpop_token(client, key, nonce="made-up"), "use_dpop_nonce")
    await client.post("/_mock/clock", json={"advance": 301})
    expired = await dpop_token(client, key, nonce=nonce, iat=server.clock.now())
    refused(expired, "use_dpop_nonce")
    assert expired.headers["dpop-nonce"] != nonce


async def test_dpop_nonce_is_demanded_at_the_resource(server, client, key: ProofKey) -> None:
    token = (await issued(client, key))["access_token"]
    reconfigure(server, dpop_nonce=True)
    first = await accounts(client, token, key.proof("GET", ACCOUNTS_URL, token=token))
    refused(first, "use_dpop_nonce", 401)
    assert first.headers["www-authenticate"].startswith("DPoP ")
    assert 'error="use_dpop_nonce"' in first.headers["www-authenticate"]
    nonce = first.headers["dpop-nonce"]
    response = await accounts(client, token, key.proof("GET", ACCOUNTS_URL, token=token, nonce=nonce))
    assert response.status_code == 200, response.text


async def test_with_dpop_off_a_proof_is_ignored_and_not_advertised(server, client, key: ProofKey) -> None:
    assert (await client.get("/.well-known/openid-configuration")).json()["dpop_signing_alg_values_supported"] == [
        "ES256", "PS256", "RS256"]
    reconfigure(server, dpop=False)
    assert (await issued(client, key))["token_type"] == "Bearer"
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert "dpop_signing_alg_values_supported" not in doc


async def test_every_grant_binds_the_code_grant_included(client, key: ProofKey) -> None:
    code = await get_code(client, scope="openid accounts")
    body = await issued(client, key, data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})
    assert body["token_type"] == "DPoP"
    userinfo = await client.get("/userinfo", headers={
        "Authorization": f"DPoP {body['access_token']}",
        "DPoP": key.proof("GET", "http://mock.test/userinfo", token=body["access_token"])})
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == "alice"
    as_bearer = await client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert refused(as_bearer, "invalid_token", 401) and as_bearer.headers["www-authenticate"].startswith("DPoP ")
    refreshed = await dpop_token(client, ProofKey(), data={"grant_type": "refresh_token",
                                                          "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200  # a confidential client's refresh token is not bound (RFC 9449 §5)


async def public_code(client: httpx.AsyncClient, **params: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    code = await get_code(client, client_id="demo-public", scope="openid accounts", code_challenge=challenge,
                          code_challenge_method="S256", **params)
    return code, verifier


async def test_a_public_clients_refresh_token_is_bound_to_its_key(client, key: ProofKey) -> None:
    code, verifier = await public_code(client)
    body = await issued(client, key, auth=None, data={
        "grant_type": "authorization_code", "client_id": "demo-public", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier})
    refresh = {"grant_type": "refresh_token", "client_id": "demo-public", "refresh_token": body["refresh_token"]}
    assert "bound" in refused(await client.post("/token", data=refresh))
    assert "bound" in refused(await dpop_token(client, ProofKey(), data=refresh, auth=None))
    again = await issued(client, key, data=refresh, auth=None)
    assert jwt.decode(again["access_token"], options={"verify_signature": False})["cnf"] == {"jkt": key.jkt}


async def test_dpop_jkt_binds_the_code_to_the_key(client, key: ProofKey) -> None:
    code, verifier = await public_code(client, dpop_jkt=key.jkt)
    data = {"grant_type": "authorization_code", "client_id": "demo-public", "code": code,
            "redirect_uri": REDIRECT, "code_verifier": verifier}
    assert "dpop_jkt" in refused(await client.post("/token", data=data))
    assert "dpop_jkt" in refused(await dpop_token(client, ProofKey(), data=data, auth=None))
    assert (await issued(client, key, data=data, auth=None))["token_type"] == "DPoP"


async def test_a_malformed_dpop_jkt_goes_back_as_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.get("/authorize", params={"client_id": "demo-client", "redirect_uri": REDIRECT,
                                                      "response_type": "code", "dpop_jkt": "short"})
    assert response.status_code == 302 and "error=invalid_request" in response.headers["location"]


@pytest.mark.parametrize("dialect", ["apigee", "psd2"])
async def test_op_dialect_routes_answer_dpop_challenges_too(server, client, key: ProofKey, dialect: str) -> None:
    route = Resource(path="/op/v1/accounts", methods=["GET"], scopes=["accounts"], dialect=dialect)
    server.reload(server.config.model_copy(update={"resources": [route]}))
    reconfigure(server, dpop_nonce=True)
    first = await dpop_token(client, key)
    token = (await issued(client, key, nonce=first.headers["dpop-nonce"]))["access_token"]
    response = await accounts(client, token, key.proof("GET", "http://mock.test/op/v1/accounts", token=token),
                              path="/op/v1/accounts")
    assert response.status_code == 401
    assert "fault" in response.json() if dialect == "apigee" else response.json()["type"] == "SECURITY"
    assert response.headers["www-authenticate"].startswith("DPoP ")
    assert 'error="use_dpop_nonce"' in response.headers["www-authenticate"]
    assert 'resource_metadata="http://mock.test/.well-known/oauth-protected-resource"' in (
        response.headers["www-authenticate"])
    proof = key.proof("GET", "http://mock.test/op/v1/accounts", token=token, nonce=response.headers["dpop-nonce"])
    assert (await accounts(client, token, proof, path="/op/v1/accounts")).status_code == 200


async def test_the_journal_masks_the_proof(client, key: ProofKey) -> None:
    await dpop_token(client, key)
    entry = (await client.get("/_mock/requests", params={"endpoint": "token"})).json()["requests"][0]
    assert entry["headers"]["dpop"] == "***"


async def test_rsa_keys_too_small_or_with_a_huge_exponent_are_refused(client, key: ProofKey) -> None:
    rsa = ProofKey("RS256")
    for jwk in ({**rsa.jwk, "n": rsa.jwk["n"][:200]}, {**rsa.jwk, "e": b64url(b"\xff" * 64)},
                {"kty": "EC", "crv": "P-384", "x": key.jwk["x"], "y": key.jwk["y"]}, {"kty": "OKP"}):
        proof = rsa.proof("POST", TOKEN_URL, jwk=jwk)
        assert "does not verify" in refused(await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": proof}))


async def test_two_dpop_headers_are_refused_even_when_each_is_a_good_proof(client, key: ProofKey) -> None:
    """RFC 9449 §4.3: not more than one DPoP header field (two proofs could bind two keys)."""
    other = ProofKey()
    two = [("DPoP", key.proof("POST", TOKEN_URL)), ("DPoP", other.proof("POST", TOKEN_URL))]
    assert "more than one DPoP header" in refused(await client.post("/token", data=CC, auth=CLIENT, headers=two))
    token = (await issued(client, key))["access_token"]
    proofs = [("DPoP", key.proof("GET", ACCOUNTS_URL, token=token)) for _ in range(2)]
    response = await client.get("/accounts/v3/accounts", headers=[("Authorization", f"DPoP {token}"),
                                                                   ("x-api-key", "demo-client"), *proofs])
    assert "more than one DPoP header" in refused(response, status=401)


async def test_htu_names_a_percent_encoded_path_as_the_client_sent_it(server, client, key: ProofKey) -> None:
    """A client signs the URL it requests, escapes and all (RFC 9449 §4.2, RFC 3986 §6.2.2.2)."""
    item = Resource.model_validate({"path": "/items/{id}/detail", "methods": ["GET"], "scopes": ["accounts"]})
    server.reload(server.config.model_copy(update={"resources": [*server.config.resources, item]}))
    token = (await issued(client, key))["access_token"]
    for path in ("/items/a%20b/detail", "/items/%C3%A4/detail"):
        proof = key.proof("GET", f"http://mock.test{path}", token=token)
        response = await client.get(path, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        assert response.status_code == 200, response.text
    elsewhere = key.proof("GET", "http://mock.test/items/other/detail", token=token)
    response = await client.get("/items/a%20b/detail", headers={"Authorization": f"DPoP {token}", "DPoP": elsewhere})
    assert "htu" in refused(response, status=401)
