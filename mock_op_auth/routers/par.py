"""POST /par (RFC 9126 §2): push an authorization request, get a single-use ``request_uri``.
Errors answer as the token endpoint's do (JSON, RFC 6749 §5.2), never as a redirect."""

from __future__ import annotations

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import NO_STORE, json_response
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.par import PushRequest
from mock_op_auth.oauth.request import Call
from mock_op_auth.server import Server


class ParHandler(BaseHandler[PushRequest]):
    endpoint = "par"
    dialect = DIALECTS["rfc"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, PushRequest]:
        req = server.par.check(call, env)
        return Facts(req.request.client_id, None, req.request.scope, req.request.user), req

    def act(self, server: Server, checked: PushRequest, env: Env, override: TokenAction | None) -> Response:
        return json_response(server.par.push(checked, env), 201, NO_STORE)
