"""OP's PSD2 profile against fixtures/op-psd2.yaml: the AIS journey end to end, then each refusal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest

from mock_op_auth import create_app
from tests.op_helpers import (
    KEYS,
    TPP_ID,
    TPP_REDIRECT,
    TPP_SECRET,
    app_for,
    authorize,
    create_intent,
    fragment_of,
    half_hash,
    http,
    psd2_authorized,
    psd2_client_credentials,
    psd2_token,
    query_of,
    request_object,
    tpp_headers,
    verify_id_token,
)

INTENTS = "/accounts-psd2/v1/authorizations"
ACCOUNTS = "/accounts-psd2/v1/accounts"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2")) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return tpp_headers(authorization=f"Bearer {token}")


async def mock_now(client: httpx.AsyncClient) -> float:
    return (await client.get("/_mock/clock")).json()["now"]


async def test_the_whole_ais_journey(client: httpx.AsyncClient) -> None:
    # 1. client credentials token (scope accounts) with x-api-key and client_secret_post
    response = await psd2_token(client, grant_type="client_credentials", scope="accounts")
    assert response.status_code == 200
    cc = response.json()
    assert cc["token_type"] == "Bearer" and isinstance(cc["expires_in"], int) and cc["status"] == "approved"
    assert "refresh_token" not in cc and "id_token" not in cc
    # 2. the intent
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 300 * 86400))
    response = await client.post(INTENTS, json={"transactionFrom": since}, headers=bearer(cc["access_token"]))
    assert response.status_code == 201
    intent = response.json()
    assert intent["status"] == "Unauthorized" and intent["transactionFrom"] == since
    intent_id = intent["authorizationId"]
    # 3. signed authorize request, hybrid
    request = request_object(intent_id, now=await mock_now(client))
    claims = jwt.decode(request, options={"verify_signature": False})
    response = await authorize(client, request)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(TPP_REDIRECT + "#")
    callback = fragment_of(location)
    # 4. the callback: state, and an ID token verified with c_hash and s_hash
    assert callback["state"] == claims["state"]
    front = await verify_id_token(client, callback["id_token"], nonce=claims["nonce"])
    assert front["authorizationId"] == intent_id
    assert front["acr"] == "urn:openbanking:psd2:sca"
    assert front["c_hash"] == half_hash(callback["code"])
    assert front["s_hash"] == half_hash(callback["state"])
    read = await client.get(f"{INTENTS}/{intent_id}", headers=bearer(cc["access_token"]))
    assert read.json()["status"] == "Authorized" and "authorized" in read.json()
    # 5. token exchange: at_hash and rt_hash
    response = await psd2_token(client, grant_type="authorization_code", code=callback["code"],
                                redirect_uri=TPP_REDIRECT)
    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"token_type", "access_token", "expires_in", "scope", "status", "refresh_token", "id_token"}
    assert tokens["expires_in"] == 3600 and tokens["scope"] == "openid accounts"
    back = await verify_id_token(client, tokens["id_token"], nonce=claims["nonce"])
    assert back["at_hash"] == half_hash(tokens["access_token"])
    assert back["rt_hash"] == half_hash(tokens["refresh_token"])
    assert back["authorizationId"] == intent_id and back["sub"] == front["sub"] == "psu-11223344"
    # 6. the account call
    response = await client.get(ACCOUNTS, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert [a["identifier"] for a in response.json()] == ["FI8659986920068681", "FI4950009420028730"]
    # 7. refresh
    response = await psd2_token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert response.status_code == 200
    refreshed = response.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert (await client.get(ACCOUNTS, headers=bearer(refreshed["access_token"]))).status_code == 200
    # 8. the intent is revoked (with the PSU's token, as OP's demo does)
    response = await client.delete(f"{INTENTS}/{intent_id}", headers=bearer(refreshed["access_token"]))
    assert response.status_code == 204
    read = await client.get(f"{INTENTS}/{intent_id}", headers=bearer(cc["access_token"]))
    assert read.json()["status"] == "Revoked"
    # 9. its tokens are now refused everywhere (the accounts API says why, as OP does)
    response = await client.get(ACCOUNTS, headers=bearer(refreshed["access_token"]))
    assert response.status_code == 403
    revoked = {"type": "SECURITY", "message": f"Authorization {intent_id} has been revoked"}
    assert response.json()["errors"][0] == revoked
    introspected = await client.post("/introspect", data={"token": refreshed["access_token"]},
                                     auth=(TPP_ID, TPP_SECRET))
    assert introspected.json() == {"active": False}
    response = await psd2_token(client, grant_type="refresh_token", refresh_token=refreshed["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_response_type_code_answers_in_the_query_without_id_token(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    request = request_object(intent["authorizationId"], response_type="code")
    response = await authorize(client, request, response_type="code")
    assert response.status_code == 302
    callback = query_of(response.headers["location"])
    assert "code" in callback and "id_token" not in callback


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
async def test_request_objects_signed_with_each_allowed_algorithm(client: httpx.AsyncClient, alg: str) -> None:
    intent = await create_intent(client)
    response = await authorize(client, request_object(intent["authorizationId"], alg=alg))
    assert response.status_code == 302
    assert "code" in fragment_of(response.headers["location"])


async def test_parameters_come_from_the_object_and_duplicates_in_the_query_are_accepted(
        client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    request = request_object(intent["authorizationId"], state="from-object")
    response = await authorize(client, request, state="from-query", redirect_uri=TPP_REDIRECT, nonce="other")
    assert response.status_code == 302
    assert fragment_of(response.headers["location"])["state"] == "from-object"


async def test_only_request_response_type_client_id_and_scope_in_the_query(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    response = await client.get("/oauth/authorize", params={
        "request": request_object(intent["authorizationId"]), "client_id": TPP_ID})
    assert response.status_code == 302


# --- the request object is refused before its redirect_uri is trusted: an error page ---

@pytest.mark.parametrize("overrides, reason", [
    ({"aud": "https://elsewhere.example"}, "aud"),
    ({"exp": None}, "exp is required"),
    ({"exp": "tomorrow"}, "exp must be a number"),
    ({"exp": True}, "exp must be a number"),
    ({"nbf": 9_999_999_999}, "not valid yet"),
    ({"iss": "someone-else"}, "iss"),
    ({"client_id": "someone-else"}, "client_id"),
])
async def test_request_object_claims_are_checked(client: httpx.AsyncClient, overrides: dict[str, object],
                                                 reason: str) -> None:
    intent = await create_intent(client)
    response = await authorize(client, request_object(intent["authorizationId"], **overrides))
    assert response.status_code == 400
    assert "invalid_request_object" in response.text and reason in response.text
    assert "location" not in response.headers


async def test_expired_request_object_is_refused(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    request = request_object(intent["authorizationId"], now=await mock_now(client))
    await client.post("/_mock/clock", json={"advance": 901})
    response = await authorize(client, request)
    assert response.status_code == 400 and "expired" in response.text


async def test_request_object_signed_by_another_key_is_refused(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(request_object(intent["authorizationId"]), options={"verify_signature": False})
    forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": KEYS["RS256"][1]})
    response = await authorize(client, forged)
    assert response.status_code == 400 and "invalid_request_object" in response.text


async def test_unsigned_request_object_is_refused(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    claims = jwt.decode(request_object(intent["authorizationId"]), options={"verify_signature": False})
    response = await authorize(client, jwt.encode(claims, None, algorithm="none"))
    assert response.status_code == 400 and "invalid_request_object" in response.text


# --- after the redirect_uri is trusted: errors go back to the TPP (op-auth.md §3.4) ---

async def test_an_intent_that_is_not_unauthorized_is_refused(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    assert (await authorize(client, request_object(intent["authorizationId"]))).status_code == 302
    response = await authorize(client, request_object(intent["authorizationId"], state="again"))
    callback = fragment_of(response.headers["location"])
    assert callback["error"] == "invalid_request" and "Authorized" in callback["error_description"]
    assert callback["state"] == "again"


async def test_an_unknown_intent_is_refused(client: httpx.AsyncClient) -> None:
    response = await authorize(client, request_object("00000000-0000-4000-8000-000000000000"))
    assert fragment_of(response.headers["location"])["error"] == "invalid_request"


async def test_hybrid_without_nonce_is_refused(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    response = await authorize(client, request_object(intent["authorizationId"], nonce=None))
    assert fragment_of(response.headers["location"])["error"] == "invalid_request"


async def test_psu_denial_redirects_access_denied_and_rejects_the_intent(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    response = await client.get("/oauth/authorize", params={
        "request": request_object(intent["authorizationId"], state="s1"), "client_id": TPP_ID},
        headers={"x-mock-scenario": "psu-denies"})
    callback = fragment_of(response.headers["location"])
    assert callback["error"] == "access_denied" and callback["state"] == "s1"
    token = await psd2_client_credentials(client)
    read = await client.get(f"{INTENTS}/{intent['authorizationId']}", headers=bearer(token))
    assert read.json()["status"] == "Rejected"


async def test_server_error_goes_back_to_the_tpp(client: httpx.AsyncClient) -> None:
    await client.post("/_mock/rules", json={"match": {"endpoint": "authorize"},
                                            "error": {"error": "server_error", "status": 500}, "times": 1})
    intent = await create_intent(client)
    response = await authorize(client, request_object(intent["authorizationId"]))
    assert fragment_of(response.headers["location"])["error"] == "server_error"


async def test_an_expired_intent_reads_expired_and_cannot_be_authorized(client: httpx.AsyncClient) -> None:
    now = await mock_now(client)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600))
    intent = await create_intent(client, {"expires": expires})
    await client.post("/_mock/clock", json={"advance": 3601})
    token = await psd2_client_credentials(client)
    read = await client.get(f"{INTENTS}/{intent['authorizationId']}", headers=bearer(token))
    assert read.json()["status"] == "Expired"
    response = await authorize(client, request_object(intent["authorizationId"], now=await mock_now(client)))
    assert "Expired" in fragment_of(response.headers["location"])["error_description"]


async def test_a_code_is_refused_once_its_intent_is_revoked(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    response = await authorize(client, request_object(intent["authorizationId"]))
    code = fragment_of(response.headers["location"])["code"]
    token = await psd2_client_credentials(client)
    assert (await client.delete(f"{INTENTS}/{intent['authorizationId']}", headers=bearer(token))).status_code == 204
    response = await psd2_token(client, grant_type="authorization_code", code=code, redirect_uri=TPP_REDIRECT)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_a_loopback_redirect_registered_with_a_port_matches_any_port() -> None:
    """RFC 8252 §7.3 at /oauth/authorize too; the code is then redeemed with the port asked for."""
    from mock_op_auth.config.loader import load_fixtures
    from tests.op_helpers import FIXTURES

    config = load_fixtures(FIXTURES / "op-psd2.yaml")
    tpp = config.clients[TPP_ID]
    clients = {**config.clients, TPP_ID: tpp.model_copy(update={"redirect_uris": [TPP_REDIRECT,
                                                                                  "http://127.0.0.1:9/cb"]})}
    asked = "http://127.0.0.1:53682/cb"
    async with http(create_app(config.model_copy(update={"clients": clients}))) as client:
        intent = await create_intent(client)
        response = await authorize(client, request_object(intent["authorizationId"], redirect_uri=asked))
        assert response.status_code == 302, response.text
        assert response.headers["location"].startswith(asked + "#")
        code = fragment_of(response.headers["location"])["code"]
        refused = await psd2_token(client, grant_type="authorization_code", code=code,
                                   redirect_uri="http://127.0.0.1:9/cb")
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        redeemed = await psd2_token(client, grant_type="authorization_code", code=code, redirect_uri=asked)
        assert redeemed.status_code == 200, redeemed.text


# --- /oauth/token refusals ---

async def test_token_endpoint_needs_x_api_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "accounts",
                                                       "client_id": TPP_ID, "client_secret": TPP_SECRET})
    assert response.status_code == 401
    assert response.json()["type"] == "SECURITY"


async def test_token_endpoint_needs_the_clients_own_x_api_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "accounts",
                                                       "client_id": TPP_ID, "client_secret": TPP_SECRET},
                                 headers={"x-api-key": "someone-elses-key"})
    assert response.status_code == 401 and response.json()["type"] == "SECURITY"


async def test_token_endpoint_takes_client_secret_post_only(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "accounts"},
                                 auth=(TPP_ID, TPP_SECRET), headers=tpp_headers())
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("scope", ["openid", "accounts payments", ""])
async def test_client_credentials_scope_is_accounts_or_payments(client: httpx.AsyncClient, scope: str) -> None:
    response = await psd2_token(client, grant_type="client_credentials", scope=scope)
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


async def test_payments_client_credentials_token_cannot_create_an_ais_intent(client: httpx.AsyncClient) -> None:
    token = await psd2_client_credentials(client, scope="payments")
    response = await client.post(INTENTS, json={}, headers=bearer(token))
    assert response.status_code == 403 and response.json()["type"] == "SECURITY"


async def test_a_psu_token_cannot_create_an_intent(client: httpx.AsyncClient) -> None:
    tokens = await psd2_authorized(client)
    response = await client.post(INTENTS, json={}, headers=bearer(tokens["access_token"]))
    assert response.status_code == 403 and response.json()["type"] == "SECURITY"


async def test_intent_api_needs_x_api_key(client: httpx.AsyncClient) -> None:
    token = await psd2_client_credentials(client)
    response = await client.post(INTENTS, json={}, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "SECURITY" and set(body) == {"type", "message", "violations", "id"}


@pytest.mark.parametrize("body", [{"expires": "yesterday"}, {"expires": "2000-01-01T00:00:00Z"},
                                  {"colour": "blue"}, ["not", "an", "object"],
                                  {"transactionFrom": "2020-01-01"},  # more than 730 days back (op-auth.md §2.4)
                                  {"transactionFrom": "2026-06-01", "transactionTo": "2026-05-01"}])
async def test_a_bad_intent_body_is_a_validation_error(client: httpx.AsyncClient, body: object) -> None:
    token = await psd2_client_credentials(client)
    response = await client.post(INTENTS, json=body, headers=bearer(token))
    assert response.status_code == 400 and response.json()["type"] == "VALIDATION"


async def test_an_unknown_intent_is_404(client: httpx.AsyncClient) -> None:
    token = await psd2_client_credentials(client)
    response = await client.get(f"{INTENTS}/nope", headers=bearer(token))
    assert response.status_code == 404 and response.json()["type"] == "VALIDATION"


async def test_ais_routes_answer_the_gateways_fault_on_token_problems(client: httpx.AsyncClient) -> None:
    response = await client.get(ACCOUNTS, headers=tpp_headers())
    assert response.status_code == 401
    assert response.json()["fault"]["detail"]["errorcode"] == "oauth.v2.InvalidAccessToken"
    response = await client.get(ACCOUNTS, headers=bearer("not-a-token"))
    assert response.status_code == 401
    assert response.json()["fault"]["detail"]["errorcode"] == "keymanagement.service.invalid_access_token"


async def test_journal_names_the_intent_endpoint(client: httpx.AsyncClient) -> None:
    await create_intent(client)
    entries = (await client.get("/_mock/requests", params={"endpoint": "intents"})).json()["requests"]
    assert [e["status"] for e in entries] == [201]


async def test_psd2_jwks_verifies_the_id_tokens(client: httpx.AsyncClient) -> None:
    response = await client.get("/oauth/jwks/PSD2_OIDC")
    assert response.status_code == 200
    assert response.json() == (await client.get("/jwks")).json()


async def test_refresh_is_refused_once_the_intent_has_expired(client: httpx.AsyncClient) -> None:
    now = await mock_now(client)
    tokens = await psd2_authorized(client, {"expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 7200))})
    await client.post("/_mock/clock", json={"advance": 7201})
    token = await psd2_client_credentials(client)
    read = await client.get(f"{INTENTS}/{tokens['authorizationId']}", headers=bearer(token))
    assert read.json()["status"] == "Expired"
    response = await psd2_token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "the authorization is Expired"}
