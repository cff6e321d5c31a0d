"""Token exchange (RFC 8693): on-behalf-of and delegation (``act``), audience and resource limits
per client, and the subject and actor tokens that are refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from mock_op_auth.config.schema import TokenExchangeSettings
from tests.dpop_helpers import ProofKey
from tests.helpers import CLIENT, REDIRECT, client_credentials, code_flow, get_code, pkce_pair

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
ID = "urn:ietf:params:oauth:token-type:id_token"
PAYMENTS_API = "https://payments.example/api"
LEDGER_API = "https://ledger.example/"


@pytest.fixture
def audiences(server) -> None:
    """demo-client may ask for the payments and ledger APIs."""
    clients = {**server.config.clients, "demo-client": server.config.clients["demo-client"].model_copy(
        update={"token_exchange": TokenExchangeSettings(audiences=[PAYMENTS_API, LEDGER_API])})}
    server.reload(server.config.model_copy(update={"clients": clients}))


async def exchange(client: httpx.AsyncClient, subject_token: str, subject_type: str = ACCESS,
                   auth: tuple[str, str] | None = CLIENT, extra: list[tuple[str, str]] | None = None,
                   **params: str) -> httpx.Response:
    form = [("grant_type", TOKEN_EXCHANGE), ("subject_token", subject_token), ("subject_token_type", subject_type),
            *params.items(), *(extra or [])]
    return await client.post("/token", content=urlencode(form), auth=auth,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def refused(response: httpx.Response, error: str = "invalid_request") -> str:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error, response.json()
    return str(response.json()["error_description"])


async def test_an_access_token_is_exchanged_for_the_same_user(client: httpx.AsyncClient) -> None:
    user_token = (await code_flow(client, scope="openid accounts", login_hint="bob"))["access_token"]
    response = await exchange(client, user_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert "refresh_token" not in body and body["scope"] == "openid accounts"
    new = claims(body["access_token"])
    assert (new["sub"], new["client_id"], new["aud"]) == ("bob", "demo-client", "http://mock.test")
    assert "act" not in new
    resource = await client.get("/accounts/v3/accounts", headers={"Authorization": f"Bearer {body['access_token']}",
                                                                  "x-api-key": "demo-client"})
    assert resource.status_code == 200


@pytest.mark.usefixtures("audiences")
async def test_audience_and_resource_become_the_new_tokens_aud(client: httpx.AsyncClient) -> None:
    subject = (await code_flow(client))["access_token"]
    one = await exchange(client, subject, audience=PAYMENTS_API)
    assert claims(one.json()["access_token"])["aud"] == PAYMENTS_API
    both = await exchange(client, subject, audience=PAYMENTS_API, resource=LEDGER_API)
    assert claims(both.json()["access_token"])["aud"] == [PAYMENTS_API, LEDGER_API]
    elsewhere = await client.get("/accounts/v3/accounts", headers={
        "Authorization": f"Bearer {one.json()['access_token']}", "x-api-key": "demo-client"})
    assert elsewhere.status_code == 401  # meant for the payments API, not this resource stub


@pytest.mark.usefixtures("audiences")
async def test_a_target_the_client_may_not_name_is_invalid_target(client: httpx.AsyncClient) -> None:
    subject = (await code_flow(client))["access_token"]
    assert "https://evil.example" in refused(await exchange(client, subject, audience="https://evil.example"),
                                             "invalid_target")
    refused(await exchange(client, subject, resource="https://evil.example/api"), "invalid_target")
    refused(await exchange(client, subject, extra=[("audience", PAYMENTS_API), ("audience", "other")]),
            "invalid_target")


async def test_a_client_without_token_exchange_audiences_may_name_none(client: httpx.AsyncClient) -> None:
    subject = (await code_flow(client))["access_token"]
    refused(await exchange(client, subject, audience=PAYMENTS_API), "invalid_target")


async def test_an_actor_token_names_the_actor_in_act(client: httpx.AsyncClient) -> None:
    subject = (await code_flow(client, login_hint="bob"))["access_token"]
    actor = (await client_credentials(client))["access_token"]
    response = await exchange(client, subject, actor_token=actor, actor_token_type=ACCESS)
    delegated = response.json()["access_token"]
    assert claims(delegated)["sub"] == "bob" and claims(delegated)["act"] == {"sub": "demo-client"}
    introspected = (await client.post("/introspect", data={"token": delegated}, auth=CLIENT)).json()
    assert introspected["act"] == {"sub": "demo-client"}
    chained = await exchange(client, subject, actor_token=delegated, actor_token_type=ACCESS)
    assert claims(chained.json()["access_token"])["act"] == {"sub": "bob", "act": {"sub": "demo-client"}}


async def test_may_act_limits_who_may_act(client: httpx.AsyncClient) -> None:
    subject = (await client.post("/_mock/tokens", json={"client_id": "demo-client", "sub": "alice",
                                                        "claims": {"may_act": {"sub": "someone-else"}}})).json()
    actor = (await client_credentials(client))["access_token"]
    assert "may_act" in refused(await exchange(client, subject["access_token"], actor_token=actor,
                                               actor_token_type=ACCESS))


async def test_an_id_token_is_a_subject_too(client: httpx.AsyncClient) -> None:
    id_token = (await code_flow(client, scope="openid profile accounts", login_hint="bob"))["id_token"]
    response = await exchange(client, id_token, ID)
    assert response.status_code == 200, response.text
    assert claims(response.json()["access_token"])["sub"] == "bob"
    assert response.json()["scope"] == "accounts"  # the grant's API scope: what bob consented to
    refused(await exchange(client, id_token, ID, scope="payments"), "invalid_scope")


async def test_an_id_token_of_another_client_is_refused(client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(client, client_id="demo-public", code_challenge=challenge, code_challenge_method="S256")
    public = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                               "client_id": "demo-public", "redirect_uri": REDIRECT,
                                               "code_verifier": verifier})
    assert public.status_code == 200, public.text
    assert "issued to another client" in refused(await exchange(client, public.json()["id_token"], ID))


async def test_an_id_token_stops_with_its_grant_and_with_a_reset(client: httpx.AsyncClient) -> None:
    first = await code_flow(client, scope="openid accounts")
    again = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    rotated = (await client.post("/token", data=again, auth=CLIENT)).json()
    assert (await exchange(client, rotated["id_token"], ID)).status_code == 200
    replayed = await client.post("/token", data=again, auth=CLIENT)
    assert replayed.json()["error"] == "invalid_grant"  # a reuse: the family is revoked
    for id_token in (first["id_token"], rotated["id_token"]):
        assert "revoked" in refused(await exchange(client, id_token, ID))
    before_reset = (await code_flow(client, scope="openid accounts"))["id_token"]
    await client.post("/_mock/reset")
    assert "no record" in refused(await exchange(client, before_reset, ID))


async def test_the_scope_is_at_most_the_subject_tokens(client: httpx.AsyncClient) -> None:
    subject = (await code_flow(client, scope="openid accounts"))["access_token"]
    assert (await exchange(client, subject, scope="accounts")).json()["scope"] == "accounts"
    refused(await exchange(client, subject, scope="accounts payments"), "invalid_scope")


@pytest.mark.parametrize("defect", ["bad_signature", "alg_none", "expired", "wrong_issuer", "unknown_kid"])
async def test_a_forged_or_foreign_subject_token_is_refused(client: httpx.AsyncClient, defect: str) -> None:
    minted = await client.post("/_mock/tokens", json={"client_id": "demo-client", "sub": "alice", "defect": defect})
    assert "subject_token is not valid" in refused(await exchange(client, minted.json()["access_token"]))


async def test_a_revoked_subject_token_is_refused(client: httpx.AsyncClient) -> None:
    subject = (await code_flow(client))["access_token"]
    await client.post("/revoke", data={"token": subject}, auth=CLIENT)
    assert "revoked" in refused(await exchange(client, subject))


async def test_a_subject_token_of_another_type_than_named_is_refused(client: httpx.AsyncClient) -> None:
    tokens = await code_flow(client)
    assert "not an access token" in refused(await exchange(client, tokens["id_token"], ACCESS))
    assert "not an ID token" in refused(await exchange(client, tokens["access_token"], ID))
    refused(await exchange(client, tokens["refresh_token"], "urn:ietf:params:oauth:token-type:refresh_token"))
    refused(await exchange(client, tokens["refresh_token"], ACCESS))  # not an access token: unknown
    missing_type = await client.post("/token", data={"grant_type": TOKEN_EXCHANGE,
                                                      "subject_token": tokens["access_token"]}, auth=CLIENT)
    assert "subject_token_type" in refused(missing_type)
    assert "actor_token" in refused(await exchange(client, tokens["access_token"], actor_token_type=ACCESS))
    assert "requested_token_type" in refused(await exchange(
        client, tokens["access_token"], requested_token_type="urn:ietf:params:oauth:token-type:refresh_token"))


async def test_only_clients_with_the_grant_may_exchange(client: httpx.AsyncClient) -> None:
    subject = (await code_flow(client))["access_token"]
    response = await exchange(client, subject, auth=None, client_id="demo-public")
    assert refused(response, "unauthorized_client")


async def test_exchange_binds_to_a_dpop_key_is_journaled_and_scripted(client: httpx.AsyncClient) -> None:
    subject = (await code_flow(client))["access_token"]
    key = ProofKey()
    response = await client.post("/token", auth=CLIENT, headers={"DPoP": key.proof("POST", "http://mock.test/token")},
                                 data={"grant_type": TOKEN_EXCHANGE, "subject_token": subject,
                                       "subject_token_type": ACCESS})
    assert response.json()["token_type"] == "DPoP"
    rule = {"match": {"grant_type": "token-exchange"}, "error": {"error": "invalid_target"}, "times": 1}
    await client.post("/_mock/rules", json=rule)
    refused(await exchange(client, subject), "invalid_target")
    entries = (await client.get("/_mock/requests", params={"endpoint": "token"})).json()["requests"]
    exchanges = [e for e in entries if e["grant_type"] == TOKEN_EXCHANGE]
    assert len(exchanges) == 2 and all(e["params"]["subject_token"] == "***" for e in exchanges)
