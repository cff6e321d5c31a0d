"""GET/POST /userinfo (OIDC Core §5.3): the user's claims released by the token's scopes. A
DPoP-bound token comes with the DPoP scheme and a proof (RFC 9449 §7)."""

from __future__ import annotations

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction, User
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.responses import NO_STORE, json_response
from mock_op_auth.errors import InsufficientScopeError
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.bearer import TokenInfo
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.dpop import presented_token
from mock_op_auth.oauth.issuer import claims_for_scope
from mock_op_auth.oauth.request import Call
from mock_op_auth.server import Server


class UserinfoHandler(BaseHandler[tuple[TokenInfo, User | None]]):
    endpoint = "userinfo"
    dialect = DIALECTS["rfc"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, tuple[TokenInfo, User | None]]:
        token, dpop_scheme = presented_token(call, body=True)
        info = server.dpop.token_info(call, server.bearer, token, dpop_scheme, env.server_config,
                                      server.issuers(env.issuer), server.audiences(env.issuer))
        if "openid" not in info.scope:
            err = InsufficientScopeError("openid")
            err.scheme = "DPoP" if dpop_scheme else "Bearer"
            raise err
        key = env.config.user_key_for(info.subject)
        return Facts(info.client_id, None, info.scope, key), (info, env.config.users.get(key) if key else None)

    def act(self, server: Server, checked: tuple[TokenInfo, User | None], env: Env,
            override: TokenAction | None) -> Response:
        info, user = checked
        claims = claims_for_scope(user.claims, info.scope) if user else {}
        if override:
            claims.update(override.claims)
        return json_response({"sub": info.subject, **claims}, headers=NO_STORE)
