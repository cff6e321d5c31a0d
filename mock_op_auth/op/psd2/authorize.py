"""GET /oauth/authorize, OP's PSD2 authorization request (op-auth.md §4; OIDC Core §6.1, FAPI /
Open Banking UK): a signed request object verified against the client's JWKS, naming an
``authorizationId`` intent that must be ``Unauthorized``; ``code`` or the hybrid ``code id_token``
with ``c_hash``/``s_hash``. Approving authorizes the intent; ``reject`` is the PSU's no.

It reuses ``AuthorizeService`` for redirect-URI trust and codes, and adds only what PSD2 needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mock_op_auth.config.schema import Client, TokenAction
from mock_op_auth.errors import (
    InvalidRequestError,
    InvalidScopeError,
    OAuthError,
    Redirect,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from mock_op_auth.oauth import pkce
from mock_op_auth.oauth.authorize import AuthorizeRequest, AuthorizeService, RedirectResult, known_client, resolve_user
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.issuer import Subject, TokenIssuer
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.op.psd2.client_jwt import InvalidRequestObjectError, check_client_jwt, requested_acr, requested_intent
from mock_op_auth.op.psd2.intents import IntentService
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import verify_with_jwks

HYBRID = "code id_token"
RESPONSE_TYPES = ("code", HYBRID)
REQUEST_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "response_mode",
                  "login_hint", "code_challenge", "code_challenge_method")


@dataclass(frozen=True)
class Psd2AuthorizeRequest:
    base: AuthorizeRequest
    response_type: str
    intent_id: str
    acr: str


class Psd2Authorizer:
    """GET /oauth/authorize: verify the request object, check the intent, answer code (id_token)."""

    def __init__(self, authorizer: AuthorizeService, intents: IntentService, issuer: TokenIssuer,
                 clock: Clock) -> None:
        self.authorizer = authorizer
        self.intents = intents
        self.issuer = issuer
        self.clock = clock

    def request_object(self, call: Call, env: Env) -> tuple[str, Client, dict[str, Any]]:
        """The verified request object and its client; a failure here is shown to the user."""
        query = call.query_dict()
        client_id, client = known_client(query, env)
        raw = query.get("request")
        if not raw:
            raise InvalidRequestError("request (a signed request object) is required")
        if not client.jwks:
            raise InvalidRequestObjectError("the client has no registered keys to verify its request object")
        try:
            claims = verify_with_jwks(raw, client.jwks)
        except OAuthError as err:
            raise InvalidRequestObjectError(f"the request object does not verify: {err.description}") from None
        check_client_jwt(claims, client_id, env, self.clock.now())
        return client_id, client, claims

    def check(self, call: Call, env: Env) -> Psd2AuthorizeRequest:
        client_id, client, claims = self.request_object(call, env)
        params = call.query_dict()
        params.update({k: str(claims[k]) for k in REQUEST_PARAMS if isinstance(claims.get(k), str | int)})
        params["client_id"] = client_id
        response_type = params.get("response_type", "")
        params.setdefault("response_mode", "fragment" if response_type == HYBRID else "query")
        _, redirect, sent = self.authorizer.trusted_redirect(params, env)
        try:
            return self._check(params, claims, env, client, redirect, sent)
        except OAuthError as err:
            err.redirect = redirect
            raise

    def _check(self, params: dict[str, str], claims: dict[str, Any], env: Env, client: Client,
               redirect: Redirect, sent: str | None) -> Psd2AuthorizeRequest:
        response_type = params.get("response_type")
        if not response_type:
            raise InvalidRequestError("response_type is required")
        if response_type not in RESPONSE_TYPES:
            raise UnsupportedResponseTypeError(f"unsupported response_type {response_type}")
        mode = params["response_mode"]
        if mode not in ("query", "fragment") or (response_type == HYBRID and mode != "fragment"):
            raise InvalidRequestError(f"response_mode {mode} cannot carry response_type {response_type}")
        if "authorization_code" not in client.grant_types:
            raise UnauthorizedClientError("this client may not use the authorization_code grant")
        scope = parse_scope(params.get("scope")) or ()
        check_allowed(scope, client.scopes)
        if "openid" not in scope or not {"accounts", "payments"} & set(scope):
            raise InvalidScopeError("scope must be openid with accounts or payments")
        nonce = params.get("nonce")
        if response_type == HYBRID and not nonce:
            raise InvalidRequestError("nonce is required with response_type code id_token")
        intent_id = requested_intent(claims)
        if intent_id is None:
            raise InvalidRequestError("the request object asks for no authorizationId claim")
        intent = self.intents.current(intent_id)
        if intent is None or intent.client_id != params["client_id"]:
            raise InvalidRequestError(f"unknown authorizationId {intent_id[:64]}")
        if intent.status != "Unauthorized":
            raise InvalidRequestError(f"the authorization is {intent.status}, not Unauthorized")
        challenge, method = pkce.check_challenge(params.get("code_challenge"), params.get("code_challenge_method"),
                                                 required=client.require_pkce)
        user, subject = resolve_user(params.get("login_hint"), env)
        acr = requested_acr(claims)
        base = AuthorizeRequest(params["client_id"], redirect, sent, scope, subject, user, nonce, challenge, method,
                                extra_claims={"authorizationId": intent.id, "acr": acr})
        return Psd2AuthorizeRequest(base, response_type, intent.id, acr)

    def act(self, req: Psd2AuthorizeRequest, env: Env, override: TokenAction | None) -> RedirectResult:
        """Authorize the intent and issue the code (and, hybrid, an ID token with c_hash and s_hash)."""
        intent = self.intents.current(req.intent_id)
        if intent is None or intent.status != "Unauthorized":
            raise InvalidRequestError("the authorization is no longer Unauthorized", redirect=req.base.redirect)
        now = self.clock.now()
        self.intents.set_status(intent, "Authorized", authorized_at=now, subject=req.base.subject,
                               user=req.base.user)
        result = self.authorizer.act(req.base, env, override)
        if req.response_type == HYBRID:
            hashes = {"c_hash": result.params["code"]}
            if req.base.redirect.state is not None:
                hashes["s_hash"] = req.base.redirect.state
            who = Subject(req.base.client_id, req.base.subject, req.base.user, req.base.scope, None, int(now),
                          req.base.extra_claims)
            result.params["id_token"] = self.issuer.id_token(who, issuer=env.issuer, server_config=env.server_config,
                                                             user_claims={}, nonce=req.base.nonce, hashes=hashes,
                                                             override=override)
        return result

    def reject(self, intent_id: str) -> None:
        """The PSU said no: the intent is Rejected (OP's status), if it was still waiting."""
        intent = self.intents.current(intent_id)
        if intent is not None and intent.status == "Unauthorized":
            self.intents.set_status(intent, "Rejected")
