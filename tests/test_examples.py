"""The example fixtures in fixtures/: every file loads, and every example scenario behaves as described."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mock_op_auth import create_app, load_fixtures
from tests.helpers import query_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FILES = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
SCENARIOS = FIXTURES / "scenarios.yaml"
CLIENT = ("example-client", "example-secret")
REDIRECT = "http://localhost:8000/callback"
CC = {"grant_type": "client_credentials", "scope": "accounts"}


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_fixture_file_loads(path: Path) -> None:
    load_fixtures(path)


def test_check_accepts_every_fixture_file() -> None:
    result = subprocess.run([sys.executable, "-m", "mock_op_auth", "check", *map(str, FILES)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok (") == len(FILES)


@pytest.fixture
async def example() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_fixtures(SCENARIOS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        yield c


async def use(client: httpx.AsyncClient, name: str) -> None:
    assert (await client.put("/_mock/scenario", json={"name": name})).status_code == 200


async def token(client: httpx.AsyncClient, **data: str) -> httpx.Response:
    return await client.post("/token", data=data or CC, auth=CLIENT)


async def code_flow(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get("/authorize", params={"client_id": "example-client", "redirect_uri": REDIRECT,
                                                      "response_type": "code", "scope": "openid accounts"})
    code = query_of(response.headers["location"])["code"]
    issued = await token(client, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    return issued.json()


async def test_token_outage(example: httpx.AsyncClient) -> None:
    await use(example, "token-outage")
    first, second, third = [await token(example) for _ in range(3)]
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["retry-after"] == "1"
    assert first.json()["error"] == "temporarily_unavailable"


async def test_slow_token(example: httpx.AsyncClient) -> None:
    await use(example, "slow-token")
    started = time.perf_counter()
    response = await token(example)
    assert time.perf_counter() - started >= 0.5
    assert response.status_code == 200
    entry = (await example.get("/_mock/requests", params={"endpoint": "token"})).json()["requests"][0]
    assert entry["rule"] == "slow-token:0" and entry["duration_ms"] >= 500


async def test_rate_limited(example: httpx.AsyncClient) -> None:
    await use(example, "rate-limited")
    limited = await token(example)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "30"
    assert (await token(example)).status_code == 200


@pytest.mark.parametrize("status", ["pending", "rejected"])
async def test_consent_pending_and_rejected(example: httpx.AsyncClient, status: str) -> None:
    await use(example, f"consent-{status}")
    body = await code_flow(example)
    assert body["status"] == status
    assert "refresh_token" not in body and "id_token" not in body
    resource = await example.get("/example/v1/accounts", headers={
        "Authorization": f"Bearer {body['access_token']}", "x-api-key": "example-client"})
    assert resource.status_code == 401


async def test_refresh_limit(example: httpx.AsyncClient) -> None:
    await use(example, "refresh-limit")
    refresh = (await code_flow(example))["refresh_token"]
    for _ in range(2):
        refresh = (await token(example, grant_type="refresh_token", refresh_token=refresh)).json()["refresh_token"]
    refused = await token(example, grant_type="refresh_token", refresh_token=refresh)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


async def test_refresh_expired(example: httpx.AsyncClient) -> None:
    await use(example, "refresh-expired")
    issued = await code_flow(example)
    assert issued["refresh_token_expires_in"] == 60
    await example.post("/_mock/clock", json={"advance": 61})
    refused = await token(example, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": "the refresh token has expired"}


async def test_invalid_client(example: httpx.AsyncClient) -> None:
    await use(example, "invalid-client")
    refused = await token(example)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


async def test_login_denied(example: httpx.AsyncClient) -> None:
    await use(example, "login-denied")
    response = await example.get("/authorize", params={"client_id": "example-client", "response_type": "code",
                                                       "redirect_uri": REDIRECT, "state": "s1"})
    assert response.status_code == 302
    params = query_of(response.headers["location"])
    assert params["error"] == "access_denied" and params["state"] == "s1" and params["iss"] == "http://mock.test"


def test_every_example_scenario_has_a_test() -> None:
    tested = {"token-outage", "slow-token", "rate-limited", "consent-pending", "consent-rejected", "refresh-limit",
              "refresh-expired", "invalid-client", "login-denied"}
    assert set(load_fixtures(SCENARIOS).scenarios) == tested
