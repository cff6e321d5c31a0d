"""POST /token (RFC 6749 §3.2). OP's token paths are more routes over the same handler with
another dialect and grant list (``TokenHandler(dialect, grants)``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mock_op_auth.call import Call
from mock_op_auth.config.schema import TokenAction
from mock_op_auth.core.grants import TokenRequest
from mock_op_auth.core.issuer import Env
from mock_op_auth.deps import server_of
from mock_op_auth.dialects import DIALECTS, Dialect
from mock_op_auth.errors import InvalidRequestError
from mock_op_auth.runner import DialectErrors, Facts, run
from mock_op_auth.server import Server

ALL_GRANTS = ("authorization_code", "client_credentials", "refresh_token")


class TokenHandler(DialectErrors):
    endpoint = "token"

    def __init__(self, dialect: Dialect, grants: tuple[str, ...] = ALL_GRANTS) -> None:
        self.dialect = dialect
        self.grants = grants

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, TokenRequest]:
        if call.method != "POST":
            raise InvalidRequestError("the token endpoint takes POST")
        if call.body and call.content_type != "application/x-www-form-urlencoded":
            raise InvalidRequestError("the body must be application/x-www-form-urlencoded")
        req = server.tokens.check(call, env, self.dialect.grant_type(call), self.grants)
        return Facts(req.client_id, req.grant_type, req.scope, req.user), req

    def act(self, server: Server, checked: TokenRequest, env: Env, override: TokenAction | None) -> Response:
        return self.dialect.token_response(server.tokens.act(checked, env, override))


def build_router() -> APIRouter:
    router = APIRouter(tags=["oauth"])
    rfc = TokenHandler(DIALECTS["rfc"])

    @router.post("/token", summary="Token endpoint (RFC 6749 §3.2)", response_model=None)
    async def token(request: Request) -> Any:
        return await run(server_of(request), request, rfc)

    return router
