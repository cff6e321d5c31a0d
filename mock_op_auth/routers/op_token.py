"""OP's token paths: the same token service as POST /token, another dialect and grant list each.

- POST /auth/v2/accesstoken: OP's general APIs (Apigee Edge): ``grant_type`` in the query or
  body, Apigee's response and error texts (op-auth.md §2.1, §3.1).
- POST /oauth/token: OP's PSD2 profile: ``x-api-key`` equal to the client's API key,
  client_secret_post, client credentials with ``scope=accounts|payments``, and the jwt-bearer
  exemption grant; codes and refresh tokens only while their intent stands (op-auth.md §4.2).
- POST /corporate-oidc/v1/token: OP's Corporate Banking APIs: client credentials, RFC shape.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mock_op_auth.call import Call
from mock_op_auth.config.schema import OIDC_SCOPES, TokenAction
from mock_op_auth.core.clients import secrets_equal
from mock_op_auth.core.exemption import JWT_BEARER
from mock_op_auth.core.grants import TokenRequest
from mock_op_auth.core.issuer import Env
from mock_op_auth.core.psd2 import IntentService
from mock_op_auth.deps import server_of
from mock_op_auth.dialects import ApigeeDialect, Psd2Dialect
from mock_op_auth.dialects.rfc import RfcDialect
from mock_op_auth.errors import (
    InvalidApiKeyError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    MissingApiKeyError,
)
from mock_op_auth.routers.token import ALL_GRANTS, TokenHandler
from mock_op_auth.runner import Facts, run
from mock_op_auth.server import Server

PSD2_GRANTS = (*ALL_GRANTS, JWT_BEARER)
PSD2_CLIENT_CREDENTIALS_SCOPES = ("accounts", "payments")


class ApigeeTokenHandler(TokenHandler):
    """Apigee's checks and error texts around the shared grants (op-auth.md §3.1)."""

    dialect: ApigeeDialect

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, TokenRequest]:
        if call.basic is None and call.form_param("client_id") is None:
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
        dialect = self.dialect.configured(env.server)
        try:
            issued = server.tokens.act(checked, env, override)
        except InvalidGrantError as err:
            raise self._apigee_grant_error(None, checked.grant_type, err) from None
        if env.server.apigee.extra_fields:
            name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mock-op-auth:{checked.client_id}"))
            products = [s for s in checked.client.client.scopes if s not in OIDC_SCOPES]
            extras = dialect.extras(issued, name, products)
            issued = replace(issued, extra_fields={**extras, **issued.extra_fields})
        return dialect.token_response(issued)

    @staticmethod
    def _apigee_grant_error(call: Call | None, grant_type: str, err: InvalidGrantError) -> InvalidGrantError:
        if grant_type == "refresh_token":
            return InvalidGrantError("Invalid Refresh Token")
        if call is not None and err.description.startswith("redirect_uri"):
            return InvalidGrantError(f"Invalid redirect_uri : {call.form_param('redirect_uri')}")
        if grant_type == "authorization_code":
            return InvalidGrantError("Invalid Authorization Code")
        return err


class Psd2TokenHandler(TokenHandler):
    """OP's PSD2 token endpoint: x-api-key, client_secret_post, intent-bound codes (op-auth.md §4.2)."""

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, TokenRequest]:
        api_key = call.header("x-api-key")
        if not api_key:
            raise MissingApiKeyError()
        facts, req = super().check(server, call, env)
        if req.client.method != "client_secret_post":
            raise InvalidClientError("send client_id and client_secret in the form body (client_secret_post)")
        expected = req.client.client.api_key
        if not expected or not secrets_equal(api_key, expected):
            raise InvalidApiKeyError("x-api-key does not match the client's API key")
        if req.grant_type == "client_credentials" and (
                len(req.scope) != 1 or req.scope[0] not in PSD2_CLIENT_CREDENTIALS_SCOPES):
            raise InvalidScopeError("client credentials take scope accounts or payments")
        bound = req.code or req.grant  # a code or a refresh token lives only while its intent is Authorized
        intent_id = bound.extra_claims.get("authorizationId") if bound is not None else None
        if intent_id and req.grant_type in ("authorization_code", "refresh_token"):
            intent = IntentService(server.store, server.clock).current(str(intent_id))
            if intent is not None and intent.status != "Authorized":
                raise InvalidGrantError(f"the authorization is {intent.status}")
        return facts, req

    def act(self, server: Server, checked: TokenRequest, env: Env, override: TokenAction | None) -> Response:
        issued = server.tokens.act(checked, env, override)
        if checked.grant_type == "authorization_code" and checked.code is not None:
            intent_id = checked.code.extra_claims.get("authorizationId")
            redeemed = server.store.get_code(checked.code.code)
            if intent_id and redeemed is not None and redeemed.grant_id is not None:
                IntentService(server.store, server.clock).link_grant(str(intent_id), redeemed.grant_id)
        return self.dialect.token_response(issued)


def build_router() -> APIRouter:
    router = APIRouter(tags=["op"])
    apigee = ApigeeTokenHandler(ApigeeDialect())
    psd2 = Psd2TokenHandler(Psd2Dialect(), PSD2_GRANTS)
    corporate = TokenHandler(RfcDialect(), ("client_credentials",))

    @router.post("/auth/v2/accesstoken", summary="OP general APIs token endpoint (Apigee Edge)",
                 response_model=None)
    async def apigee_token(request: Request) -> Any:
        return await run(server_of(request), request, apigee)

    @router.post("/oauth/token", summary="OP PSD2 token endpoint", response_model=None)
    async def psd2_token(request: Request) -> Any:
        return await run(server_of(request), request, psd2)

    @router.post("/corporate-oidc/v1/token", summary="OP Corporate Banking APIs token endpoint",
                 response_model=None)
    async def corporate_token(request: Request) -> Any:
        return await run(server_of(request), request, corporate)

    return router
