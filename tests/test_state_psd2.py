"""--state keeps PSD2 state too: an intent and a runtime-registered client outlive the process."""

from __future__ import annotations

import time
from pathlib import Path

from mock_op_auth import Settings, create_app
from mock_op_auth.config.loader import load_fixtures
from tests.op_helpers import FIXTURES, create_intent, http, psd2_client_credentials, tpp_headers
from tests.test_psd2_registration import register, registration


def psd2_app(state: Path):
    return create_app(load_fixtures(FIXTURES / "op-psd2.yaml"), Settings(state=str(state)))


async def test_intents_and_registered_clients_survive_a_reopen(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    async with http(psd2_app(state)) as first:
        intent = await create_intent(first)
        registered = (await register(first, registration(time.time()))).json()

    async with http(psd2_app(state)) as second:
        token = (await second.post("/oauth/token", headers=tpp_headers(), data={
            "grant_type": "client_credentials", "scope": "accounts", "client_id": registered["client_id"],
            "client_secret": registered["client_secret"]}))
        assert token.status_code == 200, token.text
        owner = await psd2_client_credentials(second)  # an intent is read by the client that made it
        read = await second.get(f"/accounts-psd2/v1/authorizations/{intent['authorizationId']}",
                                headers=tpp_headers(authorization=f"Bearer {owner}"))
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "Unauthorized"


async def test_payments_balances_idempotency_keys_and_the_pis_key_survive_a_reopen(tmp_path: Path) -> None:
    from tests.op_helpers import PIS, PIS_JWKS, ais_tokens, create_payment, pis_authorized, pis_headers, sepa_body

    state = tmp_path / "state.db"
    async with http(psd2_app(state)) as first:
        tokens = await pis_authorized(first, sepa_body("100.00"), sepa_body("5.00"))
        paid = tokens["payments"][0]["paymentId"]
        response = await first.put(f"{PIS}/sepa-payments/{paid}/submissions/s1",
                                   headers=pis_headers(tokens["access_token"]))
        assert response.status_code == 201, response.text
        created = await create_payment(first, tokens["cc"], sepa_body("9.00"), **{"x-idempotency-key": "k-1"})
        pis_key = (await first.get(PIS_JWKS)).json()

    async with http(psd2_app(state)) as second:
        assert (await second.get(PIS_JWKS)).json() == pis_key
        cc = await psd2_client_credentials(second, "payments")
        listed = await second.get(f"{PIS}/authorizations/{tokens['authorizationId']}/payments", headers=pis_headers(cc))
        assert [p["status"] for p in listed.json()["payments"]] == ["Debited", "Authorized"]
        again = await create_payment(second, cc, sepa_body("9.00"), **{"x-idempotency-key": "k-1"})
        assert again.status_code == 200 and again.json()["paymentId"] == created.json()["paymentId"]
        ais = await ais_tokens(second)
        account = await second.get("/accounts-psd2/v1/accounts/cd9b9f4d-1b2a-4d3c-9e8f-0a1b2c3d4e5f",
                                    headers=pis_headers(ais["access_token"]))
        assert account.json()["netBalance"] == "2275.15"
