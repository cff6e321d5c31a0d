"""Testing a real client against the mock with the pytest plugin: caching, retries, expiry, pending.

Time is the mock's: the client sleeps into a list, and either reads the mock clock or is
surprised by an expired token, as a client whose clock is behind the server's would be.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from op_client import OPClient, TokenPending, TokenUnavailable

from mock_op_auth.testing import OpAuth


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(op_auth: OpAuth, slept: list[float]) -> Iterator[OPClient]:
    client = OPClient(op_auth.url, "demo-client", "demo-secret", sleep=slept.append)
    yield client
    client.close()


def statuses(op_auth: OpAuth, endpoint: str) -> list[int]:
    return [entry["status"] for entry in op_auth.requests(endpoint=endpoint)]


def test_token_is_cached_across_calls(op_auth: OpAuth, client: OPClient) -> None:
    for _ in range(3):
        assert client.accounts()[0]["currency"] == "EUR"
    assert statuses(op_auth, "token") == [200]
    assert statuses(op_auth, "resource") == [200, 200, 200]


def test_token_outage_is_retried_as_retry_after_says(op_auth: OpAuth, client: OPClient,
                                                     slept: list[float]) -> None:
    op_auth.use_scenario("token-outage")  # two 503s with Retry-After: 1, then normal service
    assert client.accounts()
    assert statuses(op_auth, "token") == [503, 503, 200]
    assert slept == [1.0, 1.0]


def test_rate_limit_waits_as_long_as_asked(op_auth: OpAuth, client: OPClient, slept: list[float]) -> None:
    op_auth.add_rule(match={"endpoint": "token"}, times=1,
                     respond={"status": 429, "json": {"error": "slow_down"}, "headers": {"Retry-After": "7"}})
    assert client.accounts()
    assert statuses(op_auth, "token") == [429, 200]
    assert slept == [7.0]


def test_a_lasting_outage_gives_up_after_the_retries(op_auth: OpAuth, client: OPClient,
                                                      slept: list[float]) -> None:
    op_auth.add_rule(match={"endpoint": "token"}, respond={"status": 503})
    with pytest.raises(TokenUnavailable):
        client.accounts()
    assert statuses(op_auth, "token") == [503] * 4
    assert slept == [1.0, 2.0, 4.0]  # no Retry-After: exponential backoff


def test_token_is_renewed_before_expiry_by_the_mock_clock(op_auth: OpAuth, slept: list[float]) -> None:
    with OPClient(op_auth.url, "demo-client", "demo-secret", clock=op_auth.now, sleep=slept.append) as client:
        client.accounts()
        op_auth.advance(3600 - 10)  # inside the client's 30-second margin
        client.accounts()
    assert statuses(op_auth, "token") == [200, 200]
    assert statuses(op_auth, "resource") == [200, 200]


def test_expired_token_is_replaced_when_the_api_refuses_it(op_auth: OpAuth, client: OPClient) -> None:
    client.accounts()
    op_auth.advance(3600)  # the client's own clock does not know
    client.accounts()
    assert statuses(op_auth, "token") == [200, 200]
    assert statuses(op_auth, "resource") == [200, 401, 200]


@pytest.mark.op_auth(scenario="consent-pending")
def test_pending_consent_is_polled_then_reported(op_auth: OpAuth, client: OPClient, slept: list[float]) -> None:
    with pytest.raises(TokenPending, match="'pending' after 4 requests"):
        client.accounts()
    assert statuses(op_auth, "token") == [200] * 4
    assert statuses(op_auth, "resource") == []
    assert slept == [2.0, 2.0, 2.0]


def test_pending_then_approved_goes_through(op_auth: OpAuth, client: OPClient, slept: list[float]) -> None:
    op_auth.add_rule(match={"endpoint": "token"}, token={"status": "pending"}, times=1)
    assert client.accounts()
    assert statuses(op_auth, "token") == [200, 200]
    assert slept == [2.0]


def test_a_pending_token_does_not_open_the_api(op_auth: OpAuth) -> None:
    """Why the client must not use a pending token: the resource refuses it."""
    op_auth.use_scenario("consent-pending")
    token = op_auth.token(scope="accounts")
    response = httpx.get(f"{op_auth.url}/accounts/v3/accounts",
                         headers={"Authorization": f"Bearer {token}", "x-api-key": "demo-client"})
    assert response.status_code == 401
