"""A well-known client library, requests-oauth2client, completes the device flow, token exchange,
the JWT bearer grant, PAR and DPoP (nonces included) against a live mock serving
fixtures/grants.yaml, with no special handling beyond waiting on the mock's clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from requests_oauth2client import (
    BearerToken,
    DeviceAuthorizationPollingJob,
    DeviceAuthorizationResponse,
    DPoPKey,
    DPoPToken,
    OAuth2Client,
)
from requests_oauth2client.exceptions import AccessDenied, ExpiredToken, InvalidGrant, InvalidRequest, InvalidTarget

from mock_op_auth.config.loader import load_fixtures
from mock_op_auth.testing import OpAuth, run_server

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GRANTS = FIXTURES / "grants.yaml"
BATCH_KEY = (FIXTURES / "keys" / "batch-job-ec.pem").read_bytes()
PAYMENTS_API = "https://payments.example/api"
CALLBACK = "http://127.0.0.1/callback"


@pytest.fixture(scope="module")
def live() -> Iterator[OpAuth]:
    with run_server(GRANTS) as server:
        yield server


@pytest.fixture
def mock(live: OpAuth) -> OpAuth:
    live.reset()
    return live


def client_for(mock: OpAuth, **kwargs: object) -> OAuth2Client:
    """A client configured from the mock's discovery document (plain http: ``testing``). The library
    does not read ``device_authorization_endpoint`` from it (1.8), so that one is passed along."""
    device = requests.get(mock.discovery_url, timeout=10).json().get("device_authorization_endpoint")
    return OAuth2Client.from_discovery_endpoint(mock.discovery_url, testing=True,  # type: ignore[arg-type]
                                                device_authorization_endpoint=device, **kwargs)


def claims(token: BearerToken | str) -> dict[str, object]:
    return jwt.decode(str(token if isinstance(token, str) else token.access_token), options={"verify_signature": False})


def polling(client: OAuth2Client, response: DeviceAuthorizationResponse, mock: OpAuth | None) -> \
        DeviceAuthorizationPollingJob:
    """The library's polling job, waiting its interval on the mock's clock (None: not waiting at all)."""

    class MockClockJob(DeviceAuthorizationPollingJob):
        def sleep(self) -> None:
            if mock is not None:
                mock.advance(self.interval)

    return MockClockJob(client, response)


def test_device_flow_polls_until_the_user_approves(mock: OpAuth) -> None:
    tv = client_for(mock, client_id="tv-app")
    response = tv.authorize_device(scope="openid profile accounts")
    assert response.verification_uri == f"{mock.url}/device" and response.interval == 5
    job = polling(tv, response, mock)
    assert job() is None  # authorization_pending
    assert mock.approve_device(response.user_code, user="bob") == {"user_code": response.user_code,
                                                                   "status": "approved"}
    token = job()
    assert isinstance(token, BearerToken) and token.refresh_token
    assert claims(token)["sub"] == "bob"
    assert requests.get(f"{mock.url}/api/v1/accounts", auth=token, timeout=10).status_code == 200
    assert tv.userinfo(token)["name"] == "Bob Example"
    assert claims(tv.refresh_token(token))["sub"] == "bob"


def test_device_flow_slows_down_when_polled_too_often(mock: OpAuth) -> None:
    tv = client_for(mock, client_id="tv-app")
    response = tv.authorize_device(scope="accounts")
    impatient = polling(tv, response, None)
    assert impatient() is None and impatient.interval == 5  # pending
    assert impatient() is None and impatient.interval == 10  # slow_down: the library adds 5 s
    patient = polling(tv, response, mock)
    patient.interval = 10
    mock.approve_device(response.user_code)
    assert isinstance(patient(), BearerToken)


def test_device_flow_ends_on_denial_and_on_expiry(mock: OpAuth) -> None:
    tv = client_for(mock, client_id="tv-app")
    denied = tv.authorize_device(scope="accounts")
    mock.deny_device(denied.user_code)
    with pytest.raises(AccessDenied):
        polling(tv, denied, mock)()
    expired = tv.authorize_device(scope="accounts")
    mock.advance(601)
    with pytest.raises(ExpiredToken):
        polling(tv, expired, None)()


def test_device_flow_scenarios_script_the_polls(mock: OpAuth) -> None:
    tv = client_for(mock, client_id="tv-app")
    response = tv.authorize_device(scope="accounts")
    mock.approve_device(response.user_code)
    mock.use_scenario("device-slow-down")
    job = polling(tv, response, mock)
    assert job() is None and job() is None and job.interval == 15
    assert isinstance(job(), BearerToken)
    mock.use_scenario("device-denied")
    with pytest.raises(AccessDenied):
        polling(tv, tv.authorize_device(scope="accounts"), mock)()


def test_token_exchange_on_behalf_of_a_user_with_the_service_as_actor(mock: OpAuth) -> None:
    user_token = mock.mint("tv-app", sub="alice", scope="accounts")
    orders = client_for(mock, client_id="orders-service", client_secret="orders-secret")
    actor = orders.client_credentials(scope="accounts")
    exchanged = orders.token_exchange(subject_token=user_token, subject_token_type="access_token",
                                      actor_token=actor, audience=PAYMENTS_API)
    assert exchanged.kwargs["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    new = claims(exchanged)
    assert (new["sub"], new["aud"], new["act"]) == ("alice", PAYMENTS_API, {"sub": "orders-service"})
    with pytest.raises(InvalidTarget):
        orders.token_exchange(subject_token=user_token, subject_token_type="access_token",
                              audience="https://elsewhere.example")
    with pytest.raises(InvalidRequest):
        orders.token_exchange(subject_token=mock.mint("tv-app", sub="alice", defect="bad_signature"),
                              subject_token_type="access_token")


def test_jwt_bearer_grant_with_an_assertion_signed_by_the_clients_key(mock: OpAuth) -> None:
    batch = client_for(mock, client_id="batch-job", client_secret="batch-secret")
    assertion = jwt.encode({"iss": "batch-job", "sub": "alice", "aud": f"{mock.url}/token",
                            "exp": int(time.time()) + 60, "jti": "nightly-1"}, BATCH_KEY, algorithm="ES256",
                           headers={"kid": "batch-job-ec"})
    token = batch.jwt_bearer(assertion, scope="accounts")
    assert claims(token)["sub"] == "alice" and token.scope == "accounts"
    with pytest.raises(InvalidGrant):
        batch.jwt_bearer(assertion, scope="accounts")  # the jti was used


def test_par_and_dpop_complete_the_fapi_code_flow(mock: OpAuth) -> None:
    fapi = client_for(mock, client_id="fapi-web", client_secret="fapi-secret", redirect_uri=CALLBACK)
    request = fapi.authorization_request(scope="openid profile accounts", dpop=True)
    refused = requests.get(request.uri, allow_redirects=False, timeout=10)  # not pushed: the client requires PAR
    assert "error=invalid_request" in refused.headers["location"]
    pushed = fapi.pushed_authorization_request(request)
    redirect = requests.get(pushed.uri, allow_redirects=False, timeout=10)
    assert redirect.status_code == 302
    response = request.validate_callback(redirect.headers["location"])  # state and iss (RFC 9207) checked
    token = fapi.authorization_code(response, validate=False)
    assert isinstance(token, DPoPToken) and token.token_type == "DPoP"
    # requests-oauth2client 1.8 cannot rebuild a DPoPToken after validating its ID token, so the ID
    # token (signature by the JWKS, iss, aud, nonce, at_hash) is validated through a BearerToken.
    BearerToken(token.access_token, id_token=token.id_token).validate_id_token(fapi, response)
    assert claims(token)["cnf"] == {"jkt": request.dpop_key.dpop_jkt}  # type: ignore[union-attr]
    assert requests.get(f"{mock.url}/api/v1/accounts", auth=token, timeout=10).status_code == 200
    assert fapi.userinfo(token)["sub"] == "alice"
    as_bearer = requests.get(f"{mock.url}/api/v1/accounts", timeout=10,
                             headers={"Authorization": f"Bearer {token.access_token}"})
    assert as_bearer.status_code == 401 and as_bearer.headers["www-authenticate"].startswith("DPoP ")
    refreshed = fapi.refresh_token(token)
    assert isinstance(refreshed, DPoPToken) and claims(refreshed)["cnf"] == claims(token)["cnf"]


def test_dpop_nonces_are_fetched_and_retried_by_the_library() -> None:
    config = load_fixtures(GRANTS)
    config = config.model_copy(update={"server": config.server.model_copy(update={"dpop_nonce": True})})
    with run_server(config=config) as mock:
        orders = client_for(mock, client_id="orders-service", client_secret="orders-secret")
        token = orders.client_credentials(scope="accounts", dpop=True)  # use_dpop_nonce, then again with it
        assert isinstance(token, DPoPToken)
        assert requests.get(f"{mock.url}/api/v1/accounts", auth=token, timeout=10).status_code == 200
        nonces = [e for e in mock.requests(endpoint="token") if e["status"] == 400]
        assert len(nonces) == 1


def test_proofs_stamped_with_the_mock_clock_survive_a_clock_move(mock: OpAuth) -> None:
    orders = client_for(mock, client_id="orders-service", client_secret="orders-secret")
    mock.advance(3600)
    key = DPoPKey.generate(iat_generator=lambda: int(mock.now()))
    token = orders.client_credentials(scope="accounts", dpop_key=key)
    assert requests.get(f"{mock.url}/api/v1/accounts", auth=token, timeout=10).status_code == 200
