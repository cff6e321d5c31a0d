"""TokenIssuer: the one place access, refresh and ID tokens are built.

Access tokens are RFC 9068 JWTs (``typ: at+jwt``) or opaque strings, per fixture or per
dialect; either way a record goes into the store, so introspection, revocation and the
resource stub treat both alike. A scenario's ``token`` action is applied here and nowhere else.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mock_op_auth.config.schema import ServerConfig, TokenAction
from mock_op_auth.oauth.context import TokenShape
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import KeySet, half_hash
from mock_op_auth.state.store import AccessToken, IssuedIdToken, Store

# OIDC Core §5.4: which user claims each scope releases. Claims of no standard scope are always released.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "family_name", "given_name", "middle_name", "nickname", "preferred_username",
                "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
_SCOPED = frozenset(c for claims in SCOPE_CLAIMS.values() for c in claims)
_RESERVED = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "azp",
                       "at_hash", "c_hash", "s_hash", "rt_hash", "client_id", "scope", "cnf", "act"})


def claims_for_scope(user_claims: dict[str, Any], scope: tuple[str, ...]) -> dict[str, Any]:
    released = {c for s in scope for c in SCOPE_CLAIMS.get(s, ())}
    return {k: v for k, v in user_claims.items()
            if k not in _RESERVED and (k in released or k not in _SCOPED)}


MAX_SHARED_SCOPES = 1024
NO_CLAIMS: dict[str, Any] = {}  # shared by every record without extra claims; never mutated


@dataclass(frozen=True)
class Subject:
    """Who a token speaks for: a user (code flow) or the client itself (client credentials)."""

    client_id: str
    subject: str
    user: str | None
    scope: tuple[str, ...]
    grant_id: str | None = None
    auth_time: int | None = None
    extra_claims: dict[str, Any] = field(default_factory=dict)
    jkt: str | None = None  # RFC 9449 §6: the DPoP key the access token is bound to (``cnf.jkt``)
    audience: str | list[str] | None = None  # the access token's aud; None: the server's


@dataclass(frozen=True)
class IssuedTokens:
    """What a token endpoint answers, in plain Python (ints in seconds); dialects shape it."""

    access_token: str
    expires_in: int
    scope: str
    issued_at: int
    client_id: str
    status: str = "approved"
    token_type: str = "Bearer"
    refresh_token: str | None = None
    refresh_token_expires_in: int | None = None
    refresh_token_issued_at: int | None = None
    refresh_count: int | None = None
    id_token: str | None = None
    extra_fields: dict[str, Any] = field(default_factory=dict)
    grant_id: str | None = None  # the grant (refresh family) the tokens were issued from


class TokenIssuer:
    def __init__(self, keys: KeySet, store: Store, clock: Clock) -> None:
        self._keys = keys
        self._store = store
        self._clock = clock
        self._scopes: dict[tuple[str, ...], tuple[str, ...]] = {}

    def access_token(self, who: Subject, *, issuer: str, server_config: ServerConfig, shape: TokenShape,
                     override: TokenAction | None = None, cnf: dict[str, str] | None = None) -> tuple[str, int, str]:
        """Issue and record an access token; returns (token, expires_in, status). ``cnf``: the
        key or certificate the token is bound to (RFC 7800 §3), in the JWT and the record alike."""
        now = self._clock.now_int()
        ttl = override.expires_in if override and override.expires_in is not None else (
            shape.access_ttl or server_config.access_token_ttl)
        status = override.status if override and override.status else "approved"
        audience = who.audience or server_config.audience or issuer
        jwt = shape.access_format == "jwt"
        jti = secrets.token_urlsafe(16) if jwt else None
        confirmation = {**(cnf or {}), **({"jkt": who.jkt} if who.jkt is not None else {})}  # RFC 8705, RFC 9449
        extra: dict[str, Any] = {**who.extra_claims, **({"cnf": confirmation} if confirmation else {}),
                                 **(override.claims if override else {})}
        if jwt:
            claims: dict[str, Any] = {
                "iss": issuer, "sub": who.subject, "aud": audience, "exp": now + ttl, "iat": now, "nbf": now,
                "jti": jti, "client_id": who.client_id, "scope": " ".join(who.scope),
            }
            if who.auth_time is not None:
                claims["auth_time"] = who.auth_time
            claims.update(extra)
            token, key = self._keys.sign(claims, typ="at+jwt"), str(jti)
        else:
            token = key = random_token(shape.opaque_length)
        # The record keeps only what its own fields do not, and shares the values every token of a
        # client repeats (each request parsed its own copies): a store holds many thousands of these.
        self._store.put_access(AccessToken(
            key=key, client_id=sys.intern(who.client_id), subject=sys.intern(who.subject),
            scope=self._shared_scope(who.scope), issued_at=now, expires_at=now + ttl,
            audience=sys.intern(audience) if isinstance(audience, str) else audience, issuer=sys.intern(issuer),
            grant_id=who.grant_id, status=status, claims=extra or NO_CLAIMS,
        ))
        return token, ttl, status

    def _shared_scope(self, scope: tuple[str, ...]) -> tuple[str, ...]:
        """One tuple per distinct scope, its names interned (a bounded table)."""
        shared = self._scopes.get(scope)
        if shared is None:
            if len(self._scopes) >= MAX_SHARED_SCOPES:
                self._scopes.clear()
            shared = self._scopes[scope] = tuple(sys.intern(name) for name in scope)
        return shared

    def refresh_token(self, shape: TokenShape) -> str:
        return random_token(shape.refresh_length)

    def id_token(self, who: Subject, *, issuer: str, server_config: ServerConfig, user_claims: dict[str, Any],
                 nonce: str | None, hashes: dict[str, str], override: TokenAction | None = None) -> str:
        """An OIDC ID token (OIDC Core §2); ``hashes`` maps at_hash/c_hash/s_hash/rt_hash to the values."""
        now = self._clock.now_int()
        claims: dict[str, Any] = {
            "iss": issuer, "sub": who.subject, "aud": who.client_id, "azp": who.client_id,
            "exp": now + server_config.id_token_ttl, "iat": now,
            "auth_time": who.auth_time if who.auth_time is not None else now,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update({name: half_hash(value) for name, value in hashes.items()})
        claims.update(claims_for_scope(user_claims, who.scope))
        claims.update(who.extra_claims)
        if override:
            claims.update(override.claims)
        token = self._keys.sign(claims, typ="JWT")
        if who.grant_id is not None:  # what a token exchange of it checks (oauth/token_exchange.py)
            self._store.put_id_token(IssuedIdToken(token_digest(token), who.grant_id, now + server_config.id_token_ttl))
        return token


def token_digest(token: str) -> str:
    """What a token is recorded by when it has no id of its own: base64url SHA-256 of its text."""
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@lru_cache(maxsize=16)
def _byte_table(alphabet: str) -> tuple[bytes, bytes]:
    """``bytes.translate`` arguments mapping a random byte to a character, uniformly: bytes past the
    largest multiple of the alphabet's size are deleted (rejection sampling, no modulo bias)."""
    size = len(alphabet)
    cutoff = 256 - 256 % size
    table = bytes(ord(alphabet[b % size]) for b in range(256))
    return table, bytes(range(cutoff, 256))


def random_token(length: int, alphabet: str | None = None) -> str:
    """An opaque token: ``length`` characters, alphanumeric unless an alphabet is given."""
    chars = alphabet or ALPHANUMERIC
    if not chars.isascii() or len(chars) > 256:
        return "".join(secrets.choice(chars) for _ in range(length))
    table, rejected = _byte_table(chars)
    out = b""
    while len(out) < length:
        out += secrets.token_bytes(length + 16).translate(table, rejected)
    return out[:length].decode("ascii")
