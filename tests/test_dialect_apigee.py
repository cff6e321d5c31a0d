"""OP's general API path, POST /auth/v2/accesstoken (Apigee Edge), against fixtures/op-general.yaml."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.op_helpers import GENERAL_ID, GENERAL_SECRET, LOANS_ID, LOANS_SECRET, app_for, http, query_of

PATH = "/auth/v2/accesstoken"
SAMPLE_KEYS = {"token_type", "access_token", "scope", "status", "refresh_token", "refresh_token_expires_in",
               "refresh_token_issued_at", "expires_in", "refresh_count"}
CREDS = {"client_id": GENERAL_ID, "client_secret": GENERAL_SECRET}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-general")) as c:
        yield c


async def token(client: httpx.AsyncClient, **form: str) -> dict[str, str]:
    response = await client.post(f"{PATH}?grant_type=client_credentials", data={**CREDS, **form})
    assert response.status_code == 200, response.text
    return response.json()


async def mock_now(client: httpx.AsyncClient) -> float:
    return (await client.get("/_mock/clock")).json()["now"]


async def test_client_credentials_answers_exactly_ops_sample_shape(client: httpx.AsyncClient) -> None:
    before = await mock_now(client)
    response = await client.post(f"{PATH}?grant_type=client_credentials", data=CREDS)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == SAMPLE_KEYS
    assert all(isinstance(v, str) for v in body.values())
    assert body["token_type"] == "BearerToken"
    assert body["status"] == "approved"
    assert re.fullmatch(r"[A-Za-z0-9]{28}", body["access_token"])
    assert re.fullmatch(r"[A-Za-z0-9]{32}", body["refresh_token"])
    assert (body["expires_in"], body["refresh_token_expires_in"], body["refresh_count"]) == ("86399", "1799", "0")
    issued_ms = int(body["refresh_token_issued_at"])
    assert len(body["refresh_token_issued_at"]) == 13
    assert int(before) * 1000 <= issued_ms <= (int(before) + 5) * 1000


async def test_grant_type_in_body_and_http_basic_work_too(client: httpx.AsyncClient) -> None:
    response = await client.post(PATH, data={"grant_type": "client_credentials"}, auth=(GENERAL_ID, GENERAL_SECRET))
    assert response.status_code == 200
    assert response.json()["token_type"] == "BearerToken"


async def test_grant_type_differing_between_query_and_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{PATH}?grant_type=client_credentials",
                                 data={**CREDS, "grant_type": "refresh_token"})
    assert response.status_code == 400
    assert response.json()["ErrorCode"] == "invalid_request"


async def test_refresh_on_the_same_path_counts_and_rotates(client: httpx.AsyncClient) -> None:
    first = await token(client)
    response = await client.post(f"{PATH}?grant_type=refresh_token",
                                 data={**CREDS, "refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json()
    assert set(second) == SAMPLE_KEYS
    assert second["refresh_count"] == "1"
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    third = (await client.post(f"{PATH}?grant_type=refresh_token",
                               data={**CREDS, "refresh_token": second["refresh_token"]})).json()
    assert third["refresh_count"] == "2"


async def test_lifetimes_come_from_the_fixture() -> None:
    app = app_for("op-general")
    server = app.state.server
    settings = server.config.server.apigee.model_copy(update={"access_token_ttl": 600, "refresh_token_ttl": 120})
    server.reload(server.config.model_copy(update={"server": server.config.server.model_copy(
        update={"apigee": settings})}))
    async with http(app) as client:
        body = await token(client)
        assert (body["expires_in"], body["refresh_token_expires_in"]) == ("600", "120")
        await client.post("/_mock/clock", json={"advance": 601})
        response = await client.get("/loans/oneoffs/v1/creditterms", headers={
            "authorization": f"Bearer {body['access_token']}"})
        assert response.json()["fault"]["detail"]["errorcode"] == "keymanagement.service.access_token_expired"


async def test_a_fixture_may_follow_the_documentation_instead_bearer_and_seconds() -> None:
    app = app_for("op-general")
    server = app.state.server
    settings = server.config.server.apigee.model_copy(update={"token_type": "Bearer", "issued_at_unit": "s"})
    server.reload(server.config.model_copy(update={"server": server.config.server.model_copy(
        update={"apigee": settings})}))
    async with http(app) as client:
        body = await token(client)
        assert body["token_type"] == "Bearer"
        assert len(body["refresh_token_issued_at"]) == 10


async def test_extra_fields_option_adds_apigees_full_field_set() -> None:
    app = app_for("op-general")
    server = app.state.server
    settings = server.config.server.apigee.model_copy(update={"extra_fields": True})
    server.reload(server.config.model_copy(update={"server": server.config.server.model_copy(
        update={"apigee": settings})}))
    async with http(app) as client:
        body = await token(client)
    assert set(body) == SAMPLE_KEYS | {"issued_at", "client_id", "application_name", "api_product_list",
                                       "developer.email", "organization_name", "refresh_token_status"}
    assert all(isinstance(v, str) for v in body.values())
    assert body["client_id"] == GENERAL_ID
    assert body["api_product_list"] == "[accounts, loans]"
    assert body["developer.email"] == "developer@example.com"
    assert body["refresh_token_status"] == "approved"
    assert len(body["issued_at"]) == 13
    assert re.fullmatch(r"[0-9a-f-]{36}", body["application_name"])


# --- op-auth.md §3.1: token-path errors as {"ErrorCode", "Error"} ---

async def test_missing_client_id_is_400_missing_parameter(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{PATH}?grant_type=client_credentials", data={"client_secret": GENERAL_SECRET})
    assert response.status_code == 400
    assert response.json() == {"ErrorCode": "invalid_request",
                               "Error": "The request is missing a required parameter : client_id"}


@pytest.mark.parametrize("client_id, secret", [(GENERAL_ID, "wrong"), ("NoSuchApiKey", GENERAL_SECRET)])
async def test_bad_secret_or_unknown_key_is_401_clientid_invalid(client: httpx.AsyncClient, client_id: str,
                                                                 secret: str) -> None:
    response = await client.post(f"{PATH}?grant_type=client_credentials",
                                 data={"client_id": client_id, "client_secret": secret})
    assert response.status_code == 401
    assert response.json() == {"ErrorCode": "invalid_client", "Error": "ClientId is Invalid"}


async def test_missing_grant_type_is_required_param(client: httpx.AsyncClient) -> None:
    response = await client.post(PATH, data=CREDS)
    assert response.status_code == 400
    assert response.json() == {"ErrorCode": "invalid_request", "Error": "Required param : grant_type"}


async def test_unknown_refresh_token_is_invalid_refresh_token(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{PATH}?grant_type=refresh_token", data={**CREDS, "refresh_token": "nope"})
    assert response.status_code == 400
    assert response.json() == {"ErrorCode": "invalid_request", "Error": "Invalid Refresh Token"}


async def general_code(client: httpx.AsyncClient) -> str:
    response = await client.get("/authorize", params={
        "client_id": GENERAL_ID, "redirect_uri": "http://localhost:8000/callback", "response_type": "code",
        "scope": "accounts"})
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])["code"]


async def test_authorization_code_redeems_for_opaque_tokens(client: httpx.AsyncClient) -> None:
    code = await general_code(client)
    response = await client.post(f"{PATH}?grant_type=authorization_code", data={
        **CREDS, "code": code, "redirect_uri": "http://localhost:8000/callback"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SAMPLE_KEYS and len(body["access_token"]) == 28


async def test_invalid_authorization_code(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{PATH}?grant_type=authorization_code", data={
        **CREDS, "code": "bogus", "redirect_uri": "http://localhost:8000/callback"})
    assert response.status_code == 400
    assert response.json() == {"ErrorCode": "invalid_request", "Error": "Invalid Authorization Code"}


async def test_missing_redirect_uri_is_required_param(client: httpx.AsyncClient) -> None:
    code = await general_code(client)
    response = await client.post(f"{PATH}?grant_type=authorization_code", data={**CREDS, "code": code})
    assert response.status_code == 400
    assert response.json() == {"ErrorCode": "invalid_request", "Error": "Required param : redirect_uri"}


async def test_bad_redirect_uri_at_the_token_path(client: httpx.AsyncClient) -> None:
    code = await general_code(client)
    response = await client.post(f"{PATH}?grant_type=authorization_code",
                                 data={**CREDS, "code": code, "redirect_uri": "oob"})
    assert response.status_code == 400
    assert response.json() == {"ErrorCode": "invalid_request", "Error": "Invalid redirect_uri : oob"}


async def test_unsupported_grant_type(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{PATH}?grant_type=password", data=CREDS)
    assert response.status_code == 400
    assert response.json()["ErrorCode"] == "unsupported_grant_type"


# --- op-auth.md §3.2: resource faults ---

def fault(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    return response.json()["fault"]["detail"]["errorcode"]


async def test_a_valid_opaque_token_opens_the_resource(client: httpx.AsyncClient) -> None:
    body = await token(client)
    response = await client.get("/loans/oneoffs/v1/creditterms",
                                headers={"authorization": f"Bearer {body['access_token']}"})
    assert response.status_code == 200
    assert response.json()["creditTerms"][0]["productId"] == "ONEOFF"


async def test_unknown_token_is_invalid_access_token_fault(client: httpx.AsyncClient) -> None:
    response = await client.get("/loans/oneoffs/v1/creditterms", headers={"authorization": "Bearer " + "x" * 28})
    assert response.json() == {"fault": {"faultstring": "Invalid Access Token",
                                         "detail": {"errorcode": "keymanagement.service.invalid_access_token"}}}


async def test_missing_token_is_oauth_invalid_access_token(client: httpx.AsyncClient) -> None:
    assert fault(await client.get("/loans/oneoffs/v1/creditterms")) == "oauth.v2.InvalidAccessToken"


async def test_expired_token_is_access_token_expired(client: httpx.AsyncClient) -> None:
    body = await token(client)
    await client.post("/_mock/clock", json={"advance": 86400})
    response = await client.get("/loans/oneoffs/v1/creditterms",
                                headers={"authorization": f"Bearer {body['access_token']}"})
    assert response.json()["fault"]["faultstring"] == "Access Token expired"
    assert fault(response) == "keymanagement.service.access_token_expired"


async def test_pending_token_is_access_token_not_approved(client: httpx.AsyncClient) -> None:
    await client.put("/_mock/scenario", json={"name": "token-pending"})
    body = await token(client)
    assert body["status"] == "pending"
    response = await client.get("/loans/oneoffs/v1/creditterms",
                                headers={"authorization": f"Bearer {body['access_token']}"})
    assert fault(response) == "keymanagement.service.access_token_not_approved"


async def test_token_without_the_product_is_no_apiproduct_match(client: httpx.AsyncClient) -> None:
    body = await token(client, client_id=LOANS_ID, client_secret=LOANS_SECRET)
    response = await client.get("/accounts/v3/accounts", headers={
        "authorization": f"Bearer {body['access_token']}", "x-api-key": LOANS_ID})
    assert response.json()["fault"]["faultstring"] == "Invalid API call as no apiproduct match found"
    assert fault(response) == "keymanagement.service.InvalidAPICallAsNoApiProductMatchFound"


async def test_x_api_key_missing_or_wrong_is_an_api_key_fault(client: httpx.AsyncClient) -> None:
    body = await token(client)
    bearer = {"authorization": f"Bearer {body['access_token']}"}
    assert fault(await client.get("/accounts/v3/accounts", headers=bearer)) == "steps.oauth.v2.FailedToResolveAPIKey"
    wrong = await client.get("/accounts/v3/accounts", headers={**bearer, "x-api-key": LOANS_ID})
    assert fault(wrong) == "oauth.v2.InvalidApiKey"
    ok = await client.get("/accounts/v3/accounts", headers={**bearer, "x-api-key": GENERAL_ID})
    assert ok.status_code == 200


async def test_opaque_tokens_introspect_and_revoke_like_any_other(client: httpx.AsyncClient) -> None:
    body = await token(client)
    auth = (GENERAL_ID, GENERAL_SECRET)
    active = (await client.post("/introspect", data={"token": body["access_token"]}, auth=auth)).json()
    assert active["active"] is True and active["client_id"] == GENERAL_ID
    refresh = (await client.post("/introspect", data={"token": body["refresh_token"]}, auth=auth)).json()
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    assert (await client.post("/revoke", data={"token": body["access_token"]}, auth=auth)).status_code == 200
    assert (await client.post("/introspect", data={"token": body["access_token"]}, auth=auth)).json() == {
        "active": False}
    response = await client.get("/loans/oneoffs/v1/creditterms",
                                headers={"authorization": f"Bearer {body['access_token']}"})
    assert fault(response) == "keymanagement.service.invalid_access_token"
