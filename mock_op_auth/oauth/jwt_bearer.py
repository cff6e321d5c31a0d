"""The JWT bearer grant (RFC 7523 §2.1, §3) at ``POST /token``: a client trades an assertion it
signed with a key of its ``jwks`` for an access token for a fixture user.

The assertion's ``iss`` is the client, ``sub`` a fixture user (its key or its ``sub``), ``aud``
the token endpoint or the issuer, ``exp`` in the future by the mock clock; a ``jti``, when given,
is accepted once. Algorithms are pinned (RS256, ES256, PS256; never ``none`` or HMAC). The client
authenticates as at the token endpoint; the assertion is the grant, not client authentication.

OP's PSD2 exemption grant (``op/psd2/exemption.py``) is the same grant type with OP's rules; it
answers on OP's ``/oauth/token`` only, this one on ``/token`` (``Server`` builds a grant table per path).
"""

from __future__ import annotations

from mock_op_auth.config.schema import OIDC_SCOPES, TokenAction
from mock_op_auth.errors import InvalidGrantError, InvalidTokenError, UnauthorizedClientError
from mock_op_auth.oauth.clients import AuthenticatedClient
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.grants import JWT_BEARER, BaseGrant, TokenRequest
from mock_op_auth.oauth.issuer import IssuedTokens
from mock_op_auth.oauth.jwt_claims import Fault, lifetime_fault, names_audience
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.state.keys import verify_with_jwks

TOKEN_PATH = "/token"
MAX_JTI_LENGTH = 256
LIFETIME: dict[Fault, str] = {
    "exp_missing": "the assertion needs an exp",
    "exp_not_number": "the assertion needs an exp",
    "expired": "the assertion has expired",
    "not_yet_valid": "the assertion is not valid yet",
}


class JwtBearerGrant(BaseGrant):
    grant_type = JWT_BEARER

    def check(self, call: Call, client: AuthenticatedClient, env: Env) -> TokenRequest:
        assertion = call.required_form_param("assertion")
        if not client.client.jwks:
            raise UnauthorizedClientError("the client has no registered keys (jwks) to verify its assertion")
        try:
            claims = verify_with_jwks(assertion, client.client.jwks)
        except InvalidTokenError as err:
            raise InvalidGrantError(f"the assertion does not verify: {err.description}", reason="assertion") from None
        if claims.get("iss") != client.client_id:
            raise InvalidGrantError("the assertion's iss must be the client_id", reason="assertion")
        if not names_audience(claims, {env.issuer, env.issuer + TOKEN_PATH}):
            raise InvalidGrantError("the assertion's aud must be the token endpoint or the issuer", reason="assertion")
        fault = lifetime_fault(claims, self.clock.now())
        if fault is not None:
            raise InvalidGrantError(LIFETIME[fault], reason="assertion")
        exp = claims["exp"]
        sub = claims.get("sub")
        users = env.config.users
        user = sub if isinstance(sub, str) and sub in users else (
            env.config.user_key_for(sub) if isinstance(sub, str) else None)
        if user is None:
            raise InvalidGrantError("the assertion's sub is no user of this server", reason="assertion")
        requested = parse_scope(call.form_param("scope"))
        if requested is None:
            requested = tuple(s for s in client.client.scopes if s not in OIDC_SCOPES)
        check_allowed(requested, client.client.scopes)
        jti = claims.get("jti")
        if jti is not None:
            if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
                raise InvalidGrantError("the assertion's jti must be a short string", reason="assertion")
            if not self.store.add_marker(f"jwt-bearer:{client.client_id}:{jti}", float(exp)):
                raise InvalidGrantError("the assertion's jti was already used (a replay)", reason="assertion")
        return TokenRequest(client, self.grant_type, requested, users[user].subject(user), user)

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        return self._issue(req, env, override, grant=None, with_refresh=False)
