"""Embedding API (DESIGN §5): a live mock on 127.0.0.1 for pytest, unittest and scripts.

``run_server()`` starts uvicorn in a background thread on a free port and yields an ``OpAuth``
helper; leaving the block stops the server, joins its thread and closes its socket. ``OpAuth``
drives the mock only through its HTTP control API (``/_mock``), the same code a compose user
in any language calls, so it also works against a mock run elsewhere (``OpAuth(url)``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import uvicorn

from mock_op_auth.app import create_app
from mock_op_auth.config.loader import load_default, load_fixtures
from mock_op_auth.config.schema import Config
from mock_op_auth.settings import Settings

__all__ = ["LiveServer", "OpAuth", "OpAuthError", "run_server"]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
GRACE = 2  # seconds a request in flight at exit may take before it is cancelled

FixturePaths = str | Path | Sequence[str | Path]


class OpAuthError(RuntimeError):
    """The mock refused a call the helper made (an unknown scenario, a malformed rule, a bad client)."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text
        detail = self.body.get("error_description", self.body) if isinstance(self.body, dict) else self.body
        super().__init__(f"{response.request.method} {response.request.url.path} -> {response.status_code}: {detail}")


class OpAuth:
    """A handle on one running mock: its URLs, and the control API as methods.

    Args:
        url: the mock's base URL, e.g. ``http://127.0.0.1:8080``.
        issuer: the issuer its tokens carry, if fixed (``--issuer``); default: ``url``.
        admin_token: sent as a bearer token on control calls (``MOCK_OP_AUTH_ADMIN_TOKEN``).
    """

    def __init__(self, url: str, *, issuer: str | None = None, admin_token: str | None = None,
                 timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.issuer = (issuer or self.url).rstrip("/")
        self.token_url = f"{self.url}/token"
        self.authorize_url = f"{self.url}/authorize"
        self.jwks_url = f"{self.url}/jwks"
        self.discovery_url = f"{self.url}/.well-known/openid-configuration"
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        # No TLS on http://, so no CA bundle to load (that alone costs tens of milliseconds).
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout,
                                  verify=self.url.startswith("https://"))

    def __enter__(self) -> OpAuth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpAuth({self.url!r})"

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise OpAuthError(response)
        return response.json() if response.content else None

    def reset(self) -> None:
        """Forget tokens, codes, journal, runtime rules and clock offset; back to the default scenario."""
        self._call("POST", "/_mock/reset")

    def use_scenario(self, name: str | None) -> None:
        """Activate a scenario of the fixture (None for none); an unknown name raises OpAuthError."""
        self._call("PUT", "/_mock/scenario", json={"name": name})

    def add_rule(self, match: dict[str, Any] | None = None, *, respond: dict[str, Any] | None = None,
                 error: dict[str, Any] | None = None, token: dict[str, Any] | None = None,
                 delay_ms: int = 0, times: int | None = None) -> str:
        """Queue a rule, tried before the scenario's (DESIGN §4 rule schema); returns its id."""
        rule: dict[str, Any] = {"match": match or {}, "delay_ms": delay_ms}
        for key, value in (("respond", respond), ("error", error), ("token", token), ("times", times)):
            if value is not None:
                rule[key] = value
        return str(self._call("POST", "/_mock/rules", json=rule)["id"])

    def advance(self, seconds: float) -> float:
        """Move the mock clock forward (negative: back); returns the new time, epoch seconds."""
        return float(self._call("POST", "/_mock/clock", json={"advance": seconds})["now"])

    def now(self) -> float:
        """The mock clock's time, epoch seconds."""
        return float(self._call("GET", "/_mock/clock")["now"])

    def requests(self, endpoint: str | None = None, client_id: str | None = None) -> list[dict[str, Any]]:
        """The request journal, oldest first, secrets masked; filtered by endpoint name and client."""
        params = {k: v for k, v in (("endpoint", endpoint), ("client_id", client_id)) if v is not None}
        return list(self._call("GET", "/_mock/requests", params=params)["requests"])

    def mint(self, client_id: str = "demo-client", **fields: Any) -> str:
        """Mint an access token directly (``POST /_mock/tokens``): ``sub``, ``scope``, ``expires_in``,
        ``claims``, ``format``, ``defect``; returns the token string."""
        return str(self._call("POST", "/_mock/tokens", json={"client_id": client_id, **fields})["access_token"])

    def approve_device(self, user_code: str, user: str | None = None) -> dict[str, Any]:
        """Approve a device code as ``user`` (default: the user ``login: auto`` picks), as the user would
        on ``/device``; returns ``{"user_code", "status"}``. An unknown code or one already decided
        or expired raises OpAuthError."""
        return dict(self._call("POST", f"/_mock/device/{quote(user_code, safe='')}",
                               json={"decision": "approve", "user": user}))

    def deny_device(self, user_code: str) -> dict[str, Any]:
        """Deny a device code: its next poll answers ``access_denied``."""
        return dict(self._call("POST", f"/_mock/device/{quote(user_code, safe='')}", json={"decision": "deny"}))

    def token(self, client_id: str = "demo-client", client_secret: str = "demo-secret",
              scope: str | None = None) -> str:
        """An access token from ``/token`` by client credentials, in one call (it is journaled)."""
        data = {"grant_type": "client_credentials"}
        if scope is not None:
            data["scope"] = scope
        response = self._http.post("/token", data=data, auth=(client_id, client_secret))  # Basic replaces admin
        if response.status_code >= 400:
            raise OpAuthError(response)
        return str(response.json()["access_token"])


class LiveServer:
    """One mock served by uvicorn in a daemon thread on a socket bound before the thread starts."""

    def __init__(self, config: Config, port: int = 0, **settings: Any) -> None:
        if "host" in settings:
            raise TypeError("run_server always listens on 127.0.0.1")
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted sockets only when the proto
        # says TCP, and without it every small response waits ~40 ms for a delayed ACK (Nagle).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((HOST, port))
            self.port: int = self._sock.getsockname()[1]
            self.settings = Settings(**{**settings, "host": HOST, "port": self.port})
            if self.settings.scenario and self.settings.scenario not in config.scenarios:
                raise ValueError(f"unknown scenario {self.settings.scenario!r}")
            self.app = create_app(config, self.settings)
        except BaseException:
            self._sock.close()
            raise
        self.url = f"http://{HOST}:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # log_config=None: an embedded server leaves the host program's logging alone.
        uv_config = uvicorn.Config(self.app, log_config=None, log_level="warning", access_log=False,
                                   lifespan="off", ws="none", timeout_graceful_shutdown=GRACE)
        self._server = server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self._sock]},
                                        name=f"mock-op-auth:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mock-op-auth did not start on {self.url}")
            time.sleep(0.0005)  # waiting for the thread to listen, not for the mock's time

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(STOP_TIMEOUT)
        self._sock.close()
        _join_finished_workers()


def _join_finished_workers() -> None:
    """Join AnyIO's worker threads whose event loop is closed (FastAPI runs sync dependencies there).

    They are told to stop when their loop's main task ends and exit a moment later; joining
    them here means no thread outlives the block. Workers of loops still running are left alone.
    """
    for thread in threading.enumerate():
        loop = getattr(thread, "loop", None)
        if thread.name == "AnyIO worker thread" and loop is not None and loop.is_closed():
            thread.join(STOP_TIMEOUT)


def load_config(fixtures: FixturePaths | None = None, config: Config | None = None) -> Config:
    """The fixture to serve: ``config`` as given, else the files at ``fixtures``, else the embedded default."""
    if fixtures is not None and config is not None:
        raise TypeError("give fixtures or config, not both")
    if config is not None:
        return config
    if fixtures is None:
        return load_default()
    paths = [fixtures] if isinstance(fixtures, str | Path) else list(fixtures)
    return load_fixtures(*paths)


@contextmanager
def run_server(fixtures: FixturePaths | None = None, port: int = 0, config: Config | None = None,
               **settings: Any) -> Iterator[OpAuth]:
    """Serve a mock on 127.0.0.1 (``port`` 0: a free one) for the duration of the block.

    ``fixtures``: a fixture file or directory (or several); ``config``: a ready Config instead;
    neither: the embedded default fixture. ``settings``: Settings fields (``issuer``,
    ``scenario``, ``admin_token``, ...). Yields the ``OpAuth`` helper; on exit the server stops,
    its thread is joined and its port released.
    """
    live = LiveServer(load_config(fixtures, config), port, **settings)
    live.start()
    try:
        with OpAuth(live.url, issuer=live.settings.issuer, admin_token=live.settings.admin_token) as helper:
            yield helper
    finally:
        live.stop()
