"""OP's PSD2 confirmation of funds (CoF, DESIGN §8) against fixtures/op-psd2.yaml, each call as OP's
TPP demo app makes it (op-psd2-calls.md, controllers-cof): intents, their authorization, and the
yes/no answer from the fixture's balances."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.op_helpers import (
    COF,
    PIS,
    TPP_API_KEY,
    app_for,
    authorize,
    code_flow,
    create_intent,
    fragment_of,
    http,
    payment_request_object,
    pis_authorized,
    pis_headers,
    psd2_client_credentials,
    sepa_body,
)

MAIN = "FI8659986920068681"  # psu-aino's, 2375.15 EUR


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2")) as c:
        yield c


def cof_headers(token: str, **extra: str) -> dict[str, str]:
    """The demo's axios calls: bearer, Accept, x-api-key, session, request and interaction ids."""
    request_id = str(uuid.uuid4())
    return {"authorization": f"Bearer {token}", "accept": "application/json", "x-api-key": TPP_API_KEY,
            "x-session-id": str(uuid.uuid4()), "x-request-id": request_id, "x-fapi-interaction-id": request_id,
            **extra}


async def create_cof_intent(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> httpx.Response:
    cc = await psd2_client_credentials(client, "fundsconfirmations")
    return await client.post(f"{COF}/authorizations", json=body if body is not None else {"iban": MAIN},
                             headers=cof_headers(cc, **{"content-type": "application/json; charset=utf-8"}))


async def cof_authorized(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    intent = await create_cof_intent(client, body)
    assert intent.status_code == 201, intent.text
    tokens = await code_flow(client, intent.json()["authorizationId"], "openid fundsconfirmations")
    return {**tokens, "authorizationId": intent.json()["authorizationId"]}


async def confirm(client: httpx.AsyncClient, token: str, authorization_id: str, amount: Any) -> httpx.Response:
    return await client.post(f"{COF}/funds-confirmations", json={"authorizationId": authorization_id,
                                                                 "amountEUR": amount},
                             headers=cof_headers(token, **{"content-type": "application/json; charset=utf-8"}))


async def test_the_cof_journey_as_ops_demo_app_makes_it(client: httpx.AsyncClient) -> None:
    now = (await client.get("/_mock/clock")).json()["now"]
    expires = time.strftime("%Y-%m-%dT00:00:00.000Z", time.gmtime(now + 300 * 86400))
    response = await create_cof_intent(client, {"iban": MAIN, "expires": expires})
    assert response.status_code == 201, response.text
    intent = response.json()
    assert intent["status"] == "Unauthorized" and intent["iban"] == MAIN and intent["expires"] == expires
    tokens = await code_flow(client, intent["authorizationId"], "openid fundsconfirmations")
    assert tokens["scope"] == "openid fundsconfirmations"
    read = await client.get(f"{COF}/authorizations/{intent['authorizationId']}",
                            headers=cof_headers(tokens["access_token"]))
    assert read.status_code == 200 and read.json()["iban"] == MAIN and read.json()["status"] == "Authorized"
    for amount, available in (("10.00", True), ("2375.15", True), ("2375.16", False)):
        response = await confirm(client, tokens["access_token"], intent["authorizationId"], amount)
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["amountEUR"], body["fundsAvailable"]) == (amount, available)
        assert body["authorizationId"] == intent["authorizationId"] and body["fundsConfirmationId"]


async def test_without_an_iban_the_psus_first_account_is_checked(client: httpx.AsyncClient) -> None:
    tokens = await cof_authorized(client, {})
    read = await client.get(f"{COF}/authorizations/{tokens['authorizationId']}",
                            headers=cof_headers(tokens["access_token"]))
    assert read.json()["iban"] == MAIN


async def test_a_debited_payment_lowers_the_funds_confirmed(client: httpx.AsyncClient) -> None:
    tokens = await cof_authorized(client)
    assert (await confirm(client, tokens["access_token"], tokens["authorizationId"], "2000.00")).json()[
        "fundsAvailable"] is True
    payment = await pis_authorized(client, sepa_body("400.00"))
    await client.put(f"{PIS}/sepa-payments/{payment['payments'][0]['paymentId']}/submissions/s1",
                     headers=pis_headers(payment["access_token"]))
    assert (await confirm(client, tokens["access_token"], tokens["authorizationId"], "2000.00")).json()[
        "fundsAvailable"] is False


async def test_a_revoked_authorization_answers_as_ops_demo_app_expects(client: httpx.AsyncClient) -> None:
    tokens = await cof_authorized(client)
    cc = await psd2_client_credentials(client, "fundsconfirmations")
    deleted = await client.delete(f"{COF}/authorizations/{tokens['authorizationId']}", headers=cof_headers(cc))
    assert deleted.status_code == 204
    response = await confirm(client, tokens["access_token"], tokens["authorizationId"], "1.00")
    assert response.status_code == 403
    error = response.json()["errors"][0]
    assert error["type"] == "SECURITY" and error["message"].startswith("Authorization ")


async def test_an_expired_token_answers_as_ops_demo_app_expects(client: httpx.AsyncClient) -> None:
    tokens = await cof_authorized(client)
    await client.post("/_mock/clock", json={"advance": 3601})
    response = await confirm(client, tokens["access_token"], tokens["authorizationId"], "1.00")
    assert response.status_code == 401
    assert response.json()["fault"]["detail"]["errorcode"] == "keymanagement.service.access_token_expired"


async def test_funds_are_confirmed_only_with_the_psus_token(client: httpx.AsyncClient) -> None:
    tokens = await cof_authorized(client)
    cc = await psd2_client_credentials(client, "fundsconfirmations")
    response = await confirm(client, cc, tokens["authorizationId"], "1.00")
    assert response.status_code == 403 and response.json()["type"] == "SECURITY"


@pytest.mark.parametrize("body, violation", [
    ({"amountEUR": "1.00"}, "Required"), ({"authorizationId": "other", "amountEUR": "1.00"}, "InvalidValue"),
    ({"amountEUR": "1.5"}, "EuroCents"), ({"amountEUR": 1}, "TypeMismatch"), ({"x": 1}, "UnrecognizedProperty"),
])
async def test_a_bad_funds_confirmation_is_refused(client: httpx.AsyncClient, body: dict[str, Any],
                                                   violation: str) -> None:
    tokens = await cof_authorized(client)
    full = {"authorizationId": tokens["authorizationId"], **body} if "authorizationId" not in body \
        and violation != "Required" else body
    response = await client.post(f"{COF}/funds-confirmations", json=full, headers=cof_headers(tokens["access_token"]))
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "VALIDATION" and response.json()["violations"][0]["type"] == violation


@pytest.mark.parametrize("body", [{"iban": "FI8659986920068682"}, {"expires": "2000-01-01T00:00:00Z"},
                                  {"expires": "2099-01-01T00:00:00Z"}, {"colour": "blue"}])
async def test_a_bad_cof_intent_is_refused(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await create_cof_intent(client, body)
    assert response.status_code == 400 and response.json()["type"] == "VALIDATION"


async def test_an_intent_is_authorized_with_its_own_apis_scope(client: httpx.AsyncClient) -> None:
    intent = (await create_cof_intent(client)).json()
    now = (await client.get("/_mock/clock")).json()["now"]
    response = await authorize(client, payment_request_object(intent["authorizationId"], scope="openid accounts",
                                                              now=now))
    assert response.status_code == 302
    assert fragment_of(response.headers["location"])["error"] == "invalid_scope"


async def test_the_cof_intent_api_is_not_the_ais_one(client: httpx.AsyncClient) -> None:
    ais = await create_intent(client)
    cc = await psd2_client_credentials(client, "fundsconfirmations")
    response = await client.get(f"{COF}/authorizations/{ais['authorizationId']}", headers=cof_headers(cc))
    assert response.status_code == 404


async def test_the_journal_names_the_funds_endpoint(client: httpx.AsyncClient) -> None:
    tokens = await cof_authorized(client)
    await confirm(client, tokens["access_token"], tokens["authorizationId"], "1.00")
    entries = (await client.get("/_mock/requests", params={"endpoint": "funds"})).json()["requests"]
    assert [(e["method"], e["status"]) for e in entries] == [("POST", 201), ("POST", 201)]
