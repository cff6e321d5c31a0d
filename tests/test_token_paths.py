"""Shared token behaviours, run against every token path: the dialects differ on the wire only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mock_op_auth import create_app
from tests import helpers
from tests.op_helpers import (
    CORPORATE_ID,
    CORPORATE_SECRET,
    GENERAL_ID,
    GENERAL_SECRET,
    TPP_API_KEY,
    TPP_ID,
    TPP_SECRET,
    app_for,
    http,
    psd2_authorized,
)


async def rfc_refresh(client: httpx.AsyncClient) -> str:
    return (await helpers.code_flow(client))["refresh_token"]


async def apigee_refresh(client: httpx.AsyncClient) -> str:
    response = await client.post("/auth/v2/accesstoken?grant_type=client_credentials",
                                 data={"client_id": GENERAL_ID, "client_secret": GENERAL_SECRET})
    return response.json()["refresh_token"]


async def psd2_refresh(client: httpx.AsyncClient) -> str:
    return (await psd2_authorized(client))["refresh_token"]


@dataclass(frozen=True)
class TokenPath:
    path: str
    fixture: str | None
    client_id: str
    secret: str
    error_key: str = "error"  # where the dialect puts the error code
    headers: dict[str, str] = field(default_factory=dict)
    cc_scope: str | None = None
    refresh: Callable[[httpx.AsyncClient], Awaitable[str]] | None = None

    def app(self) -> Any:
        return create_app() if self.fixture is None else app_for(self.fixture)

    async def post(self, client: httpx.AsyncClient, **form: str) -> httpx.Response:
        data = {"client_id": self.client_id, "client_secret": self.secret, **form}
        return await client.post(self.path, data=data, headers=self.headers)

    def code(self, response: httpx.Response) -> str:
        return response.json()[self.error_key]


PATHS = [
    TokenPath("/token", None, "demo-client", "demo-secret", cc_scope="accounts", refresh=rfc_refresh),
    TokenPath("/auth/v2/accesstoken", "op-general", GENERAL_ID, GENERAL_SECRET, error_key="ErrorCode",
              refresh=apigee_refresh),
    TokenPath("/oauth/token", "op-psd2", TPP_ID, TPP_SECRET, headers={"x-api-key": TPP_API_KEY},
              cc_scope="accounts", refresh=psd2_refresh),
    TokenPath("/corporate-oidc/v1/token", "op-corporate", CORPORATE_ID, CORPORATE_SECRET),
]


@pytest.fixture(params=PATHS, ids=[p.path for p in PATHS])
async def path_client(request: pytest.FixtureRequest) -> AsyncIterator[tuple[TokenPath, httpx.AsyncClient]]:
    path: TokenPath = request.param
    async with http(path.app()) as client:
        yield path, client


def cc_form(path: TokenPath) -> dict[str, str]:
    form = {"grant_type": "client_credentials"}
    if path.cc_scope:
        form["scope"] = path.cc_scope
    return form


async def test_client_credentials_succeeds(path_client: tuple[TokenPath, httpx.AsyncClient]) -> None:
    path, client = path_client
    response = await path.post(client, **cc_form(path))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["access_token"]


async def test_bad_secret_is_401_invalid_client(path_client: tuple[TokenPath, httpx.AsyncClient]) -> None:
    path, client = path_client
    response = await path.post(client, **cc_form(path), client_secret="wrong")
    assert response.status_code == 401
    assert path.code(response) == "invalid_client"


async def test_unknown_grant_is_unsupported(path_client: tuple[TokenPath, httpx.AsyncClient]) -> None:
    path, client = path_client
    response = await path.post(client, grant_type="password", username="u", password="p")
    assert response.status_code == 400
    assert path.code(response) == "unsupported_grant_type"


async def test_reusing_a_rotated_refresh_token_revokes_the_family(
        path_client: tuple[TokenPath, httpx.AsyncClient]) -> None:
    path, client = path_client
    if path.refresh is None:  # corporate: client credentials only
        response = await path.post(client, grant_type="refresh_token", refresh_token="anything")
        assert response.status_code == 400 and path.code(response) == "unsupported_grant_type"
        return
    first = await path.refresh(client)
    rotated = await path.post(client, grant_type="refresh_token", refresh_token=first)
    assert rotated.status_code == 200, rotated.text
    newest = rotated.json()["refresh_token"]
    assert newest != first
    reused = await path.post(client, grant_type="refresh_token", refresh_token=first)
    assert reused.status_code == 400
    assert path.code(reused) in ("invalid_grant", "invalid_request")  # Apigee says invalid_request
    family_gone = await path.post(client, grant_type="refresh_token", refresh_token=newest)
    assert family_gone.status_code == 400


async def test_corporate_path_offers_client_credentials_only() -> None:
    async with http(app_for("op-corporate")) as client:
        response = await client.post("/corporate-oidc/v1/token", data={
            "grant_type": "client_credentials", "client_id": CORPORATE_ID, "client_secret": CORPORATE_SECRET})
        body = response.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
        assert body["scope"] == "accounts payments" and "refresh_token" not in body
        accounts = await client.get("/corporate-account-data/v1/accounts",
                                    headers={"authorization": f"Bearer {body['access_token']}"})
        assert accounts.status_code == 200  # no x-api-key at OP's corporate APIs
        code = await client.post("/corporate-oidc/v1/token", data={
            "grant_type": "authorization_code", "code": "x", "client_id": CORPORATE_ID,
            "client_secret": CORPORATE_SECRET})
        assert code.status_code == 400 and code.json()["error"] == "unsupported_grant_type"
