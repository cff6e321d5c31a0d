"""CORS (the Fetch standard's CORS protocol) for browser clients: single-page apps call discovery,
the JWKS, the token paths, userinfo, introspection, revocation and the resource stub from
their own origin (DESIGN §9).

An origin may call when it is one of a client's ``allowed_origins`` (default: the origins of its
``redirect_uris``; a loopback redirect URI, which matches any port, RFC 8252 §7.3, allows its
host on any port too) or of ``server.cors_origins``; any origin with ``server.cors_origins: "*"``.
A request that names no verified client (preflights, discovery, the JWKS, an error before
authentication) is judged against every client's origins; one from a verified client (the runner
puts it in the ASGI scope) against that client's. ``/_mock`` answers only ``server.cors_origins``. The front channel
(``/authorize``, the login form, ``/logout``) is navigated to, never fetched: no CORS there.

A browser request another site started (``Sec-Fetch-Site: cross-site``) that would change the
control plane (``/_mock`` with a method other than GET or HEAD) is refused with 403 unless its
origin is one of ``server.cors_origins``: a reset or a key rotation is a "simple" request, which
any web page could otherwise send to a developer's mock (the answer unread, the effect done).

The allowed origin is reflected, never ``*``; credentials are allowed for origins named in the
fixture, never for ``"*"``; ``null`` and anything not ``scheme://host[:port]`` never match.
Every answer on a CORS path says ``Vary: Origin``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_op_auth.config.schema import Config, check_origin
from mock_op_auth.dialects.responses import json_response
from mock_op_auth.http.deps import SERVER
from mock_op_auth.http.runner import CLIENT_KEY
from mock_op_auth.oauth.clients import LOOPBACK_HOSTS
from mock_op_auth.server import Server

FRONT_CHANNEL = frozenset({"/authorize", "/authorize/decision", "/oauth/authorize", "/logout"})
CONTROL = "/_mock"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXPOSED = b"WWW-Authenticate, DPoP-Nonce, Retry-After"
METHODS = b"GET, POST, PUT, PATCH, DELETE"
MAX_AGE = b"600"
MAX_POLICIES = 64  # origin policies kept (one per fixture in use: the root's and namespaces')
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Origins:
    """The origins one client (or all of them) may call from."""

    exact: frozenset[str] = frozenset()
    loopback: frozenset[str] = frozenset()  # "http://127.0.0.1": that host on any port

    def allows(self, origin: str) -> bool:
        if origin in self.exact:
            return True
        if not self.loopback:
            return False
        host = urlsplit(origin).hostname or ""
        return f"http://{f'[{host}]' if ':' in host else host}" in self.loopback and origin.startswith("http://")

    def __or__(self, other: Origins) -> Origins:
        return Origins(self.exact | other.exact, self.loopback | other.loopback)


def client_origins(allowed: list[str] | None, redirect_uris: list[str]) -> Origins:
    """A client's ``allowed_origins`` as given, or the origins of its redirect URIs."""
    if allowed is not None:
        return Origins(frozenset(allowed))
    exact, loopback = set(), set()
    for uri in redirect_uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            continue  # a native app's custom scheme has no web origin
        origin = f"{parts.scheme}://{parts.netloc}"
        exact.add(origin)
        host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
        if parts.scheme == "http" and host in LOOPBACK_HOSTS:
            loopback.add(f"http://{host}")
    return Origins(frozenset(exact), frozenset(loopback))


class OriginPolicy:
    """Who may call what, computed once per fixture (a reload or a registration makes a new one)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        cors = config.server.cors_origins
        self.any_origin = cors == "*"
        self.control = Origins(frozenset() if cors == "*" else frozenset(cors))
        self.clients = {cid: client_origins(c.allowed_origins, c.redirect_uris) for cid, c in config.clients.items()}
        union = Origins()
        for origins in self.clients.values():
            union = union | origins
        self.union = union

    def allows(self, origin: str, client_id: str | None, control: bool) -> tuple[bool, bool]:
        """(allowed, with credentials) for ``origin`` calling as ``client_id`` (None: any client)."""
        if not _is_origin(origin):
            return False, False
        if control:
            if self.any_origin:
                return True, False
            named = self.control.allows(origin)
            return named, named
        origins = self.clients.get(client_id, self.union) if client_id is not None else self.union
        if origins.allows(origin) or self.control.allows(origin):
            return True, True
        return self.any_origin, False


def _is_origin(origin: str) -> bool:
    try:
        check_origin(origin)
    except ValueError:
        return False
    return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _allow_headers(requested: str | None) -> bytes:
    """The headers a preflight asked for, when each is a valid header name (RFC 9110 token)."""
    names = [n.strip() for n in (requested or "").split(",") if n.strip()]
    return ", ".join(n for n in names if set(n) <= _TOKEN_CHARS).encode("latin-1")


def _vary(headers: list[tuple[bytes, bytes]], value: bytes) -> None:
    for i, (key, existing) in enumerate(headers):
        if key.lower() == b"vary":
            headers[i] = (key, existing + b", " + value)
            return
    headers.append((b"vary", value))


class CorsEdge:
    """The CORS step of the HTTP edge, an ASGI middleware over the whole app (see the module docstring)."""

    def __init__(self, app: ASGIApp, server: Server) -> None:
        self.app = app
        self.server = server  # the root's; a namespace's Server comes in the scope (http/namespaces.py)
        self._policies: dict[int, OriginPolicy] = {}  # by the id of the config they were built from

    def policy(self, scope: Scope) -> OriginPolicy:
        config = (scope.get(SERVER) or self.server).client_config()
        policy = self._policies.get(id(config))
        if policy is None or policy.config is not config:
            if len(self._policies) >= MAX_POLICIES:
                self._policies.clear()
            policy = self._policies[id(config)] = OriginPolicy(config)
        return policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in FRONT_CHANNEL:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        control = path == CONTROL or path.startswith(CONTROL + "/")
        origin = _header(scope, b"origin")
        if control and scope["method"] not in SAFE_METHODS and _header(scope, b"sec-fetch-site") == "cross-site" \
                and not (origin is not None and self.policy(scope).allows(origin, None, True)[0]):
            response = json_response({"error": "invalid_request", "error_description": "another site may not "
                                      "change the mock; server.cors_origins names the origins that may"}, 403)
            await response(scope, receive, send)
            return
        if origin is None:
            await (self.app(scope, receive, send) if control else self.app(scope, receive, self._varying(send)))
            return
        requested = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested is not None:
            await self._preflight(scope, receive, send, origin, control)
            return
        await self.app(scope, receive, self._answering(scope, send, origin, control))

    async def _preflight(self, scope: Scope, receive: Receive, send: Send, origin: str, control: bool) -> None:
        allowed, credentials = self.policy(scope).allows(origin, None, control)
        if not allowed:
            if control:  # the control plane is no CORS path for this origin: as without CORS
                await self.app(scope, receive, send)
                return
            response = json_response({"error": "invalid_request",
                                      "error_description": "this origin may not call the mock (CORS)"}, 403)
            response.headers["Vary"] = "Origin"
            await response(scope, receive, send)
            return
        headers = [(b"access-control-allow-origin", origin.encode("latin-1")),
                   (b"access-control-allow-methods", METHODS), (b"access-control-max-age", MAX_AGE),
                   (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
                   (b"content-length", b"0")]
        if allow := _allow_headers(_header(scope, b"access-control-request-headers")):
            headers.append((b"access-control-allow-headers", allow))
        if credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _varying(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                _vary(headers, b"Origin")
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

    def _answering(self, scope: Scope, send: Send, origin: str, control: bool) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                allowed, credentials = self.policy(scope).allows(origin, scope.get(CLIENT_KEY), control)
                if allowed:
                    headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
                    headers.append((b"access-control-expose-headers", EXPOSED))
                    if credentials:
                        headers.append((b"access-control-allow-credentials", b"true"))
                if allowed or not control:
                    _vary(headers, b"Origin")
                message = {**message, "headers": headers}
            await send(message)

        return wrapped
