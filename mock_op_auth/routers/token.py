"""POST /token (RFC 6749 §3.2). OP's token paths are more routes over the same handler with
another dialect and grant list (``TokenHandler(dialect, grants)``, ``routers/op_token.py``)."""

from __future__ import annotations

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import Dialect
from mock_op_auth.errors import InvalidRequestError
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.grants import RFC_GRANTS, TokenRequest
from mock_op_auth.oauth.request import FORM_TYPE, Call
from mock_op_auth.server import Server

ALL_GRANTS = RFC_GRANTS


class TokenHandler(BaseHandler[TokenRequest]):
    endpoint = "token"

    def __init__(self, dialect: Dialect, grants: tuple[str, ...] = ALL_GRANTS) -> None:
        self.dialect = dialect
        self.grants = grants

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, TokenRequest]:
        if call.method != "POST":
            raise InvalidRequestError("the token endpoint takes POST")
        if call.body and call.content_type != FORM_TYPE:
            raise InvalidRequestError("the body must be application/x-www-form-urlencoded")
        req = server.tokens.check(call, env, self.dialect.grant_type(call), self.grants)
        return Facts(req.client_id, req.grant_type, req.scope, req.user), req

    def act(self, server: Server, checked: TokenRequest, env: Env, override: TokenAction | None) -> Response:
        return self.dialect.token_response(server.tokens.act(checked, env, override))
