"""GET /oauth/authorize, OP's PSD2 authorization request (op-auth.md §4; OIDC Core §6.1, FAPI /
Open Banking UK): a signed request object verified against the client's JWKS, naming an
``authorizationId`` intent that must be ``Unauthorized`` (a payment bundle: or ``Authorizing``),
and the scope of its API (``openid accounts``, ``openid payments``, ``openid fundsconfirmations``);
``code`` or the hybrid ``code id_token`` with ``c_hash``/``s_hash``. Approving authorizes the
intent; ``reject`` is the PSU's no.

With ``login: page`` (or ``prompt=login``) the PSU answers on the login page, which shows what is
being authorized (a bundle's payees, amounts and messages); a payment bundle is Authorizing,
locked, while the page is open. The page's answer comes back to ``finish``.

It reuses ``AuthorizeService`` for redirect-URI trust, codes and the login page's pending
requests, and adds only what PSD2 needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mock_op_auth.config.schema import Client, TokenAction
from mock_op_auth.errors import (
    AccessDeniedError,
    InvalidRequestError,
    InvalidScopeError,
    OAuthError,
    Redirect,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from mock_op_auth.oauth import pkce
from mock_op_auth.oauth.authorize import (
    AuthorizeRequest,
    AuthorizeService,
    PendingRequest,
    RedirectResult,
    known_client,
    resolve_user,
)
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.issuer import Subject, TokenIssuer
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.op.psd2.accounts import AccountService
from mock_op_auth.op.psd2.client_jwt import InvalidRequestObjectError, check_client_jwt, requested_acr, requested_intent
from mock_op_auth.op.psd2.intents import IntentService
from mock_op_auth.op.psd2.payments import PaymentService
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import verify_with_jwks
from mock_op_auth.state.store import Intent

HYBRID = "code id_token"
RESPONSE_TYPES = ("code", HYBRID)
REQUEST_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "response_mode",
                  "login_hint", "code_challenge", "code_challenge_method", "prompt")
KINDS = ("accounts", "payments", "fundsconfirmations")  # an intent's kind is the scope of its API


@dataclass(frozen=True)
class Psd2AuthorizeRequest:
    base: AuthorizeRequest
    response_type: str
    intent_id: str
    acr: str


class Psd2Authorizer:
    """GET /oauth/authorize: verify the request object, check the intent, answer code (id_token)."""

    def __init__(self, authorizer: AuthorizeService, intents: IntentService, issuer: TokenIssuer,
                 clock: Clock, payments: PaymentService, accounts: AccountService) -> None:
        self.authorizer = authorizer
        self.intents = intents
        self.issuer = issuer
        self.clock = clock
        self.payments = payments
        self.accounts = accounts

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
        if "openid" not in scope or not set(KINDS) & set(scope):
            raise InvalidScopeError("scope must be openid with accounts, payments or fundsconfirmations")
        nonce = params.get("nonce")
        if response_type == HYBRID and not nonce:
            raise InvalidRequestError("nonce is required with response_type code id_token")
        intent_id = requested_intent(claims)
        if intent_id is None:
            raise InvalidRequestError("the request object asks for no authorizationId claim")
        intent = self.intents.current(intent_id)
        if intent is None or intent.client_id != params["client_id"]:
            raise InvalidRequestError(f"unknown authorizationId {intent_id[:64]}")
        if intent.kind not in scope:
            raise InvalidScopeError(f"the authorization is one of the {intent.kind} API: ask for scope "
                                    f"openid {intent.kind}")
        self._check_status(intent)
        challenge, method = pkce.check_challenge(params.get("code_challenge"), params.get("code_challenge_method"),
                                                 required=client.require_pkce)
        prompt = frozenset(params.get("prompt", "").split())
        if self.authorizer.needs_page(prompt, env):
            user, subject = resolve_user(params["login_hint"], env) if params.get("login_hint") else (None, "")
        else:
            user, subject = resolve_user(params.get("login_hint"), env)
        acr = requested_acr(claims)
        base = AuthorizeRequest(params["client_id"], redirect, sent, scope, subject, user, nonce, challenge, method,
                                prompt, {"authorizationId": intent.id, "acr": acr}, response_type=response_type)
        return Psd2AuthorizeRequest(base, response_type, intent.id, acr)

    def _check_status(self, intent: Intent) -> None:
        """An intent the PSU may authorize now: Unauthorized (a payment bundle: or Authorizing, the
        page opened again), a bundle with payments left."""
        allowed = ("Unauthorized", "Authorizing") if intent.kind == "payments" else ("Unauthorized",)
        if intent.status not in allowed:
            raise InvalidRequestError(f"the authorization is {intent.status}, not Unauthorized")
        if intent.kind == "payments":
            self.payments.check_authorizable(intent)

    def needs_page(self, req: Psd2AuthorizeRequest, env: Env) -> bool:
        return self.authorizer.needs_page(req.base.prompt, env)

    def begin(self, req: Psd2AuthorizeRequest, env: Env) -> PendingRequest:
        """Keep the request for the login page, with what it authorizes; a payment bundle is now Authorizing."""
        intent = self.intents.current(req.intent_id)
        if intent is None:
            raise InvalidRequestError("the authorization is gone", redirect=req.base.redirect)
        self._check_status(intent)
        if intent.kind == "payments":
            self.payments.start_authorizing(intent)
        return self.authorizer.begin(req.base, self.details(intent))

    def details(self, intent: Intent) -> dict[str, str]:
        """What the login page shows the PSU about the intent."""
        if intent.kind == "payments":
            return self.payments.details(intent)
        shown = {"Authorization": intent.id}
        if intent.kind == "fundsconfirmations":
            shown["Confirm funds of"] = intent.iban or "the account you choose (your first account)"
        else:
            shown["Access to"] = "your accounts, balances, transactions and cards"
            if intent.transaction_from or intent.transaction_to:
                shown["Transactions"] = f"{intent.transaction_from or '…'} to {intent.transaction_to or 'today'}"
        shown["Valid until"] = datetime.fromtimestamp(intent.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return shown

    def finish(self, pending: PendingRequest, approved: AuthorizeRequest | None, env: Env,
               override: TokenAction | None) -> RedirectResult:
        """The login page's answer: the intent authorized by the PSU chosen there, or Rejected."""
        if not self.authorizer.store.take_login(pending.id):
            raise InvalidRequestError("this login request is unknown, expired or already answered")
        req = self.from_pending(pending)
        if approved is None:
            self.reject(req.intent_id)
            raise AccessDeniedError("the PSU did not authorize the request", redirect=req.base.redirect)
        return self.act(replace(req, base=approved), env, override)

    @staticmethod
    def from_pending(pending: PendingRequest) -> Psd2AuthorizeRequest:
        base = pending.request
        return Psd2AuthorizeRequest(base, base.response_type, str(base.extra_claims.get("authorizationId", "")),
                                    str(base.extra_claims.get("acr", "")))

    def act(self, req: Psd2AuthorizeRequest, env: Env, override: TokenAction | None) -> RedirectResult:
        """Authorize the intent and issue the code (and, hybrid, an ID token with c_hash and s_hash)."""
        intent = self.intents.current(req.intent_id)
        try:
            if intent is None:
                raise InvalidRequestError("the authorization is gone")
            self._check_status(intent)
        except OAuthError as err:
            err.redirect = req.base.redirect
            raise
        now = self.clock.now()
        settings = env.server_config.psd2
        if intent.kind == "payments":
            self.payments.authorize(intent, req.base.subject, req.base.user, req.acr, settings)
        else:
            iban = intent.iban
            if intent.kind == "fundsconfirmations" and iban is None:
                held = self.accounts.accounts_for(settings, req.base.user)
                iban = held[0].iban if held else None
            self.intents.set_status(intent, "Authorized", authorized_at=now, subject=req.base.subject,
                                    user=req.base.user, acr=req.acr, iban=iban)
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
        """The PSU said no: the intent (a bundle: every payment in it) is Rejected, if it was still waiting."""
        intent = self.intents.current(intent_id)
        if intent is not None and intent.status in ("Unauthorized", "Authorizing"):
            self.intents.set_status(intent, "Rejected")
