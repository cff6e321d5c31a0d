"""Hostile input limits: body size (413), parameter count (400), and slow clients that block no one."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

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
