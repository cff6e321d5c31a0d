"""Hostile input limits: body size (413), parameter count (400), and slow clients that block no one."""

from __future__ import annotations

import base64
import gzip
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mock_op_auth.http.limits import MAX_BODY_BYTES
from mock_op_auth.oauth.request import MAX_PARAMS
from tests.helpers import CLIENT
from tests.live import free_port, start, stop

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 1024):
        yield b"a" * 1024


async def test_token_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", content=b"a" * (MAX_BODY_BYTES + 1), headers=FORM, auth=CLIENT)
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


async def test_chunked_token_body_without_length_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/token", content=chunks(MAX_BODY_BYTES + 4096), headers=FORM, auth=CLIENT)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate, gzip"])
async def test_a_token_body_with_a_content_coding_is_415(client: httpx.AsyncClient, coding: str) -> None:
    body = gzip.compress(b"grant_type=client_credentials")
    response = await client.post("/token", content=body, headers={**FORM, "Content-Encoding": coding}, auth=CLIENT)
    assert response.status_code == 415 and response.json()["error"] == "invalid_request"
    assert coding in response.json()["error_description"]
    plain = await client.post("/token", content=b"grant_type=client_credentials",
                              headers={**FORM, "Content-Encoding": "identity"}, auth=CLIENT)
    assert plain.status_code == 200


async def test_control_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/_mock/rules", content=b"{" * (MAX_BODY_BYTES + 1),
                                 headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


async def test_chunked_control_body_without_length_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/_mock/rules", content=chunks(MAX_BODY_BYTES + 4096),
                                 headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


async def test_control_body_under_the_limit_still_reaches_the_route(client: httpx.AsyncClient) -> None:
    async def small() -> AsyncIterator[bytes]:
        yield b'{"name": '
        yield b'"token-outage"}'

    response = await client.put("/_mock/scenario", content=small(), headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


async def test_too_many_parameters_is_invalid_request(client: httpx.AsyncClient) -> None:
    data = {"grant_type": "client_credentials", **{f"p{i}": "x" for i in range(MAX_PARAMS)}}
    response = await client.post("/token", data=data, auth=CLIENT)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request",
                               "error_description": f"more than {MAX_PARAMS} parameters"}


async def test_a_hundred_parameters_are_still_read(client: httpx.AsyncClient) -> None:
    data = {"grant_type": "client_credentials", **{f"p{i}": "x" for i in range(MAX_PARAMS - 1)}}
    response = await client.post("/token", data=data, auth=CLIENT)
    assert response.status_code == 200


def test_half_open_clients_do_not_block_others(tmp_path: Path) -> None:
    port = free_port()
    proc = start(port, log=tmp_path / "server.log")
    stalled: list[socket.socket] = []
    try:
        for partial in (b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\ngrant_type=",
                        b"GET /jwks HTTP/1.1\r\nHost: 127.0", b""):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(partial)
            stalled.append(sock)
        response = httpx.post(f"http://127.0.0.1:{port}/token", data={"grant_type": "client_credentials"},
                              auth=CLIENT, timeout=5.0)
        assert response.status_code == 200
        assert response.json()["token_type"] == "Bearer"
    finally:
        for sock in stalled:
            sock.close()
        stop(proc)


# JSON nested thousands of levels deep: a 4xx in the endpoint's own shape, quickly, and the server keeps serving.

DEEP_JSON = {"arrays": b"[" * 30_000 + b"]" * 30_000, "objects": b'{"a":' * 10_000 + b"{}" + b"}" * 10_000}
JSON = {"content-type": "application/json"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def deep_jwt(part: str, depth: int = 3000) -> str:
    """A compact JWS whose header or payload is ``depth`` nested arrays (under the 8192-character token limit)."""
    deep, plain = b64url(b"[" * depth + b"]" * depth), b64url(b'{"alg":"RS256","kid":"k"}')
    return f"{deep}.{b64url(b'{}')}.c2ln" if part == "header" else f"{plain}.{deep}.c2ln"


@pytest.mark.parametrize("shape", DEEP_JSON)
@pytest.mark.parametrize(("method", "path"), [("POST", "/_mock/rules"), ("PUT", "/_mock/scenario"),
                                              ("POST", "/_mock/clock"), ("POST", "/_mock/tokens")])
async def test_deeply_nested_json_to_the_control_api_is_a_400(client: httpx.AsyncClient, method: str, path: str,
                                                              shape: str) -> None:
    started = time.perf_counter()
    response = await client.request(method, path, content=DEEP_JSON[shape], headers=JSON)
    assert time.perf_counter() - started < 10  # a bound against a hang (a quadratic scan), not a speed check
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert "nested" in response.json()["error_description"]
    assert (await client.get("/_mock/health")).status_code == 200
    assert (await client.get("/_mock/requests")).status_code == 200
    assert (await client.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT)).status_code == 200


async def test_nested_json_within_the_bound_is_still_read(client: httpx.AsyncClient) -> None:
    body: object = {"ok": True}
    for _ in range(30):
        body = {"inner": [body]}
    response = await client.post("/_mock/rules", json={"match": {"endpoint": "token"},
                                                       "respond": {"status": 200, "json": body}})
    assert response.status_code == 201, response.text
    answer = await client.post("/token", data={"grant_type": "client_credentials"}, auth=CLIENT)
    assert answer.json() == body


@pytest.mark.parametrize("part", ["header", "payload"])
async def test_a_bearer_token_with_deeply_nested_json_is_refused(client: httpx.AsyncClient, part: str) -> None:
    token = deep_jwt(part)
    assert len(token) <= 8192
    bearer = {"Authorization": f"Bearer {token}"}
    resource = await client.get("/accounts/v3/accounts", headers={**bearer, "x-api-key": "demo-client"})
    assert resource.status_code == 401 and resource.json()["error"] == "invalid_token"
    assert (await client.get("/userinfo", headers=bearer)).status_code == 401
    introspection = await client.post("/introspect", data={"token": token}, auth=CLIENT)
    assert introspection.json() == {"active": False}


@pytest.mark.parametrize("shape", DEEP_JSON)
async def test_deeply_nested_json_to_psd2_endpoints_is_refused_in_their_shapes(shape: str) -> None:
    from tests.op_helpers import (
        JWT_BEARER,
        TPP_ID,
        app_for,
        http,
        psd2_client_credentials,
        psd2_token,
        tpp_headers,
    )

    async with http(app_for("op-psd2")) as client:
        token = await psd2_client_credentials(client)
        intent = await client.post("/accounts-psd2/v1/authorizations", content=DEEP_JSON[shape],
                                   headers=tpp_headers(authorization=f"Bearer {token}", **JSON))
        assert intent.status_code == 400 and intent.json()["type"] == "VALIDATION", intent.text
        registration = await client.post("/tpp-registration/register", content=deep_jwt("payload", 20_000),
                                          headers=tpp_headers(**{"content-type": "application/jwt"}))
        assert registration.status_code == 400, registration.text
        assert registration.json()["error"] == "invalid_software_statement"
        for part in ("header", "payload"):
            page = await client.get("/oauth/authorize", params={"client_id": TPP_ID, "response_type": "code",
                                                                "scope": "openid accounts",
                                                                "request": deep_jwt(part)})
            assert page.status_code == 400 and "location" not in page.headers
            assertion = await psd2_token(client, grant_type=JWT_BEARER, scope="payments", assertion=deep_jwt(part))
            assert 400 <= assertion.status_code < 500 and "error" in assertion.json()
        assert (await psd2_client_credentials(client)) != token
