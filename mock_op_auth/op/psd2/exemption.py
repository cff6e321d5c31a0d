"""OP's PSD2 exemption grant (op-auth.md §4.2): ``urn:ietf:params:oauth:grant-type:jwt-bearer``
(RFC 7523 §2.1) reusing an earlier SCA authorization for small payments.

The client posts a signed assertion naming an intent in its ``claims``: an ``Authorized`` one
(a token again for the same PSU), or, as OP's demo TPP uses it, an ``Unauthorized`` payment
bundle it created with the PSU's access token, each payment at most ``server.psd2.exemption_limit``
EUR: the grant authorizes the bundle for that PSU without the login page. The answer is an
access token with ``acr`` ``urn:openbanking:psd2:ca`` and no refresh token. The PSD2 token path
links the grant to the intent (``token_rules``), so revoking the intent revokes this token too.
OP's demo TPP signs its assertion without ``exp`` or ``iat``, so ``exp`` is checked only when
present.
"""

from __future__ import annotations

from dataclasses import replace

from mock_op_auth.config.schema import TokenAction
from mock_op_auth.errors import InvalidGrantError, OAuthError, UnauthorizedClientError
from mock_op_auth.oauth.clients import AuthenticatedClient
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.grants import JWT_BEARER, BaseGrant, TokenRequest
from mock_op_auth.oauth.issuer import IssuedTokens, TokenIssuer
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.op.psd2.client_jwt import ACR_CA, check_client_jwt, requested_intent
from mock_op_auth.op.psd2.intents import IntentService
from mock_op_auth.op.psd2.payments import PaymentService
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import verify_with_jwks
from mock_op_auth.state.store import Store

__all__ = ["JWT_BEARER", "JwtBearerGrant"]


class JwtBearerGrant(BaseGrant):
    grant_type = JWT_BEARER

    def __init__(self, store: Store, issuer: TokenIssuer, clock: Clock, intents: IntentService,
                 payments: PaymentService) -> None:
        super().__init__(store, issuer, clock)
        self.intents = intents
        self.payments = payments

    def check(self, call: Call, client: AuthenticatedClient, env: Env) -> TokenRequest:
        assertion = call.required_form_param("assertion")
        if not client.client.jwks:
            raise UnauthorizedClientError("the client has no registered keys to verify its assertion")
        try:
            claims = verify_with_jwks(assertion, client.client.jwks)
        except OAuthError as err:
            raise InvalidGrantError(f"the assertion does not verify: {err.description}", reason="assertion") from None
        check_client_jwt(claims, client.client_id, env, self.clock.now(), InvalidGrantError, require_exp=False)
        raw_scope = call.form_param("scope") or (claims["scope"] if isinstance(claims.get("scope"), str) else None)
        scope = parse_scope(raw_scope) or ("payments",)
        check_allowed(scope, client.client.scopes)
        intent_id = requested_intent(claims)
        if intent_id is None:
            raise InvalidGrantError("the assertion asks for no authorizationId claim", reason="assertion")
        intent = self.intents.current(intent_id)
        if intent is None or intent.client_id != client.client_id:
            raise InvalidGrantError(f"unknown authorizationId {intent_id[:64]}", reason="authorization")
        if intent.kind == "payments" and intent.status == "Unauthorized":
            if problem := self.payments.exemption_problem(intent, env.server_config.psd2):
                raise InvalidGrantError(problem, reason="authorization")
        elif intent.status != "Authorized" or intent.subject is None:
            raise InvalidGrantError(f"the authorization is {intent.status}, not Authorized", reason="authorization")
        assert intent.subject is not None
        req = TokenRequest(client, self.grant_type, scope, intent.subject, intent.user)
        grant = self._new_grant(req, env, int(intent.authorized_at or self.clock.now()),
                                {"authorizationId": intent.id, "acr": ACR_CA})
        return replace(req, grant=grant)

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        assert req.grant is not None
        intent = self.intents.current(str(req.grant.extra_claims["authorizationId"]))
        if intent is not None and intent.kind == "payments" and intent.status == "Unauthorized" \
                and self.payments.exemption_problem(intent, env.server_config.psd2) is None:
            self.payments.authorize(intent, req.subject, req.user, ACR_CA, env.server_config.psd2)
        elif intent is None or intent.status != "Authorized":
            raise InvalidGrantError("the authorization is no longer Authorized", reason="authorization")
        return self._issue(req, env, override, grant=req.grant, with_refresh=False)
