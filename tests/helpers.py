"""Shared steps of the flows tests drive: PKCE pairs, the code flow to a token."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

CLIENT = ("demo-client", "demo-secret")
REDIRECT = "http://localhost:8000/callback"


@dataclass(frozen=True)
class FromNow:
    """A time claim given in a test's parameters, resolved when the JWT is signed (``at_signing``):
    a timestamp computed when the module is collected goes stale over a slow run."""

    seconds: int


def at_signing(claims: dict[str, Any]) -> dict[str, Any]:
    """``claims`` with every ``FromNow`` made a timestamp now, and ``None`` members left out."""
    now = int(time.time())
    return {k: now + v.seconds if isinstance(v, FromNow) else v for k, v in claims.items() if v is not None}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorize(client: httpx.AsyncClient, **params: str) -> httpx.Response:
    base = {"client_id": "demo-client", "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "openid profile email accounts", "state": "st4te"}
    return await client.get("/authorize", params={**base, **params})


async def get_code(client: httpx.AsyncClient, **params: str) -> str:
    response = await authorize(client, **params)
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])["code"]


async def code_flow(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    """Authorize as demo-client and redeem the code; returns the token response body."""
    code = await get_code(client, **params)
    response = await client.post("/token", data={"grant_type": "authorization_code", "code": code,
                                                 "redirect_uri": REDIRECT}, auth=CLIENT)
    assert response.status_code == 200, response.text
    return response.json()


async def client_credentials(client: httpx.AsyncClient, scope: str = "accounts") -> dict[str, Any]:
    response = await client.post("/token", data={"grant_type": "client_credentials", "scope": scope}, auth=CLIENT)
    assert response.status_code == 200, response.text
    return response.json()


async def start_of_a_second(client: httpx.AsyncClient) -> None:
    """Set the mock clock to the next whole second. Tokens carry whole seconds (``exp`` is
    ``iat`` + the lifetime, ``iat`` rounded down), so one issued now lives its full lifetime less
    only the milliseconds a test takes, and "still valid a second before exp" holds on a busy machine."""
    now = (await client.get("/_mock/clock")).json()["now"]
    response = await client.post("/_mock/clock", json={"set": float(int(now) + 1)})
    assert response.status_code == 200


async def assert_refused_everywhere(client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
    """Introspection, userinfo, the resource stub and refresh all refuse ``tokens`` (a token response)."""
    access = tokens["access_token"]
    assert await introspect(client, access) == {"active": False}
    assert (await client.get("/userinfo", headers={"Authorization": f"Bearer {access}"})).status_code == 401
    resource = await client.get("/accounts/v3/accounts", headers={"Authorization": f"Bearer {access}",
                                                                  "x-api-key": "demo-client"})
    assert resource.status_code == 401 and resource.json()["error"] == "invalid_token"
    if "refresh_token" in tokens:
        assert await introspect(client, tokens["refresh_token"]) == {"active": False}
        refresh = await client.post("/token", data={"grant_type": "refresh_token",
                                                    "refresh_token": tokens["refresh_token"]}, auth=CLIENT)
        assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


async def introspect(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post("/introspect", data={"token": token}, auth=CLIENT)
    assert response.status_code == 200
    return dict(response.json())


def reconfigure(server: Any, **changes: Any) -> None:
    """Reload ``server`` with its fixture's ``server`` section changed (``refresh_rotation=False``, ...)."""
    server.reload(server.config.model_copy(update={"server": server.config.server.model_copy(update=changes)}))
