"""OP's PSD2 authorization on the login page (``server.login: page``): the PSU sees the payee,
amount and message of every payment (or the AIS/CoF authorization), the payment bundle is
Authorizing and locked while the page is open, Approve authorizes it, Deny rejects it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.html_forms import form_with
from tests.op_helpers import (
    PIS,
    TPP_REDIRECT,
    app_for,
    authorize,
    create_intent,
    create_payment,
    fragment_of,
    half_hash,
    http,
    payment_request_object,
    pis_headers,
    psd2_client_credentials,
    psd2_token,
    sepa_body,
    verify_id_token,
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2", login="page")) as c:
        yield c


async def open_page(client: httpx.AsyncClient, authorization_id: str, scope: str = "openid payments") -> str:
    now = (await client.get("/_mock/clock")).json()["now"]
    response = await authorize(client, payment_request_object(authorization_id, scope=scope, now=now), scope=scope)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def payment_status(client: httpx.AsyncClient, cc: str, payment_id: str) -> str:
    return (await client.get(f"{PIS}/sepa-payments/{payment_id}", headers=pis_headers(cc))).json()["status"]


async def test_the_page_shows_each_payment_and_locks_the_bundle(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    first = (await create_payment(client, cc, sepa_body("12.50", message="Lasku 4711"))).json()
    await create_payment(client, cc, sepa_body("7.00", authorizationId=first["authorizationId"]))
    html = await open_page(client, first["authorizationId"])
    assert "Sandbox TPP</span> wants to make a payment from your account" in html
    assert "Matti Meikäläinen (FI6059986920080595)" in html
    assert "12.50 EUR" in html and "7.00 EUR" in html and "Lasku 4711" in html
    assert await payment_status(client, cc, first["paymentId"]) == "Authorizing"
    response = await create_payment(client, cc, sepa_body(authorizationId=first["authorizationId"]))
    assert response.status_code == 409 and response.json()["violations"][0]["type"] == "IllegalState"


async def test_approve_authorizes_the_bundle_with_a_hybrid_answer(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    payment = (await create_payment(client, cc, sepa_body())).json()
    form = form_with(await open_page(client, payment["authorizationId"]), "Approve as Eero Sandbox")
    response = await client.post(form.action, data=form.submit("Approve as Eero Sandbox"))
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(TPP_REDIRECT + "#")
    callback = fragment_of(response.headers["location"])
    claims = await verify_id_token(client, callback["id_token"])
    assert claims["sub"] == "psu-55667788" and claims["c_hash"] == half_hash(callback["code"])
    assert claims["authorizationId"] == payment["authorizationId"]
    tokens = await psd2_token(client, grant_type="authorization_code", code=callback["code"], redirect_uri=TPP_REDIRECT)
    assert tokens.status_code == 200, tokens.text
    listed = await client.get(f"{PIS}/authorizations/{payment['authorizationId']}/payments",
                              headers=pis_headers(tokens.json()["access_token"]))
    assert listed.json()["payments"][0]["status"] == "Authorized"
    assert listed.json()["payments"][0]["payer"] == {"iban": "FI4059986920155548"}  # Eero's account


async def test_deny_rejects_the_bundle(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    payment = (await create_payment(client, cc, sepa_body())).json()
    form = form_with(await open_page(client, payment["authorizationId"]), "Deny")
    response = await client.post(form.action, data=form.submit("Deny"))
    assert response.status_code == 302
    assert fragment_of(response.headers["location"])["error"] == "access_denied"
    assert await payment_status(client, cc, payment["paymentId"]) == "Rejected"
    again = await client.post(form.action, data=form.submit("Deny"))
    assert again.status_code == 400  # single use


async def test_an_ais_consent_on_the_page_says_what_it_grants(client: httpx.AsyncClient) -> None:
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 300 * 86400))
    intent = await create_intent(client, {"transactionFrom": since})
    html = await open_page(client, intent["authorizationId"], "openid accounts")
    assert "your accounts, balances, transactions and cards" in html and since in html
    form = form_with(html, "Approve as Aino Sandbox")
    response = await client.post(form.action, data=form.submit("Approve as Aino Sandbox"))
    assert "code" in fragment_of(response.headers["location"])


async def test_a_psd2_login_request_is_not_answered_at_the_generic_decision_path(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    payment = (await create_payment(client, cc, sepa_body())).json()
    form = form_with(await open_page(client, payment["authorizationId"]), "Approve as Aino Sandbox")
    response = await client.post("/authorize/decision", data=form.submit("Approve as Aino Sandbox"))
    assert response.status_code == 400
    assert await payment_status(client, cc, payment["paymentId"]) == "Authorizing"


async def test_a_scenarios_denial_on_the_pages_answer_rejects_too(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    payment = (await create_payment(client, cc, sepa_body())).json()
    form = form_with(await open_page(client, payment["authorizationId"]), "Approve as Aino Sandbox")
    response = await client.post(form.action, data=form.submit("Approve as Aino Sandbox"),
                                 headers={"x-mock-scenario": "payment-rejected"})
    assert fragment_of(response.headers["location"])["error"] == "access_denied"
    assert await payment_status(client, cc, payment["paymentId"]) == "Rejected"


async def test_the_page_opens_again_for_an_authorizing_bundle(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "payments")
    payment = (await create_payment(client, cc, sepa_body())).json()
    await open_page(client, payment["authorizationId"])
    html = await open_page(client, payment["authorizationId"])  # the PSU came back
    form = form_with(html, "Approve as Aino Sandbox")
    response = await client.post(form.action, data=form.submit("Approve as Aino Sandbox"))
    assert "code" in fragment_of(response.headers["location"])
    assert await payment_status(client, cc, payment["paymentId"]) == "Authorized"
