"""An example client of the kind mock-op-auth exists to test: it calls an OP-style API with a
client-credentials token (RFC 6749 §4.4) and does what a production client should.

- caches the token until shortly before it expires, by its own clock;
- retries the token call on 503 and 429, waiting as ``Retry-After`` says (RFC 9110 §10.2.3);
- polls while OP answers ``"status": "pending"`` (consent not given yet), then gives up;
- on a 401 ``invalid_token`` from the API, drops the token and fetches a new one, once.

``clock`` and ``sleep`` are parameters so that tests drive time instead of waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 503})


class TokenError(Exception):
    """The token endpoint refused us (bad credentials, a scope we may not have, ...)."""


class TokenUnavailable(TokenError):
    """The token endpoint stayed unavailable through every retry."""


class TokenPending(TokenError):
    """The token is still ``pending`` after every poll: the user has not given consent yet."""


def retry_after(response: httpx.Response, default: float) -> float:
    """Seconds to wait before retrying: ``Retry-After`` as seconds or an HTTP date, else ``default``."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


class OPClient:
    def __init__(self, base_url: str, client_id: str, client_secret: str, *, scope: str = "accounts",
                 api_key: str | None = None, token_path: str = "/token", retries: int = 3, backoff: float = 1.0,
                 pending_polls: int = 3, pending_wait: float = 2.0, expiry_margin: float = 30.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.scope = scope
        self.api_key = api_key if api_key is not None else client_id  # OP: the API key is the client id
        self.token_path = token_path
        self.retries = retries
        self.backoff = backoff
        self.pending_polls = pending_polls
        self.pending_wait = pending_wait
        self.expiry_margin = expiry_margin
        self.clock = clock
        self.sleep = sleep
        self._auth = (client_id, client_secret)
        self._http = http or httpx.Client(timeout=10.0)
        self._token: str | None = None
        self._expires_at = 0.0

    def __enter__(self) -> OPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def access_token(self) -> str:
        """The cached token, or a new one when there is none or it is about to expire."""
        if self._token is None or self.clock() >= self._expires_at - self.expiry_margin:
            body = self._fetch_token()
            self._token = str(body["access_token"])
            self._expires_at = self.clock() + float(body["expires_in"])
        return self._token

    def _fetch_token(self) -> dict[str, Any]:
        retries = polls = 0
        while True:
            response = self._http.post(f"{self.base_url}{self.token_path}", auth=self._auth,
                                       data={"grant_type": "client_credentials", "scope": self.scope})
            if response.status_code in RETRY_STATUSES:
                if retries == self.retries:
                    raise TokenUnavailable(f"token endpoint answered {response.status_code} {retries + 1} times")
                retries += 1
                self.sleep(retry_after(response, self.backoff * 2 ** (retries - 1)))
                continue
            if response.status_code != 200:
                raise TokenError(f"token endpoint answered {response.status_code}: {response.text}")
            body: dict[str, Any] = response.json()
            if body.get("status", "approved") == "approved":
                return body
            if body.get("status") != "pending" or polls == self.pending_polls:
                raise TokenPending(f"token status is {body.get('status')!r} after {polls + 1} requests")
            polls += 1
            self.sleep(self.pending_wait)

    def get(self, path: str) -> httpx.Response:
        """GET an API path with the bearer token and API key; a rejected token is replaced once."""
        response = self._get(path)
        if response.status_code == 401 and 'error="invalid_token"' in response.headers.get("www-authenticate", ""):
            self._token = None
            response = self._get(path)
        return response

    def _get(self, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.access_token()}", "x-api-key": self.api_key}
        return self._http.get(f"{self.base_url}{path}", headers=headers)

    def accounts(self) -> list[dict[str, Any]]:
        response = self.get("/accounts/v3/accounts")
        response.raise_for_status()
        return list(response.json()["accounts"])
