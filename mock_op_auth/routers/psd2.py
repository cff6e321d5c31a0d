"""OP's PSD2 front channel and the APIs around it (op-auth.md §4), the rules in ``op/psd2``:

- GET /oauth/authorize: signed request object, ``code`` or ``code id_token``; with ``login: page``
  the login page, whose answer comes back to POST /oauth/authorize/decision
- POST /accounts-psd2/v1/authorizations, GET/DELETE .../{authorization_id}: AIS intents
- POST /confirmation-of-funds-psd2/v1/authorizations, GET/DELETE .../{authorization_id}: CoF intents
- POST /tpp-registration/register: dynamic registration of a TPP
"""

from __future__ import annotations

from typing import Literal

from starlette.responses import Response

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.psd2 import api_error, business_error
from mock_op_auth.dialects.responses import NO_STORE, authorize_error, json_response
from mock_op_auth.errors import AccessDeniedError, InsufficientScopeError, InvalidRequestError, OAuthError
from mock_op_auth.http.pages import Pages
from mock_op_auth.http.runner import BaseHandler, Facts
from mock_op_auth.oauth.authorize import PendingRequest
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import Call
from mock_op_auth.op.api_key import require_api_key
from mock_op_auth.op.psd2.authorize import Psd2AuthorizeRequest
from mock_op_auth.op.psd2.intents import intent_body
from mock_op_auth.op.psd2.registration import Registration
from mock_op_auth.routers.authorize import Decision, DecisionHandler, redirect_back
from mock_op_auth.server import Server
from mock_op_auth.state.store import Intent

INTENTS = "/accounts-psd2/v1/authorizations"
FUNDS_INTENTS = "/confirmation-of-funds-psd2/v1/authorizations"
PSD2_DECISION_PATH = "/oauth/authorize/decision"


class Psd2AuthorizeHandler(BaseHandler[Psd2AuthorizeRequest]):
    endpoint = "authorize"
    dialect = DIALECTS["psd2"]

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Psd2AuthorizeRequest]:
        req = server.psd2.authorizer.check(call, env)
        return Facts(req.base.client_id, None, req.base.scope, req.base.user, req.base.redirect), req

    def act(self, server: Server, checked: Psd2AuthorizeRequest, env: Env, override: TokenAction | None) -> Response:
        authorizer = server.psd2.authorizer
        if authorizer.needs_page(checked, env):
            return self.pages.login(authorizer.begin(checked, env), env.config, server.local_path(PSD2_DECISION_PATH))
        return redirect_back(authorizer.act(checked, env, override), env)

    def on_error(self, server: Server, checked: Psd2AuthorizeRequest | None, err: OAuthError) -> None:
        """A denial of a checked request (a scenario's ``access_denied``) is the PSU's no: Rejected."""
        if checked is not None and err.code == "access_denied":
            server.psd2.authorizer.reject(checked.intent_id)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return authorize_error(err, issuer)


class Psd2DecisionHandler(DecisionHandler):
    """POST /oauth/authorize/decision: the PSU's Approve or Deny on the login page of a PSD2
    request: the intent is authorized (and the code, hybrid ID token, sent back) or Rejected."""

    @staticmethod
    def answers(pending: PendingRequest) -> bool:
        return "authorizationId" in pending.request.extra_claims

    def act(self, server: Server, checked: Decision, env: Env, override: TokenAction | None) -> Response:
        result = server.psd2.authorizer.finish(checked.pending, checked.approved, env, override)
        return redirect_back(result, env)

    def on_error(self, server: Server, checked: Decision | None, err: OAuthError) -> None:
        """A scenario's ``access_denied`` on the page's answer is the PSU's no too."""
        if checked is not None and err.code == "access_denied":
            server.psd2.authorizer.reject(server.psd2.authorizer.from_pending(checked.pending).intent_id)


class IntentsHandler(BaseHandler[Intent]):
    """An intent API: AIS (``accounts``, journal endpoint ``intents``) or CoF (``fundsconfirmations``,
    endpoint ``funds``): a bearer token of the owning client, its x-api-key and the API's scope;
    an intent is created with a client-credentials token."""

    dialect = DIALECTS["psd2"]

    def __init__(self, action: Literal["create", "get", "delete"],
                 kind: Literal["accounts", "fundsconfirmations"] = "accounts") -> None:
        self.action = action
        self.kind = kind
        self.endpoint = "intents" if kind == "accounts" else "funds"

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Intent]:
        issuers, audiences = server.issuers(env.issuer), server.audiences(env.issuer)
        if self.kind == "accounts":
            info = server.bearer.authorize(call.bearer, call.client_cert, issuers, audiences)
            require_api_key(call, env.config.clients.get(info.client_id))
            if "accounts" not in info.scope:
                raise InsufficientScopeError("accounts")
        else:
            info = server.psd2.access.caller(call, env, issuers, audiences, self.kind).token
        facts = Facts(info.client_id, None, info.scope)
        intents = server.psd2.intents
        if self.action != "create":
            return facts, intents.get(call.path_params.get("authorization_id", ""), info.client_id, self.kind)
        if info.grant_id is not None or info.subject != info.client_id:
            raise AccessDeniedError("an authorization is created with a client-credentials token")
        if call.body and call.content_type != "application/json":
            raise InvalidRequestError("the body must be application/json")
        if self.kind == "fundsconfirmations":
            return facts, intents.new_funds(info.client_id, call.json(), env.server_config.psd2)
        return facts, intents.new(info.client_id, call.json(), env.server_config.psd2)

    def act(self, server: Server, checked: Intent, env: Env, override: TokenAction | None) -> Response:
        if self.action == "create":
            server.store.put_intent(checked)
            return json_response(intent_body(checked), 201, NO_STORE)
        if self.action == "get":
            return json_response(intent_body(checked), headers=NO_STORE)
        server.psd2.intents.revoke(checked)
        return Response(status_code=204, headers=NO_STORE)

    def render_error(self, err: OAuthError, issuer: str) -> Response:
        return api_error(err) if self.kind == "accounts" else business_error(err)


class RegisterHandler(BaseHandler[Registration]):
    endpoint = "register"
    dialect = DIALECTS["psd2"]

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, Registration]:
        reg = server.psd2.registration.check(call, env)
        return Facts(None, None, tuple(reg.client.scopes)), reg

    def act(self, server: Server, checked: Registration, env: Env, override: TokenAction | None) -> Response:
        return json_response(server.psd2.registration.act(checked), 201, NO_STORE)
