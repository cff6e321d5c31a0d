"""POST /token (RFC 6749 §3.2). OP's token paths are more routes over the same handler with
another dialect and grant list (``TokenHandler(dialect, grants)``, ``routers/op_token.py``).
Only ``/token`` takes DPoP proofs (``dpop=True``): OP's own paths do not."""

from __future__ import annotations

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import Dialect
from mock_op_auth.errors import InvalidRequestError
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.grants import RFC_GRANTS, TokenRequest
from mock_op_auth.oauth.request import FORM_TYPE, Call
from mock_op_auth.oauth.tokens import TokenService
from mock_op_auth.server import Server

ALL_GRANTS = RFC_GRANTS


class TokenHandler(BaseHandler[TokenRequest]):
    endpoint = "token"

    def __init__(self, dialect: Dialect, grants: tuple[str, ...] = ALL_GRANTS, *, dpop: bool = False) -> None:
        self.dialect = dialect
        self.grants = grants
        self.dpop = dpop

    def service(self, server: Server) -> TokenService:
        """The grant table this path runs on (OP's PSD2 path has its own jwt-bearer grant)."""
        return server.tokens

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, TokenRequest]:
        if call.method != "POST":
            raise InvalidRequestError("the token endpoint takes POST")
        if call.body and call.content_type != FORM_TYPE:
            raise InvalidRequestError("the body must be application/x-www-form-urlencoded")
        req = self.service(server).check(call, env, self.dialect.grant_type(call), self.grants, dpop=self.dpop)
        return Facts(req.client_id, req.grant_type, req.scope, req.user), req

    def act(self, server: Server, checked: TokenRequest, env: Env, override: TokenAction | None) -> Response:
        return self.dialect.token_response(self.service(server).act(checked, env, override))
