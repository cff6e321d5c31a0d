"""OP's PSD2 account data (AIS, DESIGN §8) from the fixture's server.psd2.accounts, as OP's TPP demo
app reads it (op-psd2-calls.md, controllers-ais): bare arrays of accounts and cards, pages of
transactions followed by continuationToken, and the PSU's own accounts only."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.op_helpers import (
    TPP_API_KEY,
    TPP_REDIRECT,
    ais_tokens,
    app_for,
    authorize,
    create_intent,
    fragment_of,
    http,
    psd2_client_credentials,
    psd2_token,
    request_object,
)

AIS = "/accounts-psd2/v1"
MAIN = "cd9b9f4d-1b2a-4d3c-9e8f-0a1b2c3d4e5f"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2")) as c:
        yield c


def ais_headers(token: str) -> dict[str, str]:
    """What the demo's generated AIS client sends: x-api-key and the bearer token."""
    return {"x-api-key": TPP_API_KEY, "authorization": f"Bearer {token}"}


async def get(client: httpx.AsyncClient, path: str, token: str, **params: str) -> Any:
    response = await client.get(f"{AIS}{path}", params=params, headers=ais_headers(token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_accounts_are_a_bare_array_in_ops_account_shape(client: httpx.AsyncClient) -> None:
    token = (await ais_tokens(client))["access_token"]
    accounts = await get(client, "/accounts", token)
    assert isinstance(accounts, list) and len(accounts) == 2
    assert accounts[0] == {"accountId": MAIN, "productName": "KÄYTTÖTILI", "identifierSchema": "IBAN",
                           "identifier": "FI8659986920068681", "servicerSchema": "BIC", "servicer": "OKOYFIHH",
                           "owner": "Aino Sandbox", "netBalance": "2375.15", "grossBalance": "2375.15",
                           "currency": "EUR"}
    assert await get(client, f"/accounts/{MAIN}", token) == accounts[0]


async def test_transactions_come_in_pages_followed_by_continuation_token(client: httpx.AsyncClient) -> None:
    token = (await ais_tokens(client))["access_token"]
    first = await get(client, f"/accounts/{MAIN}/transactions", token)
    assert len(first["transactions"]) == 10 and first["continuationToken"]
    assert first["transactions"][0] == {
        "archiveId": "20261204/593100/10000", "message": "Groceries", "amount": "-42.50", "currency": "EUR",
        "bookingDate": "2026-12-04", "valueDate": "2026-12-04", "paymentDate": "2026-12-04",
        "recipient": {"name": "Lähikauppa Oy"}, "proprietaryTransactionDescription": "KORTTIOSTO"}
    second = await get(client, f"/accounts/{MAIN}/transactions", token, continuationToken=first["continuationToken"])
    assert len(second["transactions"]) == 4 and "continuationToken" not in second
    salary = next(t for t in second["transactions"] if t["amount"] == "2450.00")
    assert salary["payer"] == {"name": "Ohjelmisto Oy"}


async def test_a_consents_transaction_window_limits_the_transactions(client: httpx.AsyncClient) -> None:
    await client.post("/_mock/clock", json={"set": 1_796_515_200})  # 2026-12-06, a week after the fixture's rows
    tokens = await ais_tokens(client, {"transactionFrom": "2026-11-20", "transactionTo": "2026-11-30"})
    rows = (await get(client, f"/accounts/{MAIN}/transactions", tokens["access_token"]))["transactions"]
    assert [t["valueDate"] for t in rows] == ["2026-11-30", "2026-11-28", "2026-11-25", "2026-11-22", "2026-11-20"]


async def test_cards_and_their_transactions(client: httpx.AsyncClient) -> None:
    token = (await ais_tokens(client))["access_token"]
    cards = await get(client, "/cards", token)
    assert cards == [{"cardId": "7f3a2c1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b", "productName": "Visa Debit",
                      "cardNumber": "4920 12** **** 3456"}]
    page = await get(client, f"/cards/{cards[0]['cardId']}/transactions", token)
    assert page["transactions"][0] == {"description": "LÄHIKAUPPA OY HELSINKI", "amount": "-42.50",
                                       "currency": "EUR", "postingDate": "2026-12-04"}
    assert "continuationToken" not in page


async def test_each_psu_sees_their_own_accounts(client: httpx.AsyncClient) -> None:
    intent = await create_intent(client)
    now = (await client.get("/_mock/clock")).json()["now"]
    response = await authorize(client, request_object(intent["authorizationId"], now=now, login_hint="psu-eero"))
    code = fragment_of(response.headers["location"])["code"]
    token = (await psd2_token(client, grant_type="authorization_code", code=code,
                              redirect_uri=TPP_REDIRECT)).json()["access_token"]
    accounts = await get(client, "/accounts", token)
    assert [a["identifier"] for a in accounts] == ["FI4059986920155548"]
    response = await client.get(f"{AIS}/accounts/{MAIN}", headers=ais_headers(token))
    assert response.status_code == 404 and response.json()["type"] == "VALIDATION"


async def test_account_data_needs_the_psus_token(client: httpx.AsyncClient) -> None:
    cc = await psd2_client_credentials(client, "accounts")
    response = await client.get(f"{AIS}/accounts", headers=ais_headers(cc))
    assert response.status_code == 403 and response.json()["type"] == "SECURITY"


async def test_an_expired_consent_is_refused_as_op_refuses_it(client: httpx.AsyncClient) -> None:
    now = (await client.get("/_mock/clock")).json()["now"]
    tokens = await ais_tokens(client, {"expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 600))})
    await client.post("/_mock/clock", json={"advance": 601})
    response = await client.get(f"{AIS}/accounts", headers=ais_headers(tokens["access_token"]))
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"] == f"Authorization {tokens['authorizationId']} has expired"


@pytest.mark.parametrize("token", ["bm90LWEtdG9rZW4", "b2Zmc2V0Oi0x", "b2Zmc2V0Ojk5OQ", "%%%"])
async def test_a_continuation_token_the_server_did_not_hand_out_is_refused(client: httpx.AsyncClient,
                                                                           token: str) -> None:
    access = (await ais_tokens(client))["access_token"]
    response = await client.get(f"{AIS}/accounts/{MAIN}/transactions", params={"continuationToken": token},
                                headers=ais_headers(access))
    assert response.status_code == 400 and response.json()["violations"][0]["path"] == "continuationToken"


async def test_unknown_accounts_and_cards_are_404(client: httpx.AsyncClient) -> None:
    access = (await ais_tokens(client))["access_token"]
    for path in ("/accounts/nope", "/accounts/nope/transactions", "/cards/nope/transactions"):
        response = await client.get(f"{AIS}{path}", headers=ais_headers(access))
        assert response.status_code == 404, path


async def test_the_journal_names_the_accounts_endpoint(client: httpx.AsyncClient) -> None:
    access = (await ais_tokens(client))["access_token"]
    await get(client, "/accounts", access)
    await get(client, "/cards", access)
    entries = (await client.get("/_mock/requests", params={"endpoint": "accounts"})).json()["requests"]
    assert [e["path"] for e in entries] == [f"{AIS}/accounts", f"{AIS}/cards"]
