"""Minting access tokens directly (``POST /_mock/tokens``, DESIGN §3), without running a grant.

A test gets exactly the token it needs: valid, or with one ``defect`` that a verifier must
refuse. Every minted token is issued by ``TokenIssuer`` and so recorded in the store like a
token from ``/token``: revocation, introspection and the resource stub treat both alike.
Claim defects are claims overridden at issue; signature defects break the signed token
afterwards (``KeySet.forge``), so the claims stay those of a valid token.

    expired        exp a minute ago (the token lived ``expires_in`` seconds before that)
    not_yet_valid  nbf ten minutes ahead (iat now: issued now, valid later)
    wrong_issuer   iss of another server          wrong_audience  aud of another resource
    unknown_kid    signed by a key in no JWKS     bad_signature   signature bits flipped
    alg_none       "alg": "none", no signature (RFC 8725 §3.1)

An opaque token can only be ``expired``: the other defects live in a JWT's header, claims or
signature. A token without the scope a route needs is not a defect: mint it with that scope left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mock_op_auth.config.schema import MAX_LIFETIME, OIDC_SCOPES, TokenAction
from mock_op_auth.errors import OAuthError
from mock_op_auth.oauth.context import TokenShape
from mock_op_auth.oauth.issuer import Subject
from mock_op_auth.oauth.scope import check_allowed, parse_scope

if TYPE_CHECKING:
    from mock_op_auth.server import Server

Defect = Literal["expired", "not_yet_valid", "wrong_issuer", "wrong_audience", "unknown_kid", "bad_signature",
                 "alg_none"]
SIGNATURE_DEFECTS = frozenset({"unknown_kid", "bad_signature", "alg_none"})
WRONG_ISSUER = "https://wrong-issuer.invalid"  # RFC 2606: a name that can never be ours
WRONG_AUDIENCE = "https://wrong-audience.invalid"
EXPIRED_AGO = 60
NOT_BEFORE_IN = 600
RESERVED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"})


class MintRequest(BaseModel):
    """The body of ``POST /_mock/tokens``."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(description="a client of the fixture; the token is issued to it")
    sub: str | None = Field(None, description="the subject; default: the client itself, as in client credentials")
    scope: str | list[str] | None = Field(None, description="space-separated or a list; default: the client's "
                                                             "non-OpenID scopes; every scope must be the client's")
    expires_in: int | None = Field(None, ge=-MAX_LIFETIME, le=MAX_LIFETIME,
                                   description="lifetime in seconds (negative: already expired); "
                                               "default: server.access_token_ttl")
    claims: dict[str, Any] = Field({}, description="extra claims (registered claims come from the other fields)")
    format: Literal["jwt", "opaque"] | None = Field(None, description="default: server.access_token_format")
    defect: Defect | None = Field(None, description="break the token in one way a verifier must refuse")


class MintedToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class MintError(OAuthError):
    """A mint request that names something the fixture does not allow; the description says what."""


def mint_token(server: Server, req: MintRequest, issuer: str) -> MintedToken:
    """Issue (and record) the token ``req`` describes, as ``issuer``."""
    client = server.config.clients.get(req.client_id)
    if client is None:
        raise MintError(f"unknown client {req.client_id}")
    if isinstance(req.scope, str):
        scope = parse_scope(req.scope) or ()
    elif req.scope is not None:
        scope = tuple(dict.fromkeys(req.scope))
    else:
        scope = tuple(s for s in client.scopes if s not in OIDC_SCOPES)
    check_allowed(scope, client.scopes, what=f"client {req.client_id}", error=MintError)
    if reserved := sorted(RESERVED_CLAIMS & req.claims.keys()):
        raise MintError(f"claims may not set {', '.join(reserved)}: use sub, scope, expires_in or defect")
    settings = server.engine.server_config(server.engine.active)
    token_format = req.format or settings.access_token_format
    if token_format == "opaque" and req.defect not in (None, "expired"):
        raise MintError(f"defect {req.defect} needs format jwt; an opaque token can only be expired")
    lifetime = req.expires_in if req.expires_in is not None else settings.access_token_ttl
    expires_in, defect_claims = _defect_claims(req.defect, lifetime, settings.access_token_ttl,
                                               server.clock.now_int())
    who = Subject(req.client_id, req.sub or req.client_id, None, scope)
    token, expires_in, _ = server.issuer.access_token(
        who, issuer=issuer, server_config=settings, shape=TokenShape(access_format=token_format),
        override=TokenAction(expires_in=expires_in, claims={**req.claims, **defect_claims}))
    if req.defect in SIGNATURE_DEFECTS:
        token = server.keys.forge(token, req.defect)
    return MintedToken(access_token=token, expires_in=expires_in)


def _defect_claims(defect: Defect | None, lifetime: int, default_ttl: int, now: int) -> tuple[int, dict[str, Any]]:
    """The ``expires_in`` to issue with and the claims that make the defect.

    A token that is to have lived (expired) or to live later (not yet valid) keeps a positive
    lifetime: ``expires_in`` if positive, else the server's.
    """
    lived = lifetime if lifetime > 0 else default_ttl
    if defect == "expired":
        exp = now - EXPIRED_AGO
        return -EXPIRED_AGO, {"exp": exp, "iat": exp - lived, "nbf": exp - lived}
    if defect == "not_yet_valid":  # issued now, valid later: a future iat would be a defect of its own
        start = now + NOT_BEFORE_IN
        return NOT_BEFORE_IN + lived, {"nbf": start, "exp": start + lived}
    if defect == "wrong_issuer":
        return lifetime, {"iss": WRONG_ISSUER}
    if defect == "wrong_audience":
        return lifetime, {"aud": WRONG_AUDIENCE}
    return lifetime, {}
