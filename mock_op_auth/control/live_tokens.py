"""Live access tokens as the control API and the dashboard show them: never the token itself.

A token is named by ``id``, a hash of its store key (an opaque token's key is the token), so
listing tokens over the control API gives nobody a usable credential.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel

from mock_op_auth.server import Server
from mock_op_auth.state.store import AccessToken


class LiveToken(BaseModel):
    id: str
    client_id: str
    sub: str
    scope: str
    status: str
    issued_at: int
    expires_at: float
    expires_in: int


class LiveTokenList(BaseModel):
    tokens: list[LiveToken]


def token_id(token: AccessToken) -> str:
    return hashlib.sha256(token.key.encode("utf-8")).hexdigest()[:24]


def live_tokens(server: Server) -> list[LiveToken]:
    """Access tokens neither expired (by the mock clock) nor revoked, newest first."""
    now = server.clock.now()
    tokens = sorted(server.store.live_access_tokens(), key=lambda t: t.issued_at, reverse=True)
    return [LiveToken(id=token_id(t), client_id=t.client_id, sub=t.subject, scope=" ".join(t.scope),
                      status=t.status, issued_at=t.issued_at, expires_at=t.expires_at,
                      expires_in=max(0, int(t.expires_at - now)))
            for t in tokens]


def revoke_live_token(server: Server, id_: str) -> bool:
    """Revoke one live access token by its id; False when no live token has it."""
    for token in server.store.live_access_tokens():
        if token_id(token) == id_:
            server.store.revoke_access(token.key)
            return True
    return False
