"""OP's PSD2 payment initiation (PIS, DESIGN §8) against fixtures/op-psd2.yaml, each call as OP's
TPP demo app makes it (op-psd2-calls.md): signed bodies without a JSON content type, bundles,
foreign payments, submission, revocation, the statuses of OP's table and signed answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.op_helpers import (
    PIS,
    PIS_JWKS,
    TPP_ID,
    ais_tokens,
    app_for,
    code_flow,
    create_payment,
    foreign_body,
    fragment_of,
    http,
    payment_request_object,
    pis_authorized,
    pis_headers,
    psd2_client_credentials,
    sepa_body,
    verify_response_signature,
)

ACCOUNTS = "/accounts-psd2/v1/accounts"
MAIN = "cd9b9f4d-1b2a-4d3c-9e8f-0a1b2c3d4e5f"  # psu-aino's FI8659986920068681, 2375.15 EUR


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2")) as c:
        yield c


async def bundle_payments(client: httpx.AsyncClient, authorization_id: str, token: str) -> list[dict]:
    response = await client.get(f"{PIS}/authorizations/{authorization_id}/payments", headers=pis_headers(token))
    assert response.status_code == 200, response.text
    await verify_response_signature(client, response)
    return response.json()["payments"]


async def submit(client: httpx.AsyncClient, payment_id: str, token: str, submission: str | None = None,
                 kind: str = "sepa", **headers: str) -> httpx.Response:
    return await client.put(f"{PIS}/{kind}-payments/{payment_id}/submissions/{submission or uuid.uuid4()}",
                            headers=pis_headers(token, **headers))


async def balance(client: httpx.AsyncClient) -> str:
    """psu-aino's main account's balance, read with a fresh AIS authorization (the clock may have moved)."""
    ais = await ais_tokens(client)
    response = await client.get(f"{ACCOUNTS}/{MAIN}", headers=pis_headers(ais["access_token"]))
    assert response.status_code == 200, response.text
    return response.json()["netBalance"]


async def test_a_sepa_payment_from_creation_to_debit(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    response = await create_payment(client, cc, sepa_body("12.50"))
    assert response.status_code == 201, response.text
    await verify_response_signature(client, response)
    payment = response.json()
    assert payment["status"] == "Unauthorized" and payment["amountEUR"] == "12.50"
    assert payment["payee"] == {"iban": "FI6059986920080595", "name": "Matti Meikäläinen"}
    assert payment["paymentType"] == "SepaPayment" and "payer" not in payment
    tokens = await code_flow(client, payment["authorizationId"], "openid payments")
    assert tokens["scope"] == "openid payments"
    listed = await bundle_payments(client, payment["authorizationId"], tokens["access_token"])
    assert [(p["paymentId"], p["status"], p["payer"]) for p in listed] == [
        (payment["paymentId"], "Authorized", {"iban": "FI8659986920068681"})]
    response = await submit(client, payment["paymentId"], tokens["access_token"])
    assert response.status_code == 201, response.text
    await verify_response_signature(client, response)
    assert response.json()["status"] == "Debited"
    listed = await bundle_payments(client, payment["authorizationId"], tokens["access_token"])
    assert listed[0]["status"] == "Debited"
    assert await balance(client) == "2362.65"


async def test_a_bundle_shares_one_authorization_id_and_is_authorized_at_once(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client, sepa_body("1.00"), sepa_body("2.00"), sepa_body("3.00"))
    created = tokens["payments"]
    assert len({p["authorizationId"] for p in created}) == 1
    listed = await bundle_payments(client, tokens["authorizationId"], tokens["access_token"])
    assert [(p["amountEUR"], p["status"]) for p in listed] == [("1.00", "Authorized"), ("2.00", "Authorized"),
                                                              ("3.00", "Authorized")]
    for payment in listed:
        assert (await submit(client, payment["paymentId"], tokens["access_token"])).status_code == 201
    listed = await bundle_payments(client, tokens["authorizationId"], tokens["access_token"])
    assert {p["status"] for p in listed} == {"Debited"}
    read = await client.get(f"{PIS}/authorizations/{tokens['authorizationId']}", params={"include": "payments"},
                            headers=pis_headers(tokens["cc"]))
    assert read.json()["status"] == "Authorized" and len(read.json()["sepaPayments"]) == 3


async def test_a_foreign_payment_is_accepted_then_debited_a_day_later(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    response = await create_payment(client, cc, foreign_body("20.00", "USD"), kind="foreign")
    assert response.status_code == 201, response.text
    await verify_response_signature(client, response)
    payment = response.json()
    assert payment["paymentType"] == "ForeignPayment" and payment["currency"] == "USD"
    tokens = await code_flow(client, payment["authorizationId"], "openid payments")
    # OP's demo TPP submits every selected payment on the SEPA path, foreign ones too
    response = await submit(client, payment["paymentId"], tokens["access_token"], kind="sepa")
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "Accepted"
    listed = await bundle_payments(client, payment["authorizationId"], tokens["access_token"])
    assert listed[0]["status"] == "Accepted" and listed[0]["amount"] == "20.00"
    assert await balance(client) == "2375.15"
    await client.post("/_mock/clock", json={"advance": 86401})
    cc = await psd2_client_credentials(client, "payments")
    listed = await bundle_payments(client, payment["authorizationId"], cc)
    assert listed[0]["status"] == "Debited"
    assert await balance(client) == "2356.63"  # 20.00 USD at 1.08 USD per EUR: 18.52 EUR


async def test_a_scheduled_payment_waits_for_its_date_on_the_mock_clock(client: httpx.AsyncClient) -> None:
    now = datetime.fromtimestamp((await client.get("/_mock/clock")).json()["now"], UTC)
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    tokens = await pis_authorized(client, sepa_body("100.00", executionDate=tomorrow))
    payment = tokens["payments"][0]
    assert payment["executionDate"] == tomorrow
    response = await submit(client, payment["paymentId"], tokens["access_token"])
    assert response.json()["status"] == "Accepted"
    assert await balance(client) == "2375.15"
    await client.post("/_mock/clock", json={"advance": 2 * 86400})
    cc = await psd2_client_credentials(client, "payments")
    assert (await bundle_payments(client, tokens["authorizationId"], cc))[0]["status"] == "Debited"
    assert await balance(client) == "2275.15"


async def test_a_recurring_payment_debits_each_occurrence_as_the_clock_moves(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client, sepa_body("10.00", count=3))
    response = await submit(client, tokens["payments"][0]["paymentId"], tokens["access_token"])
    assert response.json()["status"] == "Accepted"
    assert await balance(client) == "2365.15"
    await client.post("/_mock/clock", json={"advance": 30 * 86400})
    assert await balance(client) == "2355.15"
    await client.post("/_mock/clock", json={"advance": 30 * 86400})
    assert await balance(client) == "2345.15"
    listed = await bundle_payments(client, tokens["authorizationId"], await psd2_client_credentials(client, "payments"))
    assert listed[0]["status"] == "Debited" and listed[0]["count"] == 3


async def test_the_same_submission_id_answers_again_without_a_second_debit(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client, sepa_body("5.00"))
    payment_id = tokens["payments"][0]["paymentId"]
    first = await submit(client, payment_id, tokens["access_token"], "sub-1")
    again = await submit(client, payment_id, tokens["access_token"], "sub-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["archiveId"] == first.json()["archiveId"]
    assert await balance(client) == "2370.15"
    other = await submit(client, payment_id, tokens["access_token"], "sub-2")
    assert other.status_code == 409 and other.json()["violations"][0]["type"] == "IllegalState"


async def test_an_unauthorized_payment_is_revoked_with_the_client_token(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    payment = (await create_payment(client, cc, sepa_body())).json()
    response = await client.delete(f"{PIS}/sepa-payments/{payment['paymentId']}", headers=pis_headers(cc))
    assert response.status_code == 200 and response.json()["status"] == "Revoked"
    await verify_response_signature(client, response)
    read = await client.get(f"{PIS}/sepa-payments/{payment['paymentId']}", headers=pis_headers(cc))
    assert read.json()["status"] == "Revoked"


async def test_an_authorized_payment_is_cancelled_only_with_the_psus_token(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client)
    payment_id = tokens["payments"][0]["paymentId"]
    response = await client.delete(f"{PIS}/sepa-payments/{payment_id}", headers=pis_headers(tokens["cc"]))
    assert response.status_code == 409 and response.json()["type"] == "BUSINESS"
    response = await client.delete(f"{PIS}/sepa-payments/{payment_id}", headers=pis_headers(tokens["access_token"]))
    assert response.status_code == 200 and response.json()["status"] == "Cancelled"
    response = await submit(client, payment_id, tokens["access_token"])
    assert response.status_code == 409


async def test_a_cancelled_scheduled_payment_is_never_debited(client: httpx.AsyncClient) -> None:
    now = datetime.fromtimestamp((await client.get("/_mock/clock")).json()["now"], UTC)
    later = (now + timedelta(days=3)).date().isoformat()
    tokens = await pis_authorized(client, sepa_body("50.00", executionDate=later))
    payment_id = tokens["payments"][0]["paymentId"]
    assert (await submit(client, payment_id, tokens["access_token"])).json()["status"] == "Accepted"
    response = await client.delete(f"{PIS}/sepa-payments/{payment_id}", headers=pis_headers(tokens["access_token"]))
    assert response.json()["status"] == "Cancelled"
    await client.post("/_mock/clock", json={"advance": 5 * 86400})
    assert await balance(client) == "2375.15"


async def test_submission_pending_under_a_scenario_then_a_retry_debits(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client, sepa_body("7.00"))
    payment_id = tokens["payments"][0]["paymentId"]
    response = await submit(client, payment_id, tokens["access_token"], **{"x-mock-scenario": "submission-pending"})
    assert response.status_code == 202 and response.json()["status"] == "SubmissionPending"
    await verify_response_signature(client, response)
    listed = await bundle_payments(client, tokens["authorizationId"], tokens["access_token"])
    assert listed[0]["status"] == "SubmissionPending"
    response = await submit(client, payment_id, tokens["access_token"])
    assert response.status_code == 201 and response.json()["status"] == "Debited"


async def test_ops_sandbox_scenario_header_is_honoured(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client, sepa_body("7.00"))
    payment_id = tokens["payments"][0]["paymentId"]
    response = await submit(client, payment_id, tokens["access_token"], **{"x-sandbox-scenario": "InsufficientFunds"})
    assert response.status_code == 400 and response.json()["violations"][0]["type"] == "InsufficientFunds"
    response = await submit(client, payment_id, tokens["access_token"],
                            **{"x-sandbox-scenario": "PaymentSystemUnavailable"})
    assert response.json()["status"] == "SubmissionPending"


async def test_a_payment_larger_than_the_balance_is_refused_and_stays_authorized(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client, sepa_body("5000.00"))
    payment_id = tokens["payments"][0]["paymentId"]
    response = await submit(client, payment_id, tokens["access_token"])
    assert response.status_code == 400
    assert response.json()["type"] == "BUSINESS" and response.json()["violations"][0]["type"] == "InsufficientFunds"
    listed = await bundle_payments(client, tokens["authorizationId"], tokens["access_token"])
    assert listed[0]["status"] == "Authorized"


async def test_a_submission_needs_the_psus_token_of_that_bundle(client: httpx.AsyncClient) -> None:
    first = await pis_authorized(client)
    second = await pis_authorized(client)
    payment_id = first["payments"][0]["paymentId"]
    for token in (first["cc"], second["access_token"]):
        response = await submit(client, payment_id, token)
        assert response.status_code == 403 and response.json()["type"] == "SECURITY"


async def test_the_psu_rejecting_makes_the_bundle_rejected(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    payment = (await create_payment(client, cc, sepa_body())).json()
    now = (await client.get("/_mock/clock")).json()["now"]
    response = await client.get("/oauth/authorize", headers={"x-mock-scenario": "payment-rejected"}, params={
        "request": payment_request_object(payment["authorizationId"], now=now), "response_type": "code id_token",
        "client_id": TPP_ID, "scope": "openid payments"})
    assert response.status_code == 302
    assert fragment_of(response.headers["location"])["error"] == "access_denied"
    read = await client.get(f"{PIS}/sepa-payments/{payment['paymentId']}", headers=pis_headers(cc))
    assert read.json()["status"] == "Rejected"


async def test_the_pis_jwks_is_its_own_key(client: httpx.AsyncClient) -> None:
    pis = (await client.get(PIS_JWKS)).json()["keys"]
    oidc = (await client.get("/oauth/jwks/PSD2_OIDC")).json()["keys"]
    assert len(pis) == 1 and pis[0]["kty"] == "EC" and {k["kid"] for k in oidc}.isdisjoint({pis[0]["kid"]})


async def test_the_journal_records_each_payments_call(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client, sepa_body("1.00"), sepa_body("2.00"))
    await submit(client, tokens["payments"][0]["paymentId"], tokens["access_token"])
    entries = (await client.get("/_mock/requests", params={"endpoint": "payments"})).json()["requests"]
    assert [(e["method"], e["status"]) for e in entries] == [("POST", 201), ("POST", 201), ("PUT", 201)]
    assert {e["client_id"] for e in entries} == {TPP_ID}
    assert entries[0]["headers"]["x-jws-signature"]
