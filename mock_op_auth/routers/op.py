"""OP's PSD2 front channel and APIs around it (op-auth.md §4):

- GET /oauth/authorize: signed request object, ``code`` or ``code id_token`` (``core/psd2.py``)
- GET /oauth/jwks/PSD2_OIDC: the keys that verify the ID tokens
- POST /accounts-psd2/v1/authorizations, GET/DELETE .../{authorizationId}: AIS intents
- POST /tpp-registration/register: dynamic registration of a TPP (``core/registration.py``)
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import Response

from mock_op_auth.call import Call
from mock_op_auth.config.schema import TokenAction
from mock_op_auth.core.clients import secrets_equal
from mock_op_auth.core.issuer import Env
from mock_op_auth.core.psd2 import IntentService, Psd2Authorizer, Psd2AuthorizeRequest, intent_body
from mock_op_auth.core.registration import Registration, RegistrationService
from mock_op_auth.deps import server_of
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.base import NO_STORE, authorize_error, json_response, redirect_with
from mock_op_auth.dialects.psd2 import api_error
from mock_op_auth.errors import (
    AccessDeniedError,
    InsufficientScopeError,
    InvalidApiKeyError,
    InvalidRequestError,
    MissingApiKeyError,
    OAuthError,
)
from mock_op_auth.routers.discovery import DocumentHandler
from mock_op_auth.runner import Facts, run
from mock_op_auth.server import Server
from mock_op_auth.store import Intent

INTENTS = "/accounts-psd2/v1/authorizations"


def psd2_authorizer(server: Server) -> Psd2Authorizer:
    return Psd2Authorizer(server.authorizer, IntentService(server.store, server.clock), server.issuer, server.clock)


class Psd2AuthorizeHandler:
    """One per request: it remembers the intent, so a denial (a scenario's ``access_denied``)
    can mark that intent ``Rejected`` when the error is rendered."""

    endpoint = "authorize"
    dialect = DIALECTS["psd2"]

    def __init__(self) -> None:
        self._denied: tuple[Server, str] | None = None

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Psd2AuthorizeRequest]:
        req = psd2_authorizer(server).check(call, env)
        self._denied = (server, req.intent_id)
        return Facts(req.base.client_id, None, req.base.scope, req.base.user, req.base.redirect), req

    def act(self, server: Server, checked: Psd2AuthorizeRequest, env: Env, override: TokenAction | None) -> Response:
        result = psd2_authorizer(server).act(checked, env, override)
        return redirect_with(result.uri, result.params, result.response_mode)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        if err.code == "access_denied" and self._denied is not None:
            server, intent_id = self._denied
            psd2_authorizer(server).reject(intent_id)
        return authorize_error(err, issuer)


class IntentsHandler:
    """The AIS intent API: a bearer token of the owning client, its x-api-key, scope ``accounts``."""

    endpoint = "intents"
    dialect = DIALECTS["psd2"]

    def __init__(self, action: Literal["create", "get", "delete"], intent_id: str | None = None) -> None:
        self.action = action
        self.intent_id = intent_id or ""

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Intent]:
        info = server.bearer.validate(call.bearer, server.issuers(env.issuer), server.audiences(env.issuer))
        given = call.header("x-api-key")
        if not given:
            raise MissingApiKeyError()
        client = env.config.clients.get(info.client_id)
        if client is None or not client.api_key or not secrets_equal(given, client.api_key):
            raise InvalidApiKeyError()
        if "accounts" not in info.scope:
            raise InsufficientScopeError("accounts")
        facts = Facts(info.client_id, None, info.scope)
        intents = IntentService(server.store, server.clock)
        if self.action != "create":
            return facts, intents.get(self.intent_id, info.client_id)
        if info.grant_id is not None or info.subject != info.client_id:
            raise AccessDeniedError("an authorization is created with a client-credentials token")
        if call.body and call.content_type != "application/json":
            raise InvalidRequestError("the body must be application/json")
        return facts, intents.new(info.client_id, call.json(), env.server.psd2)

    def act(self, server: Server, checked: Intent, env: Env, override: TokenAction | None) -> Response:
        if self.action == "create":
            server.store.put_intent(checked)
            return json_response(intent_body(checked), 201, NO_STORE)
        if self.action == "get":
            return json_response(intent_body(checked), headers=NO_STORE)
        IntentService(server.store, server.clock).revoke(checked)
        return Response(status_code=204, headers=NO_STORE)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return api_error(err)


class RegisterHandler:
    endpoint = "register"
    dialect = DIALECTS["psd2"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Registration]:
        reg = RegistrationService(server.store, server.clock).check(call, env)
        return Facts(None, None, tuple(reg.client.scopes)), reg

    def act(self, server: Server, checked: Registration, env: Env, override: TokenAction | None) -> Response:
        body = RegistrationService(server.store, server.clock).act(checked)
        return json_response(body, 201, NO_STORE)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return self.dialect.render_error(err)


def build_router() -> APIRouter:
    router = APIRouter(tags=["op"])
    jwks = DocumentHandler("jwks", lambda server, issuer: server.keys.jwks())
    register = RegisterHandler()

    @router.get("/oauth/authorize", summary="OP PSD2 authorization endpoint (signed request object)",
                response_model=None, response_class=Response)
    async def psd2_authorize(request: Request) -> Any:
        return await run(server_of(request), request, Psd2AuthorizeHandler())

    @router.get("/oauth/jwks/PSD2_OIDC", summary="OP PSD2 ID-token keys", response_model=None)
    async def psd2_jwks(request: Request) -> Any:
        return await run(server_of(request), request, jwks)

    @router.post(INTENTS, summary="Create an AIS authorization (intent)", response_model=None)
    async def create_intent(request: Request) -> Any:
        return await run(server_of(request), request, IntentsHandler("create"))

    @router.get(INTENTS + "/{authorization_id}", summary="Read an AIS authorization", response_model=None)
    async def read_intent(authorization_id: str, request: Request) -> Any:
        return await run(server_of(request), request, IntentsHandler("get", authorization_id))

    @router.delete(INTENTS + "/{authorization_id}", summary="Revoke an AIS authorization", response_model=None)
    async def revoke_intent(authorization_id: str, request: Request) -> Any:
        return await run(server_of(request), request, IntentsHandler("delete", authorization_id))

    @router.post("/tpp-registration/register", summary="OP PSD2 TPP registration", response_model=None)
    async def tpp_register(request: Request) -> Any:
        return await run(server_of(request), request, register)

    return router
