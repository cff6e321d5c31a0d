"""The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6), one class each over one pipeline.

``check`` validates and stores nothing (except the security reactions the RFCs demand: a
replayed code or a reused refresh token revokes its grant); the scenario engine decides between
the two; ``act`` consumes codes, rotates refresh tokens and issues. Consuming and rotating are
compare-and-set operations of the store (``redeem_code``, ``rotate_refresh``), so of two
requests racing with one code or refresh token, at one process or at several on a shared
store, exactly one wins and the other is a replay. A new grant is a
``BaseGrant`` subclass with ``grant_type``, ``check`` and ``act``, put in the grant table that
``Server`` hands to ``TokenService`` (OP's jwt-bearer exemption grant in ``op/psd2`` is one; the
device, token-exchange and RFC 7523 grants live in their own modules beside this one).

DPoP (RFC 9449): ``TokenService`` verifies a proof before ``check`` and hands its key thumbprint
to ``check_dpop``, where a grant refuses a proof by another key than the one its code or refresh
family is bound to; the issued access token then carries ``cnf.jkt``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from mock_op_auth.config.schema import OIDC_SCOPES, TokenAction
from mock_op_auth.errors import (
    InvalidDpopProofError,
    InvalidGrantError,
    InvalidScopeError,
)
from mock_op_auth.oauth import pkce
from mock_op_auth.oauth.clients import AuthenticatedClient
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.issuer import IssuedTokens, Subject, TokenIssuer
from mock_op_auth.oauth.request import Call
from mock_op_auth.oauth.scope import check_allowed, parse_scope
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import AuthCode, DeviceCode, Grant, RefreshToken, Store

DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 §2.1
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523 §2.1
CORE_GRANTS = ("authorization_code", "client_credentials", "refresh_token")
RFC_GRANTS = (*CORE_GRANTS, DEVICE_CODE, TOKEN_EXCHANGE, JWT_BEARER)  # what POST /token offers


@dataclass(frozen=True)
class TokenRequest:
    """A checked token request: every fact a scenario rule may match, and what ``act`` needs."""

    client: AuthenticatedClient
    grant_type: str
    scope: tuple[str, ...]
    subject: str
    user: str | None = None
    code: AuthCode | None = None
    refresh: RefreshToken | None = None
    grant: Grant | None = None
    certificate_thumbprint: str | None = None  # RFC 8705 §3: the access token is bound to this certificate
    device: DeviceCode | None = None
    dpop_jkt: str | None = None  # the DPoP proof's key thumbprint: the access token is bound to it
    audience: str | list[str] | None = None  # the access token's aud, when not the server's (token exchange)
    extra_claims: dict[str, Any] = field(default_factory=dict)  # claims of this issue only (``act``)

    @property
    def client_id(self) -> str:
        return self.client.client_id


class BaseGrant:
    """One grant type of the token endpoint: the extension point for new grants.

    ``check(call, client, env)`` validates a request of an authenticated client and returns the
    ``TokenRequest`` that scenario rules match, storing nothing; ``act(req, env, override)``
    then consumes what the request redeems and issues through ``_issue`` (``override`` is a
    scenario rule's ``token`` action). ``_new_grant`` starts a refresh family.
    """

    grant_type: ClassVar[str]

    def __init__(self, store: Store, issuer: TokenIssuer, clock: Clock) -> None:
        self.store = store
        self.issuer = issuer
        self.clock = clock

    def check_dpop(self, req: TokenRequest, jkt: str | None) -> None:
        """Refuse a request whose DPoP key (``jkt``, None without a proof) is not the one what it
        redeems is bound to; nothing is bound by default."""
        return None

    def _issue(self, req: TokenRequest, env: Env, override: TokenAction | None, *, grant: Grant | None,
               with_refresh: bool, nonce: str | None = None, refresh: str | None = None,
               now: int | None = None) -> IssuedTokens:
        """Issue an access token (and, for a grant, a refresh token and an ID token) and record them.
        ``refresh``: the refresh token to issue, when the caller already made it its grant's current one;
        ``now``: the instant a grant made for this request was made at, so that its refresh lifetime
        reads whole (``refresh_token_expires_in`` 1800, not 1799 when a second ticked in between)."""
        now = self.clock.now_int() if now is None else now
        scope = parse_scope(override.scope) if override and override.scope is not None else req.scope
        extra = {**grant.extra_claims, **req.extra_claims} if grant else req.extra_claims
        who = Subject(req.client_id, req.subject, req.user, scope or (), grant.id if grant else None,
                      grant.auth_time if grant else None, extra, jkt=req.dpop_jkt, audience=req.audience)
        cnf = {"x5t#S256": req.certificate_thumbprint} if req.certificate_thumbprint else None
        access, expires_in, status = self.issuer.access_token(who, issuer=env.issuer, server_config=env.server_config,
                                                              shape=env.shape, override=override, cnf=cnf)
        made, refresh = refresh, None
        if grant is not None:
            if with_refresh and status == "approved" and not (override and override.refresh_token is False):
                refresh = made or self.issuer.refresh_token(env.shape)
                if override and override.refresh_token_expires_in is not None:
                    grant = replace(grant, refresh_expires_at=now + override.refresh_token_expires_in)
                self.store.put_refresh(RefreshToken(refresh, grant.id, req.client_id, now, grant.refresh_expires_at))
                grant = replace(grant, current_refresh=refresh)
            grant = replace(grant, expires_at=max(grant.refresh_expires_at, now + expires_in))
            self.store.put_grant(grant)
        id_token = None
        if grant is not None and "openid" in (scope or ()) and status == "approved":
            hashes = {"at_hash": access}
            if refresh and env.shape.rt_hash:
                hashes["rt_hash"] = refresh
            user = env.config.users.get(req.user) if req.user else None
            id_token = self.issuer.id_token(who, issuer=env.issuer, server_config=env.server_config,
                                            user_claims=user.claims if user else {}, nonce=nonce,
                                            hashes=hashes, override=override)
        return IssuedTokens(
            access_token=access, expires_in=expires_in, scope=" ".join(scope or ()), issued_at=now,
            client_id=req.client_id, status=status, token_type="DPoP" if req.dpop_jkt else "Bearer",
            refresh_token=refresh,
            refresh_token_expires_in=max(0, int(grant.refresh_expires_at - now)) if refresh and grant else None,
            refresh_token_issued_at=now if refresh else None,
            refresh_count=grant.refresh_count if refresh and grant else None,
            id_token=id_token, extra_fields=dict(override.fields) if override else {},
            grant_id=grant.id if grant else None,
        )

    def _new_grant(self, req: TokenRequest, env: Env, auth_time: int, extra: dict[str, object]) -> Grant:
        now = self.clock.now_int()
        return Grant(id=secrets.token_urlsafe(12), client_id=req.client_id, subject=req.subject, user=req.user,
                     scope=req.scope, auth_time=auth_time, created_at=now,
                     refresh_expires_at=now + (env.shape.refresh_ttl or env.server_config.refresh_token_ttl),
                     expires_at=now + (env.shape.refresh_ttl or env.server_config.refresh_token_ttl),
                     extra_claims=extra, dpop_jkt=req.dpop_jkt)


class AuthorizationCodeGrant(BaseGrant):
    grant_type = "authorization_code"

    def check(self, call: Call, client: AuthenticatedClient, env: Env) -> TokenRequest:
        code_value = call.required_form_param("code")
        redirect_uri = call.form_param("redirect_uri")
        verifier = call.form_param("code_verifier")
        code = self.store.get_code(code_value)
        if code is None or code.client_id != client.client_id:
            raise InvalidGrantError("the code is unknown or was issued to another client", reason="code")
        if code.grant_id is not None:
            self.store.revoke_grant(code.grant_id)  # RFC 6749 §4.1.2: revoke what the code produced
            raise InvalidGrantError("the code has already been used", reason="code")
        if code.expires_at <= self.clock.now():
            raise InvalidGrantError("the code has expired", reason="code")
        if code.redirect_uri is not None and redirect_uri != code.redirect_uri:
            raise InvalidGrantError("redirect_uri does not match the authorization request", reason="redirect_uri")
        pkce.verify(verifier, code.code_challenge, code.code_challenge_method)
        return TokenRequest(client, self.grant_type, code.scope, code.subject, code.user, code=code)

    def check_dpop(self, req: TokenRequest, jkt: str | None) -> None:
        """RFC 9449 §10: a code requested with ``dpop_jkt`` is redeemed only with a proof by that key."""
        bound = req.code.dpop_jkt if req.code else None
        if bound is not None and jkt != bound:
            raise InvalidDpopProofError("the code is bound to a DPoP key (dpop_jkt): send a DPoP proof signed by it")

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        assert req.code is not None
        grant = self._new_grant(req, env, req.code.auth_time, req.code.extra_claims)
        self.store.put_grant(grant)  # stored before the code names it, so a replay's revocation finds it
        before = self.store.redeem_code(req.code.code, grant.id)
        if before is None or before.grant_id is not None:  # redeemed meanwhile: elsewhere, or behind a delay rule
            self.store.revoke_grant(grant.id)
            if before is not None and before.grant_id is not None:
                self.store.revoke_grant(before.grant_id)  # RFC 6749 §4.1.2: revoke what the code produced
            raise InvalidGrantError("the code has already been used", reason="code")
        sid = req.code.extra_claims.get("sid")
        if isinstance(sid, str):  # the login session's grants end with it (server.revoke_on_logout)
            self.store.link_session_grant(sid, grant.id)
        with_refresh = "refresh_token" in req.client.client.grant_types
        return self._issue(req, env, override, grant=grant, with_refresh=with_refresh, nonce=req.code.nonce,
                           now=grant.created_at)


class ClientCredentialsGrant(BaseGrant):
    grant_type = "client_credentials"

    def check(self, call: Call, client: AuthenticatedClient, env: Env) -> TokenRequest:
        allowed = client.client.scopes
        requested = parse_scope(call.form_param("scope"))
        if requested is None:
            requested = tuple(s for s in allowed if s not in OIDC_SCOPES)
        check_allowed(requested, allowed)
        return TokenRequest(client, self.grant_type, requested, client.client_id)

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        if not env.shape.client_credentials_refresh:
            return self._issue(req, env, override, grant=None, with_refresh=False)
        grant = self._new_grant(req, env, self.clock.now_int(), {})
        return self._issue(req, env, override, grant=grant, with_refresh=True, now=grant.created_at)


class RefreshTokenGrant(BaseGrant):
    grant_type = "refresh_token"

    def check(self, call: Call, client: AuthenticatedClient, env: Env) -> TokenRequest:
        value = call.required_form_param("refresh_token")
        token = self.store.get_refresh(value)
        if token is None or token.client_id != client.client_id:
            raise InvalidGrantError("the refresh token is unknown or was issued to another client",
                                    reason="refresh_token")
        grant = self.store.get_grant(token.grant_id)
        if grant is None or grant.revoked:
            raise InvalidGrantError("the refresh token has been revoked", reason="refresh_token")
        if grant.current_refresh != value:
            self.store.revoke_grant(grant.id)  # RFC 9700 §4.14.2: reuse revokes the whole family
            raise InvalidGrantError("the refresh token was already used; its whole grant is now revoked",
                                    reason="refresh_token")
        if token.expires_at <= self.clock.now():
            raise InvalidGrantError("the refresh token has expired", reason="refresh_token")
        limit = env.server_config.max_refresh_count
        if limit is not None and grant.refresh_count >= limit:
            raise InvalidGrantError(f"the refresh limit of {limit} has been reached", reason="refresh_token")
        requested = parse_scope(call.form_param("scope"))
        if requested is not None and (wider := [s for s in requested if s not in grant.scope]):
            raise InvalidScopeError(f"scope beyond the original grant: {' '.join(wider)}")
        return TokenRequest(client, self.grant_type, requested or grant.scope, grant.subject, grant.user,
                            refresh=token, grant=grant)

    def check_dpop(self, req: TokenRequest, jkt: str | None) -> None:
        """RFC 9449 §5: a public client's refresh token is bound to the key its first token request proved."""
        bound = req.grant.dpop_jkt if req.grant else None
        if bound is not None and req.client.client.is_public and jkt != bound:
            raise InvalidDpopProofError("the refresh token is bound to a DPoP key: send a DPoP proof signed by it")

    def act(self, req: TokenRequest, env: Env, override: TokenAction | None) -> IssuedTokens:
        assert req.refresh is not None and req.grant is not None
        status = override.status if override and override.status else "approved"
        approved = status == "approved"  # a pending or rejected answer is no refresh: it counts for nothing
        grant = replace(req.grant, refresh_count=req.grant.refresh_count + 1) if approved else req.grant
        new_refresh = approved and not (override and override.refresh_token is False)
        if env.server_config.refresh_rotation and not new_refresh:  # no new refresh token: the old one stays usable
            return self._issue(req, env, override, grant=grant, with_refresh=True)
        if env.server_config.refresh_rotation:
            fresh = self.issuer.refresh_token(env.shape)
            grant = replace(grant, current_refresh=fresh)
            if not self.store.rotate_refresh(grant.id, req.refresh.token, grant):
                self.store.revoke_grant(grant.id)  # another request used it first: reuse (RFC 9700 §4.14.2)
                raise InvalidGrantError("the refresh token was already used; its whole grant is now revoked",
                                        reason="refresh_token")
            self.store.put_refresh(replace(req.refresh, active=False))
            return self._issue(req, env, override, grant=grant, with_refresh=True, refresh=fresh)
        # No rotation: the same refresh token is answered again, with the family's count and lifetime;
        # the access and ID tokens are the grant's like any other (a reuse revocation reaches them).
        if self.store.get_grant(grant.id) is None:
            raise InvalidGrantError("the refresh token has been revoked", reason="refresh_token")
        issued = self._issue(req, env, override, grant=grant, with_refresh=False)
        if not new_refresh:
            return issued
        now = self.clock.now_int()
        return replace(issued, refresh_token=req.refresh.token, refresh_count=grant.refresh_count,
                       refresh_token_expires_in=max(0, int(grant.refresh_expires_at - now)),
                       refresh_token_issued_at=req.refresh.issued_at)
