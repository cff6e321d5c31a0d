"""Token introspection (RFC 7662) and revocation (RFC 7009): what a token is worth, and ending it.

Both are answered for the authenticated client by the handlers in ``routers/introspection.py``;
the rules live here. Introspection tells the truth about any of this server's tokens (access or
refresh); revocation reaches only the asking client's own tokens and never says whether a token
existed (RFC 7009 §2.2).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mock_op_auth.errors import InvalidTokenError
from mock_op_auth.oauth.bearer import BearerValidator
from mock_op_auth.oauth.request import Call
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import AccessToken, Store


def token_param(call: Call) -> str:
    """The ``token`` parameter; ``token_type_hint`` is optional and only a hint, so both kinds are searched."""
    return call.required_form_param("token")


class IntrospectionService:
    def __init__(self, store: Store, bearer: BearerValidator, clock: Clock) -> None:
        self.store = store
        self.bearer = bearer
        self.clock = clock

    def introspect(self, token: str, issuer: str, issuers: Collection[str]) -> dict[str, Any]:
        """RFC 7662 §2.2: an access token's claims, a refresh token's, or ``{"active": false}``.
        ``issuer`` is the one answering now; ``issuers`` every one this server has answered as."""
        try:
            return self.bearer.validate(token, issuers).as_introspection()
        except InvalidTokenError:
            pass
        refresh = self.store.get_refresh(token)
        if refresh is None or refresh.expires_at <= self.clock.now():
            return {"active": False}
        grant = self.store.get_grant(refresh.grant_id)
        if grant is None or grant.revoked or grant.current_refresh != token:
            return {"active": False}
        return {"active": True, "token_type": "refresh_token", "client_id": grant.client_id,
                "scope": " ".join(grant.scope), "sub": grant.subject, "iat": refresh.issued_at,
                "exp": int(refresh.expires_at), "iss": issuer}

    def revoke(self, client_id: str, token: str, issuers: Collection[str]) -> None:
        """Revoke ``token`` if it is ``client_id``'s: a refresh token takes its grant and the grant's
        access tokens with it (RFC 7009 §2.1); anything else is silently ignored (§2.2)."""
        refresh = self.store.get_refresh(token)
        if refresh is not None:
            if refresh.client_id == client_id:
                self.store.revoke_grant(refresh.grant_id)
            return
        record = self._access_record(token, issuers)
        if record is not None and record.client_id == client_id:
            self.store.revoke_access(record.key)

    def _access_record(self, token: str, issuers: Collection[str]) -> AccessToken | None:
        if token.count(".") == 2:
            try:
                info = self.bearer.validate(token, issuers)
            except InvalidTokenError:
                return None
            return self.store.get_access(info.jti) if info.jti else None
        return self.store.get_access(token)
