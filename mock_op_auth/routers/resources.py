"""The resource-server stub: routes from the fixture's ``resources``, protected by bearer tokens
(RFC 6750) or DPoP-bound ones (RFC 9449 §7), scopes, and optionally OP's ``x-api-key``. Every
401 it answers names its metadata (RFC 9728 §5.1: ``resource_metadata`` in ``WWW-Authenticate``),
whatever the route's dialect.

``ResourceRoute`` is the stub's one entrance, tried before every other route: a request for a
fixture path goes straight to its handler instead of failing every other route's match first
(that was a third of a resource request, docs/performance.md). The fixture's routes are compiled
once per ``Config``, so ``--watch`` reloads them with everything else. A path of the server's own
routes or the control plane is never taken here, so a fixture cannot shadow the server.
``FallbackRoute``, tried last, answers what no route serves in full: 405 with every method the
path has (Starlette's own 405 names one route's methods only), else 404.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, compile_path
from starlette.types import Receive, Scope, Send

from mock_op_auth.config.schema import Config, Resource, TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import REALM, json_response, quote_header, raw_response
from mock_op_auth.dialects.rfc import bearer_challenge
from mock_op_auth.errors import BearerError, InsufficientScopeError, OAuthError
from mock_op_auth.http.call import path_of
from mock_op_auth.http.deps import SERVER
from mock_op_auth.http.runner import BaseHandler, Facts, run
from mock_op_auth.oauth.bearer import TokenInfo
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.discovery import resource_metadata_url
from mock_op_auth.oauth.dpop import presented_token
from mock_op_auth.oauth.request import Call
from mock_op_auth.op.api_key import require_api_key
from mock_op_auth.server import Server

CONTROL_PREFIX = "/_mock"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PARAM = re.compile(r"{[^}]+}")  # a path parameter: a sample value in its place is checked against own paths
log = logging.getLogger("mock_op_auth")


@dataclass(frozen=True)
class Checked:
    route: Resource
    token: TokenInfo


class ResourceHandler(BaseHandler[Checked]):
    """One fixture route: a valid token with the route's scopes (and the client's API key)."""

    endpoint = "resource"

    def __init__(self, route: Resource) -> None:
        self.route = route
        self.dialect = DIALECTS.get(route.dialect, DIALECTS["rfc"])

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Checked]:
        token, dpop_scheme = presented_token(call)
        try:
            info = server.dpop.token_info(call, server.bearer, token, dpop_scheme, env.server_config,
                                          server.issuers(env.issuer), server.audiences(env.issuer))
            if self.route.api_key:
                require_api_key(call, env.config.clients.get(info.client_id))
            if missing := [s for s in self.route.scopes if s not in info.scope]:
                raise InsufficientScopeError(" ".join(missing))
        except BearerError as err:
            if dpop_scheme:
                err.scheme = "DPoP"
            raise
        user = env.config.user_key_for(info.subject)
        return Facts(info.client_id, None, info.scope, user), Checked(self.route, info)

    def act(self, server: Server, checked: Checked, env: Env, override: TokenAction | None) -> Response:
        return raw_response(checked.route.response)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        """The route dialect's error, with the challenge every 401 of the stub carries (RFC 9728
        §5.1) and the DPoP headers a DPoP client needs, whatever the dialect's body."""
        url = resource_metadata_url(issuer) if issuer else None
        if isinstance(err, BearerError):
            err.resource_metadata = url
        response = self.dialect.render_error(err)
        if response.status_code == 401 and "www-authenticate" not in response.headers:
            response.headers["WWW-Authenticate"] = bearer_challenge(err) if isinstance(err, BearerError) else (
                f'Bearer realm="{REALM}"' + (f', resource_metadata="{quote_header(url)}"' if url else ""))
        if err.dpop_nonce and "dpop-nonce" not in response.headers:
            response.headers["DPoP-Nonce"] = err.dpop_nonce
        return response


class ResourceTable:
    """A fixture's resource routes, each compiled once with its handler."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.routes = [(compile_path(r.path)[0], r, ResourceHandler(r)) for r in config.resources]

    def find(self, method: str, path: str) -> ResourceHandler | None:
        """The handler for ``method path``."""
        for pattern, route, handler in self.routes:
            if pattern.match(path) and (method in route.methods or (method == "HEAD" and "GET" in route.methods)):
                return handler
        return None

    def methods(self, path: str) -> set[str]:
        """Every method some fixture route serves ``path`` with (HEAD with GET)."""
        methods: set[str] = set()
        for pattern, route, _ in self.routes:
            if pattern.match(path):
                methods.update(route.methods)
        return methods | ({"HEAD"} if "GET" in methods else set())


class ResourceRoute(BaseRoute):
    """The stub's entrance (see the module docstring); built with its Server and the server's own paths."""

    def __init__(self, server: Server, reserved: list[tuple[str, re.Pattern[str]]]) -> None:
        self.server = server  # the root; a namespace's Server comes in the scope (http/namespaces.py)
        self.static = frozenset(path for path, _ in reserved if "{" not in path)
        self.patterns = [pattern for path, pattern in reserved if "{" in path]
        self._table = self._compile(server.config)
        self._tables: dict[int, ResourceTable] = {}  # namespaces' fixtures, by id of their Config

    def table(self, server: Server) -> ResourceTable:
        config = server.config
        if self._table.config is config:
            return self._table
        if server is self.server:  # a new fixture (--watch, reload)
            self._table = self._compile(config)
            return self._table
        table = self._tables.get(id(config))
        if table is None or table.config is not config:
            if len(self._tables) >= 1024:
                self._tables.clear()
            table = self._tables[id(config)] = self._compile(config)
        return table

    def _compile(self, config: Config) -> ResourceTable:
        """The fixture's table; a resource at one of the mock's own paths is said once, in the log:
        the mock's route answers there, so the resource never would."""
        for resource in config.resources:
            if self.reserved(_PARAM.sub("x", resource.path)):
                log.warning("fixture resource %s %s is never served: the mock answers %s itself",
                            "/".join(sorted(resource.methods)), resource.path, resource.path)
        return ResourceTable(config)

    def reserved(self, path: str) -> bool:
        return path in self.static or path.startswith(CONTROL_PREFIX) or any(p.match(path) for p in self.patterns)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path = scope["path"]
        handler = self.table(scope.get(SERVER) or self.server).find(scope["method"], path)
        if handler is None or self.reserved(path):
            return Match.NONE, {}
        return Match.FULL, {"mock_op_auth.resource": handler}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get(SERVER) or self.server
        response = await run(server, Request(scope, receive), scope["mock_op_auth.resource"])
        await response(scope, receive, send)


class FallbackRoute(BaseRoute):
    """Last of the app's routes: a request no route served in full (see the module docstring)."""

    def __init__(self, resources: ResourceRoute, routes: list[BaseRoute]) -> None:
        self.resources = resources
        self.routes = routes  # the app's own list, read per request: everything mounted before this

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return (Match.FULL, {}) if scope["type"] == "http" else (Match.NONE, {})

    def allowed(self, scope: Scope) -> set[str]:
        """Every method the path is served with, by the server's routes (asked through ``matches``,
        so nested routers count too) or by the fixture's resources."""
        own = [r for r in self.routes if not isinstance(r, ResourceRoute | FallbackRoute)]
        methods = {m for m in METHODS if any(r.matches({**scope, "method": m})[0] == Match.FULL for r in own)}
        if not self.resources.reserved(scope["path"]):
            methods |= self.resources.table(scope.get(SERVER) or self.resources.server).methods(scope["path"])
        return methods

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        description = f"no route for {request.method} {path_of(request)}"
        allowed = self.allowed(scope)
        if allowed:
            response = json_response({"error": "method_not_allowed", "error_description": description}, 405,
                                     {"Allow": ", ".join(sorted(allowed))})
        else:
            response = json_response({"error": "not_found", "error_description": description}, 404)
        await response(scope, receive, send)
