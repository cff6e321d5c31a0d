"""Malformed requests get a protocol error in the endpoint's shape, never a 500."""

from __future__ import annotations

import httpx
import pytest

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(("method", "path", "headers", "body"), [
    ("POST", "/token", FORM, b"\xff\xfe\x00"),
    ("POST", "/token", FORM, b"grant_type=client_credentials&" + b"&".join(b"p%d=1" % i for i in range(150))),
    ("POST", "/token", {**FORM, "authorization": "Basic !!!"}, b"grant_type=client_credentials"),
    ("POST", "/token", {**FORM, "authorization": "Basic bm9jb2xvbg=="}, b"grant_type=client_credentials"),
    ("POST", "/token", {**FORM, "authorization": "Basic //79"}, b"grant_type=client_credentials"),
    ("POST", "/token", {"content-type": "text/plain"}, b"hello"),
    ("POST", "/token", FORM, b"%%%=%%%"),
    ("GET", "/token", {}, b""),
    ("POST", "/introspect", FORM, b"token=" + b"a" * 60_000),
    ("POST", "/revoke", {**FORM, "authorization": "Basic ZGVtby1jbGllbnQ6ZGVtby1zZWNyZXQ="}, b""),
    ("GET", "/userinfo", {"authorization": "Bearer "}, b""),
    ("GET", "/userinfo", {"authorization": "Bearer a.b.c.d"}, b""),
    ("GET", "/userinfo", {"authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln"}, b""),
    ("GET", "/userinfo", {"authorization": "Bearer W10.W10.W10"}, b""),
    ("GET", "/accounts/v3/accounts", {"authorization": "Bearer \u00e9t\u00e9".encode()}, b""),
    ("GET", "/authorize?client_id=%ff&response_type=code", {}, b""),
    ("GET", "/authorize?" + "&".join(f"x{i}=1" for i in range(200)), {}, b""),
    ("POST", "/authorize", {"content-type": "application/json"}, b"{}"),
    ("POST", "/_mock/rules", {"content-type": "application/json"}, b"{not json"),
    ("POST", "/_mock/rules", {"content-type": "application/json"}, b'{"match": {"endpoint": "nowhere"}}'),
    ("POST", "/_mock/clock", {"content-type": "application/json"}, b'{"advance": "soon"}'),
    ("PUT", "/_mock/scenario", {"content-type": "application/json"}, b'{"name": 5}'),
])
async def test_malformed_request_is_a_4xx_not_a_500(client: httpx.AsyncClient, method: str, path: str,
                                                     headers: dict[str, str | bytes], body: bytes) -> None:
    response = await client.request(method, path, headers=headers, content=body)
    assert 400 <= response.status_code < 500, response.text
    if "json" in response.headers.get("content-type", ""):
        assert "error" in response.json()


async def test_too_many_parameters_is_invalid_request(client: httpx.AsyncClient) -> None:
    body = "&".join(f"p{i}=1" for i in range(150))
    response = await client.post("/token", content=body, headers=FORM)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_control_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/_mock/rules", content=b"x" * 70_000, headers={"content-type": "application/json"})
    assert response.status_code == 413
