"""OP's PSD2 exemption grant (op-auth.md §4.2): ``urn:ietf:params:oauth:grant-type:jwt-bearer``
(RFC 7523 §2.1) reusing an earlier SCA authorization for small payments.

The client posts a signed assertion naming an ``Authorized`` intent in its ``claims``; the
answer is an access token for the same PSU with ``acr`` ``urn:openbanking:psd2:ca`` and no
refresh token. The grant is linked to the intent, so revoking the intent revokes this token too.
"""

from __future__ import annotations

from dataclasses import replace

from mock_op_auth.call import Call
from mock_op_auth.config.schema import TokenAction
from mock_op_auth.core.clients import AuthenticatedClient
from mock_op_auth.core.grants import TokenRequest, _Base, parse_scope
from mock_op_auth.core.issuer import Env, IssuedTokens
from mock_op_auth.core.psd2 import ACR_CA, IntentService, check_client_jwt, requested_intent
from mock_op_auth.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuthError,
    UnauthorizedClientError,
)
from mock_op_auth.keys import verify_with_jwks

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class JwtBearerGrant(_Base):
    grant_type = JWT_BEARER

    def check(self, call: Call, client: AuthenticatedClient, env: Env) -> TokenRequest:
        assertion = call.form_param("assertion")
        if not assertion:
            raise InvalidRequestError("assertion is required")
        if not client.client.jwks:
            raise UnauthorizedClientError("the client has no registered keys to verify its assertion")
        try:
            claims = verify_with_jwks(assertion, client.client.jwks)
        except OAuthError as err:
            raise InvalidGrantError(f"the assertion does not verify: {err.description}") from None
        check_client_jwt(claims, client.client_id, env, self.clock.now(), InvalidGrantError)
        raw_scope = call.form_param("scope") or (claims["scope"] if isinstance(claims.get("scope"), str) else None)
        scope = parse_scope(raw_scope) or ("payments",)
        if unknown := [s for s in scope if s not in client.client.scopes]:
            raise InvalidScopeError(f"scope not allowed for this client: {' '.join(unknown)}")
        intent_id = requested_intent(claims)
        if intent_id is None:
            raise InvalidGrantError("the assertion asks for no authorizationId claim")
        intent = IntentService(self.store, self.clock).current(intent_id)
        if intent is None or intent.client_id != client.client_id:
            raise InvalidGrantError(f"unknown authorizationId {intent_id[:64]}")
        if intent.status != "Authorized" or intent.subject is None:
            raise InvalidGrantError(f"the authorization is {intent.status}, not Authorized")
        req = TokenRequest(client, self.grant_type, scope, intent.subject, intent.user)
        grant = self._new_grant(req, env, int(intent.authorized_at or self.clock.now()),
                                {"authorizationId": intent.id, "acr": ACR_CA})
        return replace(req, grant=grant)

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        assert req.grant is not None
        intents = IntentService(self.store, self.clock)
        intent_id = str(req.grant.extra_claims["authorizationId"])
        intent = intents.current(intent_id)
        if intent is None or intent.status != "Authorized":
            raise InvalidGrantError("the authorization is no longer Authorized")
        issued = self._issue(req, env, override, grant=req.grant, with_refresh=False)
        intents.link_grant(intent_id, req.grant.id)
        return issued
