"""Token exchange (RFC 8693): a client trades a token of this server (the ``subject_token``: an
access token or an ID token) for a new access token for the same subject, for another audience,
on behalf of the subject or, with an ``actor_token``, as its delegate (the ``act`` claim).

What a client may ask for is its fixture's ``token_exchange.audiences``: another ``audience`` or
``resource`` is ``invalid_target``; with neither, the new token's ``aud`` is ``server.audience``.
The scope is at most the subject token's and the client's. A subject or actor token that is
forged, expired, revoked, not ours or not of the type named is ``invalid_request`` (RFC 8693
§2.2.2). No refresh token is issued.

An ID token is taken from the client it was issued to (its ``aud``, OIDC Core §2) and while the
grant it came from stands: not after that grant's refresh family was revoked for a reuse, nor
after a reset. It grants at most the scope of that grant (what the user consented to).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mock_op_auth.config.schema import OIDC_SCOPES, TokenAction
from mock_op_auth.errors import InvalidRequestError, InvalidTargetError, InvalidTokenError
from mock_op_auth.oauth.bearer import BearerValidator
from mock_op_auth.oauth.clients import AuthenticatedClient
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.grants import TOKEN_EXCHANGE, BaseGrant, TokenRequest
from mock_op_auth.oauth.issuer import IssuedTokens, TokenIssuer, token_digest
from mock_op_auth.oauth.jwt_claims import is_time
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import KeySet, unverified_header
from mock_op_auth.state.store import Store

TOKEN_TYPE = "urn:ietf:params:oauth:token-type:"
ACCESS_TOKEN = TOKEN_TYPE + "access_token"
ID_TOKEN = TOKEN_TYPE + "id_token"
SUBJECT_TYPES = (ACCESS_TOKEN, ID_TOKEN)
MAX_TARGETS = 10


@dataclass(frozen=True)
class PresentedToken:
    """A verified subject or actor token: whose it is, and what it grants."""

    subject: str
    scope: tuple[str, ...]
    claims: dict[str, Any]
    id_token: bool = False


class TokenExchangeGrant(BaseGrant):
    grant_type = TOKEN_EXCHANGE

    def __init__(self, store: Store, issuer: TokenIssuer, clock: Clock, bearer: BearerValidator,
                 keys: KeySet) -> None:
        super().__init__(store, issuer, clock)
        self.bearer = bearer
        self.keys = keys

    def check(self, call: Call, client: AuthenticatedClient, env: Env) -> TokenRequest:
        requested_type = call.form_param("requested_token_type")
        if requested_type not in (None, ACCESS_TOKEN):
            raise InvalidRequestError("only access tokens are issued (requested_token_type)")
        subject = self._presented(call, "subject_token", env, client.client_id, required=True)
        assert subject is not None
        actor = self._presented(call, "actor_token", env, client.client_id, required=False)
        audience = self._targets(call, client, env)
        allowed = [s for s in client.client.scopes if s in subject.scope]
        requested = parse_scope(call.form_param("scope"))
        if requested is None:
            requested = tuple(s for s in allowed if not subject.id_token or s not in OIDC_SCOPES)
        check_allowed(requested, allowed, what="this client and subject token")
        extra: dict[str, Any] = {}
        if actor is not None:
            may_act = subject.claims.get("may_act")
            if isinstance(may_act, dict) and may_act.get("sub") not in (None, actor.subject):
                raise InvalidRequestError("the subject token's may_act does not name the actor")
            extra["act"] = {"sub": actor.subject, **({"act": actor.claims["act"]}
                                                    if isinstance(actor.claims.get("act"), dict) else {})}
        return TokenRequest(client, self.grant_type, requested, subject.subject,
                            env.config.user_key_for(subject.subject), audience=audience, extra_claims=extra)

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        issued = self._issue(req, env, override, grant=None, with_refresh=False)
        return replace(issued, extra_fields={"issued_token_type": ACCESS_TOKEN, **issued.extra_fields})

    def _presented(self, call: Call, name: str, env: Env, client_id: str, *,
                   required: bool) -> PresentedToken | None:
        """The ``subject_token`` or ``actor_token`` with its ``*_token_type``, verified."""
        token = call.form_param(name)
        token_type = call.form_param(f"{name}_type")
        if not token:
            if required or token_type:
                raise InvalidRequestError(f"{name} is required")
            return None
        if token_type is None:
            raise InvalidRequestError(f"{name}_type is required")
        if token_type not in SUBJECT_TYPES:
            raise InvalidRequestError(f"unsupported {name}_type {token_type[:100]}: give an access or ID token")
        try:
            if token_type == ACCESS_TOKEN:
                return self._access_token(token, env)
            return self._id_token(token, env, client_id)
        except InvalidTokenError as err:
            raise InvalidRequestError(f"the {name} is not valid: {err.description}") from None

    def _access_token(self, token: str, env: Env) -> PresentedToken:
        if token.count(".") == 2 and unverified_header(token).get("typ") != "at+jwt":
            raise InvalidTokenError("malformed", "it is not an access token")
        info = self.bearer.validate(token, env.known_issuers)
        return PresentedToken(info.subject, info.scope, info.claims)

    def _id_token(self, token: str, env: Env, client_id: str) -> PresentedToken:
        if token.count(".") != 2 or unverified_header(token).get("typ") != "JWT":
            raise InvalidTokenError("malformed", "it is not an ID token")
        claims = self.keys.verify(token)
        exp = claims.get("exp")
        if not is_time(exp) or exp <= self.clock.now():
            raise InvalidTokenError("expired")
        if claims.get("iss") not in env.known_issuers:
            raise InvalidTokenError("wrong_issuer")
        if not isinstance(claims.get("sub"), str):
            raise InvalidTokenError("malformed")
        aud = claims.get("aud")
        if client_id not in (aud if isinstance(aud, list) else [aud]):
            raise InvalidTokenError("wrong_audience", "it was issued to another client (its aud)")
        issued = self.store.get_id_token(token_digest(token))
        grant = self.store.get_grant(issued.grant_id) if issued is not None else None
        if grant is None:
            raise InvalidTokenError("unknown", "this server has no record of it (issued before a reset?)")
        if grant.revoked:
            raise InvalidTokenError("revoked", "the grant it came from was revoked")
        return PresentedToken(claims["sub"], grant.scope, claims, id_token=True)

    @staticmethod
    def _targets(call: Call, client: AuthenticatedClient, env: Env) -> str | list[str] | None:
        """The new token's ``aud``: the ``audience`` and ``resource`` values asked for, each one the client may name."""
        named = [v for k, v in call.form if k in ("audience", "resource")]
        if len(named) > MAX_TARGETS:
            raise InvalidRequestError(f"at most {MAX_TARGETS} audience and resource values")
        allowed = client.client.token_exchange.audiences
        if refused := [v for v in named if v not in allowed]:
            raise InvalidTargetError(f"this client may not ask for {refused[0][:200]}")
        unique = list(dict.fromkeys(named))
        if not unique:
            return None
        return unique[0] if len(unique) == 1 else unique
