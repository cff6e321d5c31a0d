from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers import REDIRECT, authorize, pkce_pair, query_of


async def test_code_is_redirected_with_state_and_iss(client: httpx.AsyncClient) -> None:
    response = await authorize(client)
    assert response.status_code == 302
    params = query_of(response.headers["location"])
    assert response.headers["location"].startswith(REDIRECT + "?")
    assert params["state"] == "st4te"
    assert params["iss"] == "http://mock.test"
    assert len(params["code"]) >= 32


async def test_unknown_client_gets_an_error_page_not_a_redirect(client: httpx.AsyncClient) -> None:
    response = await authorize(client, client_id="nobody")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]
    assert "unknown client" in response.text
    assert response.headers["x-frame-options"] == "DENY"  # as every page of the mock: never framed
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("uri", [
    "http://localhost:8000/callback/extra",
    "http://localhost:8000/callback?x=1",
    "http://localhost:8001/callback",
    "https://localhost:8000/callback",
    "http://evil.example/callback",
])
async def test_unregistered_redirect_uri_gets_an_error_page(client: httpx.AsyncClient, uri: str) -> None:
    response = await authorize(client, redirect_uri=uri)
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_loopback_redirect_matches_any_port(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    response = await authorize(client, client_id="demo-public", redirect_uri="http://127.0.0.1:49152/callback",
                               code_challenge=challenge, code_challenge_method="S256")
    assert response.status_code == 302
    assert response.headers["location"].startswith("http://127.0.0.1:49152/callback?")


async def test_loopback_port_exception_does_not_cover_other_paths(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    response = await authorize(client, client_id="demo-public", redirect_uri="http://127.0.0.1:49152/other",
                               code_challenge=challenge)
    assert response.status_code == 400


@pytest.mark.parametrize(("params", "error"), [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": ""}, "invalid_request"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"code_challenge": "short"}, "invalid_request"),
    ({"code_challenge": "a" * 43, "code_challenge_method": "S512"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"response_mode": "form_post"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."}, "request_not_supported"),  # OIDC Core §3.1.2.6
])
async def test_errors_after_the_redirect_is_trusted_go_back_to_the_client(
        client: httpx.AsyncClient, params: dict[str, str], error: str) -> None:
    response = await authorize(client, **params)
    assert response.status_code == 302
    back = query_of(response.headers["location"])
    assert back["error"] == error
    assert back["state"] == "st4te"
    assert back["iss"] == "http://mock.test"
    assert "code" not in back


async def test_public_client_must_use_pkce(client: httpx.AsyncClient) -> None:
    response = await authorize(client, client_id="demo-public")
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_repeated_parameter_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/authorize?client_id=demo-client&client_id=demo-client&response_type=code")
    assert response.status_code == 400
    assert "repeated" in response.text


async def test_redirect_uri_may_be_omitted_when_only_one_is_registered(client: httpx.AsyncClient) -> None:
    response = await client.get("/authorize", params={"client_id": "demo-client", "response_type": "code"})
    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT + "?code=")


async def test_post_authorize_takes_form_parameters(client: httpx.AsyncClient) -> None:
    response = await client.post("/authorize", data={"client_id": "demo-client", "response_type": "code",
                                                     "redirect_uri": REDIRECT, "state": "p"})
    assert response.status_code == 302
    assert query_of(response.headers["location"])["state"] == "p"


# RFC 8252 §7.3: a loopback IP redirect URI registered with a port matches any port at request time.

LOOPBACK_APP = {"secret": "loopback-secret", "grant_types": ["authorization_code"],
                "redirect_uris": ["http://127.0.0.1:9/cb", "http://[::1]:9/cb?app=1"], "scopes": ["openid", "accounts"]}


@pytest.fixture
async def loopback_client(default_config, rsa_key) -> AsyncIterator[httpx.AsyncClient]:
    from mock_op_auth.config.schema import Client
    from tests.conftest import build_app

    clients = {**default_config.clients, "loopback-app": Client.model_validate(LOOPBACK_APP)}
    app = build_app(default_config.model_copy(update={"clients": clients}), rsa_key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        yield c


@pytest.mark.parametrize("uri", ["http://127.0.0.1:53682/cb", "http://127.0.0.1/cb", "http://[::1]:53682/cb?app=1",
                                 "http://[::1]/cb?app=1"])
async def test_loopback_ip_registered_with_a_port_matches_any_port(loopback_client: httpx.AsyncClient,
                                                                   uri: str) -> None:
    response = await authorize(loopback_client, client_id="loopback-app", redirect_uri=uri, scope="accounts")
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(uri + ("&" if "?" in uri else "?"))


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:53682/cb/extra",
    "http://127.0.0.1:53682/cb?x=1",
    "https://127.0.0.1:53682/cb",
    "http://127.0.0.2:53682/cb",
    "http://localhost:53682/cb",
    "http://[::1]:53682/cb",
    "http://user@127.0.0.1:53682/cb",
])
async def test_loopback_port_exception_covers_the_port_only(loopback_client: httpx.AsyncClient, uri: str) -> None:
    response = await authorize(loopback_client, client_id="loopback-app", redirect_uri=uri, scope="accounts")
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_a_loopback_code_is_redeemed_with_the_port_asked_for(loopback_client: httpx.AsyncClient) -> None:
    asked = "http://127.0.0.1:53682/cb"
    response = await authorize(loopback_client, client_id="loopback-app", redirect_uri=asked, scope="accounts")
    code = query_of(response.headers["location"])["code"]
    auth = ("loopback-app", "loopback-secret")
    for other in ("http://127.0.0.1:9/cb", "http://127.0.0.1/cb", "http://127.0.0.1:53683/cb"):
        refused = await loopback_client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                             "redirect_uri": other}, auth=auth)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", other
    redeemed = await loopback_client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                          "redirect_uri": asked}, auth=auth)
    assert redeemed.status_code == 200, redeemed.text
