"""Every call OP's TPP demo app makes (op-psd2-calls.md, the fidelity contract), byte for byte
where it matters: token bodies built by concatenation, the authorize URL as ``query-string``
builds it, the ID-token checks of ``oauthHandler.ts``, payment bodies signed and sent as
``text/plain`` with the sandbox's bare-base64 ``x-client-certificate``, response signatures
checked with the PIS JWKS, the exemption assertion without ``exp``, and CoF through axios."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from tests.op_helpers import (
    COF,
    KEYS,
    PIS,
    TPP_API_KEY,
    TPP_ID,
    TPP_REDIRECT,
    TPP_SECRET,
    app_for,
    detached_signature,
    foreign_body,
    forwarded_certificate,
    fragment_of,
    half_hash,
    http,
    oidc_keys,
    sepa_body,
    stringify,
    verify_response_signature,
)

AIS = "/accounts-psd2/v1"
# services/jwt.ts: the demo signs with ES256 and its JWT_SIGNATURE_KID
PEM, KID = KEYS["ES256"]
# paymentUtils.ts clientCertForSandbox: the PEM without BEGIN/END lines and line breaks (bare base64 DER)
SANDBOX_CERT = forwarded_certificate("CN=psd2-tpp,O=Sandbox TPP,C=FI") \
    .replace("-----BEGIN CERTIFICATE-----", "").replace("-----END CERTIFICATE-----", "").strip()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2")) as c:
        yield c


async def get_tokens(client: httpx.AsyncClient, body: str) -> dict[str, Any]:
    """services/token.ts getTokens: headers, and the body concatenated with the client's credentials."""
    response = await client.post("/oauth/token", content=f"{body}&client_id={TPP_ID}&client_secret={TPP_SECRET}",
                                 headers={"X-Request-Id": str(uuid.uuid4()), "X-Session-Id": str(uuid.uuid4()),
                                          "x-api-key": TPP_API_KEY,
                                          "Content-Type": "application/x-www-form-urlencoded"})
    assert response.is_success, response.text
    tokens = response.json()
    assert "error" not in tokens
    return tokens


def request_claims(authorization_id: str, scope: str, state: str, nonce: str) -> dict[str, Any]:
    """services/jwt.ts createRequestClaims."""
    now = int(time.time())
    content = {"authorizationId": {"value": authorization_id, "essential": True}}
    return {"aud": "https://mtls.apis.op.fi", "iss": TPP_ID, "response_type": "code id_token", "client_id": TPP_ID,
            "redirect_uri": TPP_REDIRECT, "scope": scope, "state": state, "nonce": nonce, "max_age": 86400,
            "exp": now + 900, "iat": now,
            "claims": {"userinfo": content, "id_token": {**content, "acr": {
                "essential": True, "values": ["urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"]}}}}


async def verify_id_token(client: httpx.AsyncClient, token: str, nonce: str | None = None) -> dict[str, Any]:
    """oauthHandler.ts validate: the JWKS, ES256/RS256/PS256, issuer = the authorize URL's origin,
    audience = the client, the nonce, maxTokenAge 600 s, 120 s tolerance; sub, exp, iat required."""
    keys = await oidc_keys(client)
    claims = jwt.decode(token, keys[jwt.get_unverified_header(token)["kid"]].key,
                        algorithms=["ES256", "RS256", "PS256"], audience=TPP_ID, issuer="http://mock.test",
                        leeway=120, options={"require": ["sub", "exp", "iat"]})
    assert time.time() - claims["iat"] <= 600 + 120
    if nonce is not None:
        assert claims["nonce"] == nonce
    return claims


async def code_flow(client: httpx.AsyncClient, authorization_id: str, scope: str) -> dict[str, Any]:
    """createOidcRedirectUri → the PSU (login: auto) → the callback's fragment → verifyOauthSession →
    getAccessTokenFromCode → verifyIdTokenAndStoreTokensToSession."""
    state, nonce = secrets.token_hex(12), secrets.token_hex(12)
    request = jwt.encode(request_claims(authorization_id, scope, state, nonce), PEM, algorithm="ES256",
                         headers={"kid": KID})
    params = {"client_id": TPP_ID, "nonce": nonce, "redirect_uri": TPP_REDIRECT, "request": request,
              "response_type": "code id_token", "scope": scope, "state": state}  # query-string sorts its keys
    response = await client.get(f"/oauth/authorize?{urlencode(params)}")
    assert response.status_code == 302, response.text
    callback = fragment_of(response.headers["location"])
    assert callback["state"] == state and "error" not in callback
    front = await verify_id_token(client, callback["id_token"], nonce)
    assert front["c_hash"] == half_hash(callback["code"]) and front["s_hash"] == half_hash(state)
    tokens = await get_tokens(client, f"grant_type=authorization_code&code={callback['code']}"
                                      f"&redirect_uri={TPP_REDIRECT}")
    assert {"access_token", "refresh_token", "id_token", "scope", "token_type", "expires_in"} <= set(tokens)
    back = await verify_id_token(client, tokens["id_token"])
    assert back["at_hash"] == half_hash(tokens["access_token"])
    assert back["rt_hash"] == half_hash(tokens["refresh_token"])
    return tokens


async def test_the_ais_calls(client: httpx.AsyncClient) -> None:
    cc = (await get_tokens(client, "grant_type=client_credentials&scope=accounts"))["access_token"]
    expires = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 90 * 86400 - 5))
    created = await client.post(f"{AIS}/authorizations", content=f'{{"expires":"{expires}"}}', headers={
        "x-api-key": TPP_API_KEY, "Authorization": f"Bearer {cc}",
        "Content-Type": "application/json; charset=utf-8"})
    assert created.is_success, created.text
    authorization_id = created.json()["authorizationId"]
    tokens = await code_flow(client, authorization_id, "openid accounts")
    ais = {"x-api-key": TPP_API_KEY, "Authorization": f"Bearer {tokens['access_token']}"}
    accounts = (await client.get(f"{AIS}/accounts", headers=ais)).json()
    assert isinstance(accounts, list)
    for account in accounts:
        assert {"accountId", "productName", "identifier", "netBalance", "currency"} <= set(account)
    seen, token = [], None  # getAllTransactions follows continuationToken
    while True:
        page = (await client.get(f"{AIS}/accounts/{accounts[0]['accountId']}/transactions",
                                 params={"continuationToken": token} if token else {}, headers=ais)).json()
        seen += page.get("transactions", [])
        token = page.get("continuationToken")
        if not token:
            break
    assert len(seen) == 14 and {"archiveId", "valueDate", "amount", "currency"} <= set(seen[0])
    assert (await client.get(f"{AIS}/accounts/{accounts[0]['accountId']}", headers=ais)).json() == accounts[0]
    cards = (await client.get(f"{AIS}/cards", headers=ais)).json()
    assert {"cardId", "productName", "cardNumber"} <= set(cards[0])
    card_page = (await client.get(f"{AIS}/cards/{cards[0]['cardId']}/transactions", headers=ais)).json()
    assert {"description", "amount", "currency", "postingDate"} <= set(card_page["transactions"][0])
    refreshed = await get_tokens(client, f"grant_type=refresh_token&refresh_token={tokens['refresh_token']}")
    assert refreshed["access_token"]
    revoked = await client.delete(f"{AIS}/authorizations/{authorization_id}", headers={
        "x-api-key": TPP_API_KEY, "Authorization": f"Bearer {refreshed['access_token']}"})
    assert revoked.is_success


def common_headers(token: str, session_id: str | None = None) -> dict[str, str]:
    """paymentUtils.ts getCommonHeaders, in the sandbox (x-client-certificate)."""
    return {"Authorization": f"Bearer {token}", "x-api-key": TPP_API_KEY, "Accept": "application/json",
            "x-session-id": session_id or str(uuid.uuid4()), "x-idempotency-key": str(uuid.uuid4()),
            "x-request-id": str(uuid.uuid4()), "x-fapi-interaction-id": str(uuid.uuid4()),
            "x-client-certificate": SANDBOX_CERT}


async def init_payment(client: httpx.AsyncClient, token: str, body: dict[str, Any], path: str) -> dict[str, Any]:
    """initSinglePayment / initForeignPayment and the response checks of createSinglePayment."""
    raw = stringify(body)
    response = await client.post(f"{PIS}/{path}", content=raw, headers={
        "x-jws-signature": detached_signature(raw), **common_headers(token),
        "Content-Type": "text/plain;charset=UTF-8"})  # node-fetch's for a string body
    assert response.is_success, response.text
    await verify_response_signature(client, response)  # verifyResponseSignature, the JWKS fetched each time
    return response.json()


async def list_payments(client: httpx.AsyncClient, authorization_id: str, token: str) -> list[dict[str, Any]]:
    """fetchPaymentsByAuthorizationId; payments.pug reads these fields of every row."""
    response = await client.get(f"{PIS}/authorizations/{authorization_id}/payments", headers=common_headers(token))
    assert response.is_success, response.text
    rows = response.json()["payments"]
    for row in rows:
        assert {"paymentId", "authorizationId", "status", "message"} <= set(row) and row["payer"]["iban"]
        assert row["payee"]["bankAccount"]["id"] if row.get("paymentType") == "ForeignPayment" \
            else row["payee"]["iban"] and row["amountEUR"]
    return rows


async def submit(client: httpx.AsyncClient, payment_id: str, token: str) -> None:
    """submitSepaPayment: the submission id is the call's own x-session-id; no body."""
    session_id = str(uuid.uuid4())
    response = await client.put(f"{PIS}/sepa-payments/{payment_id}/submissions/{session_id}",
                                headers=common_headers(token, session_id))
    assert response.is_success, response.text


async def test_the_pis_calls_single_bundle_foreign_and_exemption(client: httpx.AsyncClient) -> None:
    cc = (await get_tokens(client, "grant_type=client_credentials&scope=payments"))["access_token"]
    # a bundle of three: handlePaymentCreation, the 2nd and 3rd with the first's authorizationId
    first = await init_payment(client, cc, sepa_body("3.20", message="DEMO PSD2 PAYMENT"), "sepa-payments")
    for _ in range(2):
        await init_payment(client, cc, sepa_body("3.20", authorizationId=first["authorizationId"]), "sepa-payments")
    tokens = await code_flow(client, first["authorizationId"], "openid payments")
    rows = await list_payments(client, first["authorizationId"], tokens["access_token"])
    assert [r["status"] for r in rows] == ["Authorized"] * 3
    for row in rows:
        await submit(client, row["paymentId"], tokens["access_token"])
    assert {r["status"] for r in await list_payments(client, first["authorizationId"], tokens["access_token"])} \
        == {"Debited"}
    # foreign: createForeignPayment, a client-credentials token of its own, submitted on the SEPA path
    cc = (await get_tokens(client, "grant_type=client_credentials&scope=payments"))["access_token"]
    foreign = await init_payment(client, cc, foreign_body("20.50", "USD"), "foreign-payments")
    foreign_tokens = await code_flow(client, foreign["authorizationId"], "openid payments")
    await submit(client, foreign["paymentId"], foreign_tokens["access_token"])
    assert (await list_payments(client, foreign["authorizationId"], foreign_tokens["access_token"]))[0][
        "status"] == "Accepted"
    # exemption: the PSU's token creates the payment, then the jwt-bearer grant (createExemptionClaims)
    exempt = await init_payment(client, tokens["access_token"],
                                sepa_body("4.90", payer={"iban": "FI8659986920068681"}), "sepa-payments")
    content = {"authorizationId": {"value": exempt["authorizationId"], "essential": True}}
    assertion = jwt.encode({
        "max_age": 86400, "aud": "https://mtls.apis.op.fi", "scope": "payments", "iss": TPP_ID,
        "claims": {"id_token": {**content, "acr": {"essential": True, "values": ["urn:openbanking:psd2:ca"]}},
                   "userinfo": content},
        "response_type": "token", "state": secrets.token_hex(12), "nonce": secrets.token_hex(12),
        "client_id": TPP_ID}, PEM, algorithm="ES256", headers={"kid": KID})
    response = await client.post("/oauth/token", content=(
        f"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&scope=payments&client_id={TPP_ID}"
        f"&client_secret={TPP_SECRET}&assertion={assertion}"), headers={
        "X-Request-Id": str(uuid.uuid4()), "X-Session-Id": str(uuid.uuid4()), "x-api-key": TPP_API_KEY,
        "Content-Type": "application/x-www-form-urlencoded"})
    assert response.is_success and "error" not in response.json(), response.text
    exemption = response.json()
    await submit(client, exempt["paymentId"], exemption["access_token"])
    assert (await list_payments(client, exempt["authorizationId"], exemption["access_token"]))[0][
        "status"] == "Debited"
    # a PIS authorization with no token yet: the demo lists it with "Bearer " and shows none
    empty = await client.get(f"{PIS}/authorizations/{exempt['authorizationId']}/payments",
                             headers={**common_headers(""), "Authorization": "Bearer "})
    assert empty.status_code == 401 and "fault" in empty.json()


def cof_headers(token: str, request_id: str | None = None) -> dict[str, str]:
    """The generated CoF client through axios: Authorization, Accept, x-api-key, and the instance's ids."""
    request_id = request_id or str(uuid.uuid4())
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "x-api-key": TPP_API_KEY,
            "x-session-id": str(uuid.uuid4()), "x-request-id": request_id, "x-fapi-interaction-id": request_id}


async def test_the_cof_calls(client: httpx.AsyncClient) -> None:
    cc = (await get_tokens(client, "grant_type=client_credentials&scope=fundsconfirmations"))["access_token"]
    expires = time.strftime("%Y-%m-%dT00:00:00.000Z", time.gmtime(time.time() + 365 * 86400))
    body = f'{{"iban":"FI8659986920068681","expires":"{expires}"}}'  # axios: JSON.stringify({iban, expires})
    created = await client.post(f"{COF}/authorizations", content=body,
                                headers={**cof_headers(cc), "Content-Type": "application/json; charset=utf-8"})
    assert created.is_success, created.text
    authorization_id = created.json()["authorizationId"]
    tokens = await code_flow(client, authorization_id, "openid fundsconfirmations")
    read = await client.get(f"{COF}/authorizations/{authorization_id}", headers=cof_headers(tokens["access_token"]))
    assert read.json()["iban"] == "FI8659986920068681"
    confirmed = await client.post(f"{COF}/funds-confirmations",
                                  content=f'{{"authorizationId":"{authorization_id}","amountEUR":"10.00"}}',
                                  headers={**cof_headers(tokens["access_token"]),
                                           "Content-Type": "application/json; charset=utf-8"})
    assert confirmed.is_success and confirmed.json()["amountEUR"] == "10.00"
    assert confirmed.json()["fundsAvailable"] is True
