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
