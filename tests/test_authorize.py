from __future__ import annotations

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
