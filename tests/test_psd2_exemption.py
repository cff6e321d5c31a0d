"""OP's PSD2 exemption grant (jwt-bearer, op-auth.md §4.2): reuse of an Authorized intent, and PIS
payments made with the PSU's token authorized without SCA, as OP's demo TPP does it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest

from tests.op_helpers import (
    JWT_BEARER,
    KEYS,
    PIS,
    TPP_ID,
    TPP_SECRET,
    app_for,
    create_intent,
    create_payment,
    http,
    pis_authorized,
    pis_headers,
    psd2_authorized,
    psd2_client_credentials,
    psd2_token,
    sepa_body,
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


async def test_generic_token_endpoint_applies_rfc7523_not_the_exemption_rules(jwt_client: httpx.AsyncClient) -> None:
    """/token runs RFC 7523's jwt-bearer grant: an exemption assertion (OP's aud, no user in sub) is
    refused there, and the same client's RFC 7523 assertion for a fixture user gets a token."""
    client = jwt_client  # the fixture with JWT access tokens, so the claims can be read
    tokens = await psd2_authorized(client)
    now = await mock_now(client)
    exemption = exemption_assertion(tokens["authorizationId"], now)
    refused = await client.post("/token", data={"grant_type": JWT_BEARER, "client_id": TPP_ID,
                                                 "client_secret": TPP_SECRET, "assertion": exemption})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    pem, kid = KEYS["ES256"]
    rfc7523 = jwt.encode({"iss": TPP_ID, "sub": "psu-aino", "aud": "http://mock.test/token", "exp": int(now) + 60},
                         pem, algorithm="ES256", headers={"kid": kid})
    issued = await client.post("/token", data={"grant_type": JWT_BEARER, "client_id": TPP_ID,
                                                "client_secret": TPP_SECRET, "assertion": rfc7523, "scope": "accounts"})
    assert issued.status_code == 200, issued.text
    claims = jwt.decode(issued.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "psu-11223344" and "authorizationId" not in claims


# --- PIS: the exemption flow as OP's demo TPP uses it (controllers-pis handleExemption) ---


def demo_assertion(authorization_id: str, **changes: object) -> str:
    """``createExemptionClaims``, signed as the demo signs it: ES256 with a kid, no ``exp`` or ``iat``."""
    content = {"authorizationId": {"value": authorization_id, "essential": True}}
    claims = {"max_age": 86400, "aud": "https://mtls.apis.op.fi", "scope": "payments", "iss": TPP_ID,
              "claims": {"id_token": {**content, "acr": {"essential": True, "values": ["urn:openbanking:psd2:ca"]}},
                         "userinfo": content},
              "response_type": "token", "state": "a" * 24, "nonce": "b" * 24, "client_id": TPP_ID, **changes}
    pem, kid = KEYS["ES256"]
    return jwt.encode(claims, pem, algorithm="ES256", headers={"kid": kid})


async def exemption_token(client: httpx.AsyncClient, authorization_id: str, **changes: object) -> httpx.Response:
    """``getTokensForExemption``: the body as the demo concatenates it (client_secret_post)."""
    return await psd2_token(client, grant_type=JWT_BEARER, scope="payments",
                            assertion=demo_assertion(authorization_id, **changes))


async def test_the_exemption_flow_authorizes_a_payment_made_with_the_psus_token(client: httpx.AsyncClient) -> None:
    earlier = await pis_authorized(client)  # an SCA-authorized payment gave the TPP the PSU's token
    created = await create_payment(client, earlier["access_token"],
                                   sepa_body("4.90", payer={"iban": "FI8659986920068681"}))
    assert created.status_code == 201, created.text
    authorization_id = created.json()["authorizationId"]
    response = await exemption_token(client, authorization_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "payments" and "refresh_token" not in body and isinstance(body["expires_in"], int)
    listed = await client.get(f"{PIS}/authorizations/{authorization_id}/payments",
                              headers=pis_headers(body["access_token"]))
    assert [p["status"] for p in listed.json()["payments"]] == ["Authorized"]
    submitted = await client.put(f"{PIS}/sepa-payments/{created.json()['paymentId']}/submissions/{uuid.uuid4()}",
                                 headers=pis_headers(body["access_token"]))
    assert submitted.status_code == 201 and submitted.json()["status"] == "Debited"


async def test_the_exemption_flow_claims_acr_ca_for_the_same_psu(jwt_client: httpx.AsyncClient) -> None:
    earlier = await pis_authorized(jwt_client)
    created = (await create_payment(jwt_client, earlier["access_token"], sepa_body("1.00"))).json()
    response = await exemption_token(jwt_client, created["authorizationId"])
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["acr"] == "urn:openbanking:psd2:ca" and claims["sub"] == "psu-11223344"
    assert claims["authorizationId"] == created["authorizationId"]


async def test_a_payment_over_the_exemption_limit_needs_sca(client: httpx.AsyncClient) -> None:
    earlier = await pis_authorized(client)
    created = (await create_payment(client, earlier["access_token"], sepa_body("30.01"))).json()
    response = await exemption_token(client, created["authorizationId"])
    assert response.status_code == 400 and response.json() == {
        "error": "invalid_grant", "error_description": "a payment over 30.00 EUR needs strong customer authentication"}
    read = await client.get(f"{PIS}/sepa-payments/{created['paymentId']}", headers=pis_headers(earlier["cc"]))
    assert read.json()["status"] == "Unauthorized"


async def test_payments_made_with_a_client_credentials_token_are_not_exempt(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    created = (await create_payment(client, cc, sepa_body("1.00"))).json()
    response = await exemption_token(client, created["authorizationId"])
    assert response.status_code == 400 and "PSU's access token" in response.json()["error_description"]


async def test_an_exemption_assertion_with_an_exp_in_the_past_is_refused(client: httpx.AsyncClient) -> None:
    earlier = await pis_authorized(client)
    created = (await create_payment(client, earlier["access_token"], sepa_body("1.00"))).json()
    response = await exemption_token(client, created["authorizationId"], exp=int(await mock_now(client)) - 1)
    assert response.status_code == 400 and response.json()["error_description"] == "the JWT has expired"
