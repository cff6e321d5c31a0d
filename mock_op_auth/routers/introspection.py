"""POST /introspect (RFC 7662) and POST /revoke (RFC 7009); both need client authentication.
The rules are ``oauth/introspection.py``'s."""

from __future__ import annotations

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import NO_STORE, json_response
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.introspection import token_param
from mock_op_auth.oauth.request import Call
from mock_op_auth.server import Server


class IntrospectHandler(BaseHandler[str]):
    endpoint = "introspect"
    dialect = DIALECTS["rfc"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, str]:
        client = server.client_auth.authenticate(call, env.config.clients, allow_public=False)
        return Facts(client.client_id), token_param(call)

    def act(self, server: Server, checked: str, env: Env, override: TokenAction | None) -> Response:
        body = server.introspection.introspect(checked, env.issuer, server.issuers(env.issuer))
        return json_response(body, headers=NO_STORE)


class RevokeHandler(BaseHandler[tuple[str, str]]):
    endpoint = "revoke"
    dialect = DIALECTS["rfc"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[str, str]]:
        client = server.client_auth.authenticate(call, env.config.clients)
        return Facts(client.client_id), (client.client_id, token_param(call))

    def act(self, server: Server, checked: tuple[str, str], env: Env, override: TokenAction | None) -> Response:
        client_id, token = checked
        server.introspection.revoke(client_id, token, server.issuers(env.issuer))
        return Response(status_code=200, headers=NO_STORE)  # unknown tokens too (RFC 7009 §2.2)
