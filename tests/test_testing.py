"""run_server() and the OpAuth helper against a live server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_op_auth import load_default
from mock_op_auth.testing import OpAuth, OpAuthError, run_server

BANK = """
clients:
  bank-client:
    secret: bank-secret
    api_key: bank-key
    grant_types: [client_credentials]
    scopes: [accounts]
resources:
  - path: /bank/balance
    methods: [GET]
    scopes: [accounts]
    response: {status: 200, json: {balance: 10}}
scenarios:
  slow-bank:
    rules:
      - match: {endpoint: token}
        error: {error: temporarily_unavailable, status: 503}
"""


@pytest.fixture(scope="module")
def live() -> Iterator[OpAuth]:
    with run_server() as server:
        yield server


@pytest.fixture
def mock(live: OpAuth) -> OpAuth:
    live.reset()
    return live


def test_urls_point_at_the_live_server(mock: OpAuth) -> None:
    assert mock.url.startswith("http://127.0.0.1:")
    assert mock.issuer == mock.url
    assert (mock.token_url, mock.authorize_url, mock.jwks_url) == (
        f"{mock.url}/token", f"{mock.url}/authorize", f"{mock.url}/jwks")
    discovery = httpx.get(mock.discovery_url).json()
    assert (discovery["issuer"], discovery["token_endpoint"], discovery["jwks_uri"]) == (
        mock.issuer, mock.token_url, mock.jwks_url)


def test_token_gets_a_working_access_token_in_one_call(mock: OpAuth) -> None:
    token = mock.token(scope="accounts")
    response = httpx.get(f"{mock.url}/accounts/v3/accounts",
                         headers={"Authorization": f"Bearer {token}", "x-api-key": "demo-client"})
    assert response.status_code == 200
    [entry] = mock.requests(endpoint="token")
    assert (entry["client_id"], entry["grant_type"], entry["status"]) == ("demo-client", "client_credentials", 200)


def test_token_with_a_wrong_secret_raises_with_the_servers_answer(mock: OpAuth) -> None:
    with pytest.raises(OpAuthError) as caught:
        mock.token(client_secret="wrong")
    assert caught.value.status_code == 401
    assert caught.value.body["error"] == "invalid_client"


def test_use_scenario_applies_the_fixtures_scenario(mock: OpAuth) -> None:
    mock.use_scenario("token-outage")
    with pytest.raises(OpAuthError) as caught:
        mock.token()
    assert caught.value.status_code == 503


def test_unknown_scenario_raises_and_changes_nothing(mock: OpAuth) -> None:
    with pytest.raises(OpAuthError, match="404"):
        mock.use_scenario("no-such-scenario")
    assert mock.token()


def test_add_rule_queues_a_one_shot_failure(mock: OpAuth) -> None:
    rule_id = mock.add_rule(match={"endpoint": "token"}, error={"error": "server_error", "status": 500}, times=1)
    assert rule_id.startswith("runtime:")
    with pytest.raises(OpAuthError, match="500"):
        mock.token()
    assert mock.token()
    assert [e["rule"] for e in mock.requests(endpoint="token")] == [rule_id, None]


def test_add_rule_takes_a_status(mock: OpAuth) -> None:
    mock.add_rule(match={"endpoint": "token"}, status="pending", times=1)
    body = httpx.post(mock.token_url, data={"grant_type": "client_credentials"}, auth=("demo-client", "demo-secret"))
    assert body.json()["status"] == "pending"


def test_malformed_rule_is_refused(mock: OpAuth) -> None:
    with pytest.raises(OpAuthError, match="422"):
        mock.add_rule(match={"endpoint": "nowhere"}, respond={"status": 500})


def test_advance_moves_the_mock_clock_and_expires_tokens(mock: OpAuth) -> None:
    token = mock.token(scope="accounts")
    before = mock.now()
    after = mock.advance(3600)
    assert after - before == pytest.approx(3600, abs=5)
    response = httpx.get(f"{mock.url}/accounts/v3/accounts",
                         headers={"Authorization": f"Bearer {token}", "x-api-key": "demo-client"})
    assert response.status_code == 401


def test_requests_filters_by_endpoint_and_client(mock: OpAuth) -> None:
    mock.token()
    httpx.get(mock.jwks_url)
    assert [e["endpoint"] for e in mock.requests()] == ["token", "jwks"]
    assert len(mock.requests(endpoint="jwks")) == 1
    assert mock.requests(client_id="demo-public") == []
    assert mock.requests(endpoint="token")[0]["headers"]["authorization"] == "Basic ***"


def test_mint_returns_the_token_string(mock: OpAuth) -> None:
    token = mock.mint(client_id="demo-client", scope="accounts", expires_in=-1)
    response = httpx.get(f"{mock.url}/accounts/v3/accounts",
                         headers={"Authorization": f"Bearer {token}", "x-api-key": "demo-client"})
    assert response.json()["error_description"] == "the token has expired"
    with pytest.raises(OpAuthError, match="unknown client"):
        mock.mint(client_id="nobody")


def test_approve_and_deny_device_decide_a_code_once(mock: OpAuth) -> None:
    first = httpx.post(f"{mock.url}/device_authorization", auth=("demo-client", "demo-secret")).json()
    assert mock.approve_device(first["user_code"], user="bob") == {"user_code": first["user_code"],
                                                                   "status": "approved"}
    with pytest.raises(OpAuthError) as already:
        mock.deny_device(first["user_code"])
    assert already.value.status_code == 409
    second = httpx.post(f"{mock.url}/device_authorization", auth=("demo-client", "demo-secret")).json()
    assert mock.deny_device(second["user_code"])["status"] == "denied"
    with pytest.raises(OpAuthError) as unknown:
        mock.approve_device("BCDF-GHJK")
    assert unknown.value.status_code == 404


def test_reset_forgets_tokens_journal_rules_clock_and_scenario(mock: OpAuth) -> None:
    mock.token(scope="accounts")
    mock.use_scenario("consent-pending")
    mock.add_rule(match={"endpoint": "jwks"}, respond={"status": 500})
    mock.advance(100)
    mock.reset()
    assert mock.requests() == []
    assert httpx.get(f"{mock.url}/_mock/clock").json()["offset"] == 0
    assert httpx.get(mock.jwks_url).status_code == 200
    assert httpx.get(f"{mock.url}/_mock/scenarios").json()["active"] is None
    assert httpx.get(f"{mock.url}/_mock/rules").json()["rules"] == []


def test_exit_stops_the_thread_and_releases_the_port() -> None:
    before = set(threading.enumerate())
    with run_server() as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert server.token()
        assert set(threading.enumerate()) - before
    assert set(threading.enumerate()) <= before  # threads of earlier tests may end meanwhile
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with socket.socket() as again:  # the port can be bound again
        again.bind(("127.0.0.1", port))


def test_an_error_in_the_block_still_stops_the_server() -> None:
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="boom"), run_server():
        raise RuntimeError("boom")
    assert set(threading.enumerate()) <= before  # threads of earlier tests may end meanwhile


def test_fixture_file_settings_and_port(tmp_path: Path) -> None:
    fixture = tmp_path / "bank.yaml"
    fixture.write_text(BANK)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with run_server(fixtures=fixture, port=port, issuer="https://bank.example", admin_token="adm",
                    scenario="slow-bank") as bank:
        assert bank.url == f"http://127.0.0.1:{port}"
        assert bank.issuer == "https://bank.example"
        assert httpx.post(f"{bank.url}/_mock/reset").status_code == 401  # the helper sends the admin token
        bank.reset()
        with pytest.raises(OpAuthError, match="503"):
            bank.token("bank-client", "bank-secret")
        bank.use_scenario(None)
        token = bank.token("bank-client", "bank-secret")
        response = httpx.get(f"{bank.url}/bank/balance", headers={"Authorization": f"Bearer {token}"})
        assert response.json() == {"balance": 10}


def test_a_ready_config_and_the_environments_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOCK_OP_AUTH_SCENARIO", "consent-pending")
    monkeypatch.setenv("MOCK_OP_AUTH_ADMIN_TOKEN", "from-env")
    monkeypatch.setenv("MOCK_OP_AUTH_FIXTURES", "/nonexistent.yaml")  # run_server takes fixtures as arguments only
    shared = tmp_path / "compose-service.db"  # a compose service's store: never the test servers'
    monkeypatch.setenv("MOCK_OP_AUTH_STATE", str(shared))
    monkeypatch.setenv("MOCK_OP_AUTH_WORKERS", "4")
    with run_server(config=load_default()) as server:
        server.reset()  # authorized with the admin token from the environment
        body = httpx.post(server.token_url, data={"grant_type": "client_credentials"},
                          auth=("demo-client", "demo-secret")).json()
        assert body["status"] == "pending"  # the scenario a reset returns to
    assert not shared.exists()


def test_bad_arguments_are_refused_before_anything_starts() -> None:
    before = set(threading.enumerate())
    with pytest.raises(TypeError), run_server(fixtures="x.yaml", config=load_default()):
        pass
    with pytest.raises(ValueError, match="unknown scenario"), run_server(scenario="nope"):
        pass
    assert set(threading.enumerate()) <= before  # threads of earlier tests may end meanwhile
