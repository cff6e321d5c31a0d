"""Embedding API (DESIGN §5): a live mock on 127.0.0.1 for pytest, unittest and scripts.

``run_server()`` starts uvicorn in a background thread on a free port and yields an ``OpAuth``
helper; leaving the block stops the server, joins its thread and closes its socket. ``OpAuth``
drives the mock only through its HTTP control API (``/_mock``), the same code a compose user
in any language calls, so it also works against a mock run elsewhere (``OpAuth(url)``).
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import uvicorn

from mock_op_auth.app import create_app
from mock_op_auth.config.loader import load_default, load_fixtures
from mock_op_auth.config.schema import Config
from mock_op_auth.settings import Settings

if TYPE_CHECKING:
    from mock_op_auth.tls.serving import TlsSettings

__all__ = ["LiveServer", "OpAuth", "OpAuthError", "run_server"]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
GRACE = 2  # seconds a request in flight at exit may take before it is cancelled

FixturePaths = str | Path | Sequence[str | Path]


def segment(value: str) -> str:
    """``value`` as one path segment: every reserved character escaped, and ``.``/``..`` too, which
    URL normalisation would otherwise remove (``end_session(".")`` would end every session)."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


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
        ca_file: the mock's CA certificate, to trust an ``https://`` url (``mock-op-auth certs ca``).
    """

    def __init__(self, url: str, *, issuer: str | None = None, admin_token: str | None = None,
                 timeout: float = 10.0, ca_file: str | Path | None = None) -> None:
        self.url = url.rstrip("/")
        self.issuer = (issuer or self.url).rstrip("/")
        self.token_url = f"{self.url}/token"
        self.authorize_url = f"{self.url}/authorize"
        self.jwks_url = f"{self.url}/jwks"
        self.logout_url = f"{self.url}/logout"  # end_session_endpoint (RP-Initiated Logout)
        self.discovery_url = f"{self.url}/.well-known/openid-configuration"
        self.ca_file: str | None = str(ca_file) if ca_file is not None else None
        self._cert_dir: tempfile.TemporaryDirectory[str] | None = None
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._admin_token = admin_token
        self._root: OpAuth | None = None  # the server's helper, when this one is a namespace's
        self.name: str | None = None  # the namespace's name
        # No TLS on http://, so no CA bundle to load (that alone costs tens of milliseconds).
        verify: ssl.SSLContext | bool = self.url.startswith("https://")
        if verify and self.ca_file:
            verify = ssl.create_default_context(cafile=self.ca_file)
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, verify=verify)

    def __enter__(self) -> OpAuth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OpAuth({self.url!r})"

    def close(self) -> None:
        self._http.close()
        if self._cert_dir is not None:
            self._cert_dir.cleanup()
            self._cert_dir = None

    def client_certificate(self, subject: str) -> tuple[str, str]:
        """A client certificate for RFC 4514 ``subject`` issued by the mock's CA (``POST /_mock/certs``),
        written to files kept until ``close``: ``(cert_file, key_file)``, ready for ``httpx``'s ``cert=``."""
        issued = self._call("POST", "/_mock/certs", json={"subject": subject})
        if self._cert_dir is None:
            self._cert_dir = tempfile.TemporaryDirectory(prefix="mock-op-auth-certs-")
        stem = Path(self._cert_dir.name) / hashlib.sha256(subject.encode()).hexdigest()[:16]
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_file.write_text(issued["certificate"])
        key_file.touch(mode=0o600)
        key_file.write_text(issued["private_key"])
        return str(cert_file), str(key_file)

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
                 status: str | None = None, delay_ms: int = 0, times: int | None = None) -> str:
        """Queue a rule, tried before the scenario's (DESIGN §4 rule schema); returns its id.
        ``status``: what the request leaves behind (a PIS submission's status, a token's)."""
        rule: dict[str, Any] = {"match": match or {}, "delay_ms": delay_ms}
        for key, value in (("respond", respond), ("error", error), ("token", token), ("status", status),
                           ("times", times)):
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

    def sessions(self) -> list[dict[str, Any]]:
        """The live login sessions: ``[{"sid", "user", "subject", "clients", "auth_time", "expires_at"}]``."""
        return list(self._call("GET", "/_mock/sessions")["sessions"])

    def end_session(self, sid: str | None = None) -> None:
        """End one login session (``sid``) or all of them, as a logout does: back-channel logout to
        their clients, and with ``server.revoke_on_logout`` their tokens revoked. An unknown sid raises."""
        self._call("DELETE", f"/_mock/sessions/{segment(sid)}" if sid is not None else "/_mock/sessions")

    def namespace(self, name: str | None = None, fixtures: FixturePaths | Config | None = None) -> OpAuth:
        """A namespace of this mock (DESIGN §11): a whole mock of its own under ``/ns/{name}``,
        with ``fixtures`` (files or a Config; default: the server's own). Delete it with ``delete()``."""
        body: dict[str, Any] = {"name": name}
        if fixtures is not None:
            config = fixtures if isinstance(fixtures, Config) else load_config(fixtures)
            body["fixtures"] = config.model_dump(mode="json", by_alias=True, exclude_none=True)
        created = self._call("POST", "/_mock/namespaces", json=body)
        helper = OpAuth(created["url"], issuer=created["issuer"], admin_token=self._admin_token, ca_file=self.ca_file)
        helper._root, helper.name = self, created["name"]
        return helper

    def delete(self) -> None:
        """Delete this namespace and everything in it (a helper from ``namespace()`` only)."""
        if self._root is None or self.name is None:
            raise TypeError("delete() is for a namespace's helper")
        self._root._call("DELETE", f"/_mock/namespaces/{self.name}")

    def approve_device(self, user_code: str, user: str | None = None) -> dict[str, Any]:
        """Approve a device code as ``user`` (default: the user ``login: auto`` picks), as the user would
        on ``/device``; returns ``{"user_code", "status"}``. An unknown code or one already decided
        or expired raises OpAuthError."""
        return dict(self._call("POST", f"/_mock/device/{segment(user_code)}",
                               json={"decision": "approve", "user": user}))

    def deny_device(self, user_code: str) -> dict[str, Any]:
        """Deny a device code: its next poll answers ``access_denied``."""
        return dict(self._call("POST", f"/_mock/device/{segment(user_code)}", json={"decision": "deny"}))

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


FROM_ENVIRONMENT = ("issuer", "scenario", "admin_token")  # the MOCK_OP_AUTH_* settings run_server honours


class LiveServer:
    """One mock served by uvicorn in a daemon thread on a socket bound before the thread starts."""

    def __init__(self, config: Config, port: int = 0, *, tls: bool = False, **settings: Any) -> None:
        if "host" in settings:
            raise TypeError("run_server always listens on 127.0.0.1")
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self.tls: TlsSettings | None = None
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted sockets only when the proto
        # says TCP, and without it every small response waits ~40 ms for a delayed ACK (Nagle).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((HOST, port))
            self.port: int = self._sock.getsockname()[1]
            if tls and not settings.get("tls_dir"):  # a CA of its own, gone with the server
                self._tls_dir = tempfile.TemporaryDirectory(prefix="mock-op-auth-tls-")
                settings["tls_dir"] = self._tls_dir.name
            # Of the environment only these apply (docs/pytest.md): a MOCK_OP_AUTH_STATE set for a
            # compose service would otherwise make every xdist worker's server share one store.
            unset = {name: f.default for name, f in Settings.model_fields.items() if name not in FROM_ENVIRONMENT}
            self.settings = Settings(**{**unset, **settings, "host": HOST, "port": self.port, "tls": tls})
            if self.settings.scenario and self.settings.scenario not in config.scenarios:
                raise ValueError(f"unknown scenario {self.settings.scenario!r}")
            if tls:
                from mock_op_auth.tls.serving import prepare_tls

                self.tls = prepare_tls(self.settings.tls_dir, cert_file=self.settings.tls_cert,
                                       key_file=self.settings.tls_key, client_ca_file=self.settings.tls_client_ca)
            self.app = create_app(config, self.settings, tls=self.tls)
        except BaseException:
            self._sock.close()
            if self._tls_dir is not None:
                self._tls_dir.cleanup()
            raise
        self.url = f"{'https' if tls else 'http'}://{HOST}:{self.port}"
        self.ca_file: str | None = str(self.tls.ca.cert_file) if self.tls else None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # log_config=None: an embedded server leaves the host program's logging alone.
        options: dict[str, Any] = {}
        if self.tls is not None:
            from mock_op_auth.tls.serving import uvicorn_options

            options = uvicorn_options(self.tls)
        uv_config = uvicorn.Config(self.app, log_config=None, log_level="warning", access_log=False,
                                   lifespan="off", ws="none", timeout_graceful_shutdown=GRACE, **options)
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
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None
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
               *, tls: bool = False, **settings: Any) -> Iterator[OpAuth]:
    """Serve a mock on 127.0.0.1 (``port`` 0: a free one) for the duration of the block.

    ``fixtures``: a fixture file or directory (or several); ``config``: a ready Config instead;
    neither: the embedded default fixture. ``settings``: Settings fields (``issuer``,
    ``scenario``, ``admin_token``, ...). Yields the ``OpAuth`` helper; on exit the server stops,
    its thread is joined and its port released. ``tls``: serve HTTPS with a CA of its own (in a
    temporary directory unless ``tls_dir`` is given): ``url`` is ``https://``, ``ca_file`` trusts it.
    """
    live = LiveServer(load_config(fixtures, config), port, tls=tls, **settings)
    live.start()
    try:
        with OpAuth(live.url, issuer=live.settings.issuer, admin_token=live.settings.admin_token,
                    ca_file=live.ca_file) as helper:
            yield helper
    finally:
        live.stop()
