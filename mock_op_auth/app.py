"""create_app(config): one independent mock server as an ASGI app; no module-level state."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_op_auth import __version__, watch
from mock_op_auth.call import MAX_BODY_BYTES
from mock_op_auth.config.loader import load_default
from mock_op_auth.config.schema import Config
from mock_op_auth.dialects.base import json_response
from mock_op_auth.routers import (
    authorize,
    control,
    discovery,
    introspection,
    op,
    op_token,
    resources,
    token,
    ui,
    userinfo,
)
from mock_op_auth.server import Server
from mock_op_auth.settings import Settings

log = logging.getLogger("mock_op_auth")


class ControlBodyLimit:
    """Refuse control-API bodies over the limit before FastAPI reads them (protocol routes bound
    their own bodies in ``call.read_body`` so they can answer in their dialect)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/_mock"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        # Buffer the (small) control body so a chunked one past the limit also gets its 413.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = json_response({"error": "invalid_request",
                                  "error_description": f"the request body is larger than {self.limit} bytes"}, 413)
        await response(scope, receive, send)


def create_app(config: Config | None = None, settings: Settings | None = None, *,
               server: Server | None = None) -> FastAPI:
    """Build one mock: ``config`` is the fixture (default: the embedded one)."""
    settings = settings or Settings()
    server = server or Server(config or load_default(), settings)
    app = FastAPI(title="mock-op-auth", version=__version__,
                  description="Scenario-driven mock of OP's OAuth 2.0 / OpenID Connect authorization server",
                  docs_url="/_mock/docs", redoc_url=None, openapi_url="/_mock/openapi.json",
                  swagger_ui_oauth2_redirect_url="/_mock/docs/oauth2-redirect",
                  lifespan=watch.lifespan(server, settings))
    app.state.server = server
    # Routers whose routes have no dependencies (token, resources) are added route by route:
    # FastAPI matches an included router through per-request include contexts, and with no
    # dependencies there is nothing for app.dependency_overrides to reach. Routes are tried in
    # order, busiest first (no two overlap; the resource catch-all stays last). docs/performance.md
    for module in (token, op_token, introspection, userinfo, discovery, authorize, op, control, ui, resources):
        router = module.build_router()
        if all(isinstance(route, APIRoute) and not route.dependant.dependencies for route in router.routes):
            app.router.routes.extend(router.routes)
        else:
            app.include_router(router)
    resources.install_fast_path(app.router.routes)
    app.add_middleware(ControlBodyLimit)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code,
                                                                                       "invalid_request")
        return json_response({"error": code, "error_description": str(exc.detail)}, exc.status_code,
                             dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return json_response({"error": "invalid_request",
                              "error_description": "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}"
                                                             for p in problems),
                              "problems": json.loads(json.dumps(problems, default=str))}, 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error at %s %s", request.method, request.url.path)
        return json_response({"error": "server_error", "error_description": "internal error"}, 500)

    return app
