"""Bearer-token checks shared by userinfo, introspection and the resource stub (RFC 6750, RFC 9068 §4).

A JWT is accepted when signed by one of this server's live keys with the server's own
algorithm, issued by this issuer, inside its time window by the mock clock, known to the store
(by its ``jti``) and not revoked; an opaque token when the store knows it and it is live. Either
must be ``approved``. The store is the authority for both formats: every token this server issues
is recorded, so one the store does not know (issued before ``/_mock/reset``, or dropped from a
full store) is refused however well it is signed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mock_op_auth.errors import InvalidTokenError
from mock_op_auth.oauth.clients import secrets_equal
from mock_op_auth.oauth.jwt_claims import is_time
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import KeySet
from mock_op_auth.state.store import AccessToken, Store

if TYPE_CHECKING:
    from mock_op_auth.tls.certs import ClientCertificate

CLOCK_SKEW = 0  # seconds of leeway; the mock clock is exact


@dataclass(frozen=True)
class TokenInfo:
    """What a valid access token says, whatever its format."""

    client_id: str
    subject: str
    scope: tuple[str, ...]
    issued_at: int
    expires_at: int
    audience: str | list[str]
    issuer: str
    jti: str | None
    claims: dict[str, Any]
    grant_id: str | None = None

    @property
    def jkt(self) -> str | None:
        """The thumbprint of the DPoP key the token is bound to (RFC 9449 §6.1 ``cnf.jkt``), if any."""
        cnf = self.claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        return jkt if isinstance(jkt, str) else None

    def as_introspection(self) -> dict[str, Any]:
        """RFC 7662 §2.2 members of an active token, with ``cnf`` and ``token_type: DPoP`` for a
        DPoP-bound one (RFC 9449 §6.2) and ``act`` for an exchanged one (RFC 8693 §4.1)."""
        jkt = self.jkt
        body: dict[str, Any] = {
            "active": True, "scope": " ".join(self.scope), "client_id": self.client_id,
            "token_type": "DPoP" if jkt else "Bearer", "exp": self.expires_at, "iat": self.issued_at,
            "sub": self.subject, "aud": self.audience, "iss": self.issuer,
        }
        if self.jti:
            body["jti"] = self.jti
        cnf = self.claims.get("cnf")
        if isinstance(cnf, dict) and cnf:
            body["cnf"] = cnf  # jkt (DPoP), x5t#S256 (mutual TLS), or both
        if isinstance(self.claims.get("act"), dict):
            body["act"] = self.claims["act"]
        return body

    @property
    def certificate_thumbprint(self) -> str | None:
        """The ``x5t#S256`` the token is bound to (RFC 8705 §3), if any."""
        cnf = self.claims.get("cnf")
        value = cnf.get("x5t#S256") if isinstance(cnf, dict) else None
        return value if isinstance(value, str) else None


class BearerValidator:
    def __init__(self, keys: KeySet, store: Store, clock: Clock) -> None:
        self._keys = keys
        self._store = store
        self._clock = clock

    def validate(self, token: str | None, issuers: Collection[str], audiences: Collection[str] = ()) -> TokenInfo:
        """Return what ``token`` grants, or raise InvalidTokenError with the reason.

        ``issuers``: the ``iss`` values this server answers as; ``audiences``: if given, a JWT's
        ``aud`` must name one of them.
        """
        if not token:
            raise InvalidTokenError("missing")
        if len(token) > 8192:
            raise InvalidTokenError("malformed")
        if token.count(".") == 2:
            return self._jwt(token, issuers, audiences)
        return self._opaque(token)

    def authorize(self, token: str | None, certificate: ClientCertificate | None, issuers: Collection[str],
                  audiences: Collection[str] = ()) -> TokenInfo:
        """``validate`` for a protected resource: a certificate-bound token must come with the
        very certificate it was issued to (RFC 8705 §3)."""
        info = self.validate(token, issuers, audiences)
        self.check_certificate(info, certificate)
        return info

    @staticmethod
    def check_certificate(info: TokenInfo, certificate: ClientCertificate | None) -> None:
        """A certificate-bound token (RFC 8705 §3) comes with the very certificate it was issued to."""
        bound = info.certificate_thumbprint
        if bound is not None and (certificate is None or not secrets_equal(certificate.x5t_s256, bound)):
            raise InvalidTokenError("wrong_certificate")

    def claims_of(self, token: str | None) -> dict[str, Any] | None:
        """The claims of a token this server issued, its signature checked but not its state (to
        say why a revoked token was refused); None for anything else."""
        if not token or len(token) > 8192:
            return None
        if token.count(".") == 2:
            try:
                return self._keys.verify(token)
            except InvalidTokenError:
                return None
        record = self._store.get_access(token)
        return dict(record.claims) if record is not None else None

    def _opaque(self, token: str) -> TokenInfo:
        record = self._store.get_access(token)
        if record is None:
            raise InvalidTokenError("unknown")
        self._check_record(record)
        if record.expires_at <= self._clock.now():
            raise InvalidTokenError("expired")
        return TokenInfo(record.client_id, record.subject, record.scope, record.issued_at, int(record.expires_at),
                         record.audience, record.issuer, None, dict(record.claims), record.grant_id)

    def _jwt(self, token: str, issuers: Collection[str], audiences: Collection[str]) -> TokenInfo:
        claims = self._keys.verify(token)
        now = self._clock.now()
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf", claims.get("iat"))
        if not is_time(exp) or not is_time(iat):
            raise InvalidTokenError("malformed")
        if exp <= now - CLOCK_SKEW:
            raise InvalidTokenError("expired")
        if is_time(nbf) and nbf > now + CLOCK_SKEW:
            raise InvalidTokenError("not_yet_valid")
        if claims.get("iss") not in issuers:
            raise InvalidTokenError("wrong_issuer")
        aud = claims.get("aud")
        if audiences and not set(aud if isinstance(aud, list) else [aud]) & set(audiences):
            raise InvalidTokenError("wrong_audience")
        jti = claims.get("jti")
        record = self._store.get_access(jti) if isinstance(jti, str) else None
        if record is None:
            raise InvalidTokenError("unknown")
        self._check_record(record)
        scope = claims.get("scope", "")
        return TokenInfo(
            client_id=str(claims.get("client_id", "")), subject=str(claims.get("sub", "")),
            scope=tuple(scope.split()) if isinstance(scope, str) else (), issued_at=int(iat),
            expires_at=int(exp), audience=claims.get("aud", ""), issuer=str(claims["iss"]),
            jti=str(jti), claims=claims, grant_id=record.grant_id,
        )

    def _check_record(self, record: AccessToken) -> None:
        if record.revoked:
            raise InvalidTokenError("revoked")
        if record.grant_id is not None:
            grant = self._store.get_grant(record.grant_id)
            if grant is not None and grant.revoked:
                raise InvalidTokenError("revoked")
        if record.status != "approved":
            raise InvalidTokenError("not_approved")
