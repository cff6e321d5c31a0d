"""The resource-server stub: routes from the fixture's ``resources``, protected by bearer tokens
(RFC 6750), scopes, and optionally OP's ``x-api-key``. Routes are matched at request time
against the current fixture, so ``--watch`` reloads them with everything else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, compile_path
from starlette.types import Receive, Scope, Send

from mock_op_auth.call import Call, path_of
from mock_op_auth.config.schema import Config, Resource, TokenAction
from mock_op_auth.core.bearer import TokenInfo
from mock_op_auth.core.clients import secrets_equal
from mock_op_auth.core.issuer import Env
from mock_op_auth.deps import server_of
from mock_op_auth.dialects import DIALECTS, Dialect
from mock_op_auth.dialects.base import json_response
from mock_op_auth.errors import InsufficientScopeError, InvalidApiKeyError, MissingApiKeyError
from mock_op_auth.runner import DialectErrors, Facts, raw_response, run
from mock_op_auth.server import Server

CATCH_ALL = "/{path:path}"


@lru_cache(maxsize=4096)
def route_pattern(path: str) -> re.Pattern[str]:
    """A fixture path (``/accounts/{accountId}``) compiled once per distinct path."""
    return compile_path(path)[0]


def find_route(config: Config, method: str, path: str) -> tuple[Resource | None, bool]:
    """The route for ``method path``, and whether the path exists under another method."""
    path_known = False
    for route in config.resources:
        if route_pattern(route.path).match(path):
            if method in route.methods or (method == "HEAD" and "GET" in route.methods):
                return route, True
            path_known = True
    return None, path_known


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: list[BaseRoute], config: Config, scope: Scope) -> set[str]:
    """Every method the request's path is served with, by the server's own routes (asked through
    ``matches``, so that routers FastAPI keeps nested count too) or the fixture's resources.

    Starlette answers 405 only when no route matches in full, and the catch-all below always
    does; and it would name the methods of one route only, while a path may have several
    (``GET`` and ``POST /authorize``). So the catch-all asks here before it says 404."""
    own = [r for r in routes if not isinstance(r, ResourceFastPath) and getattr(r, "path", None) != CATCH_ALL]
    methods = {m for m in METHODS if any(r.matches({**scope, "method": m})[0] == Match.FULL for r in own)}
    for resource in config.resources:
        if route_pattern(resource.path).match(scope["path"]):
            methods.update(resource.methods)
            if "GET" in resource.methods:
                methods.add("HEAD")
    return methods


@dataclass(frozen=True)
class Checked:
    route: Resource
    token: TokenInfo


class ResourceHandler(DialectErrors):
    endpoint = "resource"

    def __init__(self, route: Resource) -> None:
        self.route = route
        self.dialect: Dialect = DIALECTS.get(route.dialect, DIALECTS["rfc"])

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Checked]:
        info = server.bearer.validate(call.bearer, server.issuers(env.issuer), server.audiences(env.issuer))
        if self.route.api_key:
            given = call.header("x-api-key")
            if not given:
                raise MissingApiKeyError()
            client = env.config.clients.get(info.client_id)
            expected = client.api_key if client else None
            if not expected or not secrets_equal(given, expected):
                raise InvalidApiKeyError()
        if missing := [s for s in self.route.scopes if s not in info.scope]:
            raise InsufficientScopeError(" ".join(missing))
        user = env.config.user_key_for(info.subject)
        return Facts(info.client_id, None, info.scope, user), Checked(self.route, info)

    def act(self, server: Server, checked: Checked, env: Env, override: TokenAction | None) -> Response:
        return raw_response(checked.route.response)


class ResourceFastPath(BaseRoute):
    """Tried first: a request for one of the fixture's resource paths goes straight to the stub
    instead of failing every other route's match (that was a third of a resource request).

    A path any of the server's own routes matches is never taken here, so a fixture cannot
    shadow the server; such requests, and unknown paths, fall through to the usual routing and
    the catch-all below answers them exactly as before.
    """

    def __init__(self, reserved: list[re.Pattern[str]]) -> None:
        self.reserved = reserved

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        server: Server = scope["app"].state.server
        path = scope["path"]
        route, _ = find_route(server.config, scope["method"], path)
        if route is None or path.startswith("/_mock") or any(p.match(path) for p in self.reserved):
            return Match.NONE, {}
        return Match.FULL, {"mock_op_auth.resource": route}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await run(server_of(request), request, ResourceHandler(scope["mock_op_auth.resource"]))
        await response(scope, receive, send)


def install_fast_path(routes: list[BaseRoute]) -> None:
    """Put ``ResourceFastPath`` in front of ``routes`` (an app's, fully built)."""
    reserved = [r.path_regex for r in routes if isinstance(r, Route | APIRoute) and r.path != CATCH_ALL]
    routes.insert(0, ResourceFastPath(reserved))


def build_router() -> APIRouter:
    router = APIRouter(tags=["resources"])

    @router.api_route(CATCH_ALL, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                      include_in_schema=False)
    async def resource(request: Request) -> Any:  # the path comes from request.url, unvalidated by FastAPI
        server = server_of(request)
        path = path_of(request)
        route, _ = find_route(server.config, request.method, path)
        if route is None:
            description = f"no route for {request.method} {request.url.path}"
            allowed = allowed_methods(request.app.router.routes, server.config, request.scope)
            if allowed:
                return json_response({"error": "method_not_allowed", "error_description": description}, 405,
                                     {"Allow": ", ".join(sorted(allowed))})
            return json_response({"error": "not_found", "error_description": description}, 404)
        return await run(server, request, ResourceHandler(route))

    return router
