"""GET/POST /userinfo (OIDC Core §5.3): the user's claims released by the token's scopes."""

from __future__ import annotations

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction, User
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import NO_STORE, json_response
from mock_op_auth.errors import InsufficientScopeError, InvalidRequestError
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.bearer import TokenInfo
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.issuer import claims_for_scope
from mock_op_auth.oauth.request import Call
from mock_op_auth.server import Server


def bearer_token(call: Call) -> str | None:
    """The access token from the header, or (RFC 6750 §2.2) a form body; never both."""
    header = call.bearer
    body = call.form_param("access_token")
    if header and body:
        raise InvalidRequestError("send the access token once, in the header or the body")
    return header or body


class UserinfoHandler(BaseHandler[tuple[TokenInfo, User | None]]):
    endpoint = "userinfo"
    dialect = DIALECTS["rfc"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[TokenInfo, User | None]]:
        info = server.bearer.authorize(bearer_token(call), call.client_cert, server.issuers(env.issuer),
                                      server.audiences(env.issuer))
        if "openid" not in info.scope:
            raise InsufficientScopeError("openid")
        key = env.config.user_key_for(info.subject)
        return Facts(info.client_id, None, info.scope, key), (info, env.config.users.get(key) if key else None)

    def act(self, server: Server, checked: tuple[TokenInfo, User | None], env: Env,
            override: TokenAction | None) -> Response:
        info, user = checked
        claims = claims_for_scope(user.claims, info.scope) if user else {}
        if override:
            claims.update(override.claims)
        return json_response({"sub": info.subject, **claims}, headers=NO_STORE)
