"""GET/POST /authorize (RFC 6749 §4.1.1, OIDC Core §3.1.2.1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mock_op_auth.call import Call
from mock_op_auth.config.schema import TokenAction
from mock_op_auth.core.authorize import AuthorizeRequest
from mock_op_auth.core.issuer import Env
from mock_op_auth.deps import ServerDep
from mock_op_auth.dialects import DIALECTS, Dialect
from mock_op_auth.dialects.base import authorize_error, redirect_with
from mock_op_auth.errors import OAuthError
from mock_op_auth.runner import Facts, run
from mock_op_auth.server import Server


class AuthorizeHandler:
    endpoint = "authorize"

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, AuthorizeRequest]:
        req = server.authorizer.check(call, env)
        return Facts(req.client_id, None, req.scope, req.user, req.redirect), req

    def act(self, server: Server, checked: AuthorizeRequest, env: Env, override: TokenAction | None) -> Response:
        result = server.authorizer.act(checked, env, override)
        return redirect_with(result.uri, result.params, result.response_mode)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return authorize_error(err, issuer)


def build_router() -> APIRouter:
    router = APIRouter(tags=["oauth"])
    handler = AuthorizeHandler(DIALECTS["rfc"])

    # One route per method: a multi-method route gives OpenAPI one operation id twice.
    spec: dict[str, Any] = {"summary": "Authorization endpoint (RFC 6749 §3.1)", "response_model": None,
                            "response_class": Response,
                            "responses": {302: {"description": "back to the client's redirect_uri"},
                                          400: {"description": "an error page: unknown client or redirect_uri"}}}

    @router.get("/authorize", **spec)
    @router.post("/authorize", **spec)
    async def authorize(request: Request, server: ServerDep) -> Any:
        return await run(server, request, handler)

    return router
