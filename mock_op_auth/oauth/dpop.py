"""DPoP (RFC 9449): proofs of possession of a client's key, at the token endpoint and at
protected resources (userinfo and the resource stub).

A proof is a JWT the client signs for one request: header ``typ: dpop+jwt``, one of our pinned
asymmetric algorithms and the client's public ``jwk`` (private members refused); claims ``htm``
and ``htu`` naming the request, ``iat`` inside the window by the mock clock, a ``jti`` never seen
before (kept as a store marker until the proof would be too old anyway), ``ath`` (the access
token's hash) at resources, and, with ``server.dpop_nonce``, a ``nonce`` this server handed out
(§8, §9). The proof's key thumbprint (RFC 7638) binds the access token (``cnf.jkt``).

The mock clock judges ``iat``, as every other time check: a test that moves the clock should
stamp its proofs with the mock's time (requests-oauth2client: ``DPoPKey(..., iat_generator=...)``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from mock_op_auth.config.schema import Client, ServerConfig
from mock_op_auth.errors import (
    BearerError,
    DpopResourceError,
    InvalidDpopProofError,
    InvalidRequestError,
    InvalidTokenError,
    UseDpopNonceError,
)
from mock_op_auth.oauth.bearer import BearerValidator, TokenInfo
from mock_op_auth.oauth.jwt_claims import is_time
from mock_op_auth.oauth.request import Call
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import thumbprint, unverified_header, verify_with_jwk
from mock_op_auth.state.store import Store

DPOP_ALGS = ("ES256", "PS256", "RS256")  # asymmetric only, never none or HMAC (RFC 9449 §4.2)
PROOF_MAX_AGE = 300  # seconds an iat may lie in the past
PROOF_MAX_SKEW = 60  # seconds an iat may lie in the future
NONCE_TTL = 300  # seconds a nonce handed out stays good
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256


@dataclass(frozen=True)
class Proof:
    """A verified DPoP proof: the thumbprint of its key and the request it names."""

    jkt: str
    jti: str
    htm: str
    htu: str


def presented_token(call: Call, *, body: bool = False) -> tuple[str | None, bool]:
    """A request's access token, and whether it came with the DPoP scheme (RFC 9449 §7.1); from the
    Authorization header or, with ``body``, the form (RFC 6750 §2.2), never both."""
    sent = [(token, dpop) for token, dpop in ((call.bearer, False), (call.dpop_token, True),
                                              (call.form_param("access_token") if body else None, False)) if token]
    if len(sent) > 1:
        raise InvalidRequestError("send the access token once, in the header or the body")
    return sent[0] if sent else (None, False)


def access_token_hash(token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII (RFC 9449 §4.2)."""
    digest = hashlib.sha256(token.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalize_uri(uri: str, *, decode_path: bool = False) -> str | None:
    """``uri`` without query and fragment, scheme and host in lower case and the default port
    dropped (RFC 3986 §6.2.2, §6.2.3), for comparing ``htu``; None when it is no http(s) URI.
    ``decode_path``: percent-decode the path, as the server's own request path already is (a
    client writes ``htu`` as it sent the URL: ``/items/a%20b``)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.username is not None:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != (443 if scheme == "https" else 80):
        netloc += f":{port}"
    path = unquote(parts.path) if decode_path else parts.path
    return f"{scheme}://{netloc}{path or '/'}"


class DpopVerifier:
    """Verifies proofs and hands out nonces; the ``jti`` values seen and the nonces live in the store."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def new_nonce(self) -> str:
        nonce = secrets.token_urlsafe(24)
        self.store.add_marker(f"dpop-nonce:{nonce}", self.clock.now() + NONCE_TTL)
        return nonce

    def verify(self, proof: str | None, *, method: str, uri: str, nonce_required: bool,
               access_token: str | None = None) -> Proof:
        """Check ``proof`` for a ``method`` request to ``uri`` (RFC 9449 §4.3) and burn its ``jti``;
        InvalidDpopProofError (or UseDpopNonceError with a fresh nonce) when it does not hold."""
        if not proof:
            raise InvalidDpopProofError("a DPoP proof is required")
        if "," in proof:  # two header fields, combined by the edge: a compact JWS has no comma
            raise InvalidDpopProofError("more than one DPoP header (RFC 9449 §4.3 allows one)")
        if len(proof) > MAX_PROOF_LENGTH or proof.count(".") != 2:
            raise InvalidDpopProofError("the DPoP proof is not a compact JWS")
        try:
            header = unverified_header(proof)
        except InvalidTokenError:
            raise InvalidDpopProofError("the DPoP proof's header is malformed") from None
        if header.get("typ") != "dpop+jwt":
            raise InvalidDpopProofError("the DPoP proof's typ must be dpop+jwt")
        alg = header.get("alg")
        if alg not in DPOP_ALGS:
            raise InvalidDpopProofError(f"the DPoP proof's alg must be one of {', '.join(DPOP_ALGS)}")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise InvalidDpopProofError("the DPoP proof's header has no jwk")
        try:
            claims = verify_with_jwk(proof, jwk, str(alg))
        except InvalidTokenError as err:
            raise InvalidDpopProofError(f"the DPoP proof does not verify: {err.description}") from None
        jkt = thumbprint(jwk)
        found = self._check_claims(claims, method, uri, access_token)
        if nonce_required:
            nonce = claims.get("nonce")
            if not isinstance(nonce, str) or not self.store.has_marker(f"dpop-nonce:{nonce}"):
                raise UseDpopNonceError(self.new_nonce())
        if not self.store.add_marker(f"dpop-jti:{jkt}:{found.jti}", found.iat + PROOF_MAX_AGE):
            raise InvalidDpopProofError("the DPoP proof's jti was already used (a replay)")
        return Proof(jkt, found.jti, found.htm, found.htu)

    def _check_claims(self, claims: dict[str, Any], method: str, uri: str, access_token: str | None) -> _Claims:
        jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise InvalidDpopProofError("the DPoP proof needs a jti")
        if not isinstance(htm, str) or htm != method:
            raise InvalidDpopProofError(f"the DPoP proof's htm must be {method}")
        if not isinstance(htu, str) or normalize_uri(htu, decode_path=True) != normalize_uri(uri):
            raise InvalidDpopProofError(f"the DPoP proof's htu must be {uri}")
        if not is_time(iat):
            raise InvalidDpopProofError("the DPoP proof needs an iat")
        now = self.clock.now()
        if iat < now - PROOF_MAX_AGE:
            raise InvalidDpopProofError(f"the DPoP proof's iat is more than {PROOF_MAX_AGE} s old")
        if iat > now + PROOF_MAX_SKEW:
            raise InvalidDpopProofError("the DPoP proof's iat is in the future")
        if access_token is not None and claims.get("ath") != access_token_hash(access_token):
            raise InvalidDpopProofError("the DPoP proof's ath is not the hash of the access token")
        return _Claims(jti, htm, htu, float(iat))

    def at_token_endpoint(self, call: Call, client: Client, settings: ServerConfig) -> str | None:
        """The thumbprint of the request's DPoP key, or None without a proof (refused when the client
        must use DPoP, RFC 9449 §5.2). With ``server.dpop: false`` the header is ignored."""
        if not settings.dpop:
            return None
        proof = call.header("dpop")
        if proof is None:
            if client.dpop_bound_access_tokens:
                raise InvalidDpopProofError("this client must send a DPoP proof (dpop_bound_access_tokens)")
            return None
        return self.verify(proof, method=call.method, uri=call.issuer + call.path,
                           nonce_required=settings.dpop_nonce).jkt

    def token_info(self, call: Call, bearer: BearerValidator, token: str | None, dpop_scheme: bool,
                   settings: ServerConfig, issuers: Collection[str], audiences: Collection[str]) -> TokenInfo:
        """What a protected resource's access token grants, its DPoP binding checked (``at_resource``)
        and its certificate binding (RFC 8705 §3); errors of a request that used the DPoP scheme
        carry the DPoP challenge."""
        try:
            info = bearer.validate(token, issuers, audiences)
            bearer.check_certificate(info, call.client_cert)
        except BearerError as err:
            if dpop_scheme:
                err.scheme = "DPoP"
            raise
        if token is not None:
            self.at_resource(call, token, info, dpop_scheme, settings)
        return info

    def at_resource(self, call: Call, token: str, info: TokenInfo, dpop_scheme: bool, settings: ServerConfig) -> None:
        """RFC 9449 §7: a DPoP-bound token comes with the DPoP scheme and a proof by its key (``ath``
        included); a token sent with the DPoP scheme must be bound. Errors carry the DPoP challenge."""
        try:
            if not dpop_scheme:
                if info.jkt is not None:
                    raise InvalidTokenError("dpop_bound")
                return
            if not settings.dpop:
                raise InvalidTokenError("malformed", "DPoP is off on this server: send the token as a Bearer token")
            if info.jkt is None:
                raise InvalidTokenError("not_dpop_bound")
            try:
                proof = self.verify(call.header("dpop"), method=call.method, uri=call.issuer + call.path,
                                    nonce_required=settings.dpop_nonce, access_token=token)
            except InvalidDpopProofError as err:
                raise DpopResourceError(err) from None
            if proof.jkt != info.jkt:
                raise InvalidTokenError("dpop_key_mismatch")
        except InvalidTokenError as err:
            err.scheme = "DPoP"
            raise


@dataclass(frozen=True)
class _Claims:
    jti: str
    htm: str
    htu: str
    iat: float

