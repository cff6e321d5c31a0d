"""OP's token paths: the same token service as POST /token, another dialect and grant list each.

- POST /auth/v2/accesstoken: OP's general APIs (Apigee Edge): ``grant_type`` in the query or
  body, Apigee's response and error texts (op-auth.md §2.1, §3.1).
- POST /oauth/token: OP's PSD2 profile, its rules in ``op/psd2/token_rules.py`` (op-auth.md §4.2).
- POST /corporate-oidc/v1/token: OP's Corporate Banking APIs: client credentials, RFC shape.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from starlette.responses import Response

from mock_op_auth.config.schema import OIDC_SCOPES, TokenAction
from mock_op_auth.dialects import ApigeeDialect
from mock_op_auth.errors import InvalidGrantError, InvalidRequestError
from mock_op_auth.http.runner import Facts
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.grants import CORE_GRANTS, JWT_BEARER, TokenRequest
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.tokens import TokenService
from mock_op_auth.routers.token import TokenHandler
from mock_op_auth.server import Server

APIGEE_GRANTS = CORE_GRANTS
PSD2_GRANTS = (*CORE_GRANTS, JWT_BEARER)  # jwt-bearer here is OP's exemption grant (server.psd2.tokens)


class ApigeeTokenHandler(TokenHandler):
    """Apigee's checks and error texts around the shared grants (op-auth.md §3.1)."""

    dialect: ApigeeDialect

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, TokenRequest]:
        if call.basic is None and call.form_param("client_id") is None and call.form_param("client_assertion") is None:
            raise InvalidRequestError("The request is missing a required parameter : client_id")
        grant_type = self.dialect.grant_type(call)
        if not grant_type:
            raise InvalidRequestError("Required param : grant_type")
        if grant_type == "authorization_code" and call.form_param("redirect_uri") is None:
            raise InvalidRequestError("Required param : redirect_uri")
        try:
            return super().check(server, call, env)
        except InvalidGrantError as err:
            raise self._apigee_grant_error(call, grant_type, err) from None

    def act(self, server: Server, checked: TokenRequest, env: Env, override: TokenAction | None) -> Response:
        dialect = self.dialect.configured(env.server_config)
        try:
            issued = server.tokens.act(checked, env, override)
        except InvalidGrantError as err:
            raise self._apigee_grant_error(None, checked.grant_type, err) from None
        if env.server_config.apigee.extra_fields:
            name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mock-op-auth:{checked.client_id}"))
            products = [s for s in checked.client.client.scopes if s not in OIDC_SCOPES]
            extras = dialect.extras(issued, name, products)
            issued = replace(issued, extra_fields={**extras, **issued.extra_fields})
        return dialect.token_response(issued)

    @staticmethod
    def _apigee_grant_error(call: Call | None, grant_type: str, err: InvalidGrantError) -> InvalidGrantError:
        """Apigee's own texts, chosen by what failed (``err.reason``)."""
        if grant_type == "refresh_token":
            return InvalidGrantError("Invalid Refresh Token", reason=err.reason)
        if call is not None and err.reason == "redirect_uri":
            return InvalidGrantError(f"Invalid redirect_uri : {call.form_param('redirect_uri')}", reason=err.reason)
        if grant_type == "authorization_code":
            return InvalidGrantError("Invalid Authorization Code", reason=err.reason)
        return err


class Psd2TokenHandler(TokenHandler):
    """OP's PSD2 token endpoint: the shared grants with ``server.psd2.token_rules`` around them."""

    def service(self, server: Server) -> TokenService:
        return server.psd2.tokens

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, TokenRequest]:
        api_key = server.psd2.token_rules.before_check(call)
        facts, req = super().check(server, call, env)
        server.psd2.token_rules.check(api_key, req)
        return facts, req

    def act(self, server: Server, checked: TokenRequest, env: Env, override: TokenAction | None) -> Response:
        issued = self.service(server).act(checked, env, override)
        server.psd2.token_rules.after_issue(checked, issued)
        return self.dialect.token_response(issued)
