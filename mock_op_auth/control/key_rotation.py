"""``POST /_mock/keys/rotate``: a new signing key, the old one kept in the JWKS for as long as a
token it signed could still be live (RFC 7517; a client caching the JWKS must not see a live
token's key vanish)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mock_op_auth.server import Server


class KeyInfo(BaseModel):
    kid: str
    alg: str
    retire_at: float | None = Field(None, description="epoch seconds it leaves the JWKS; null for the current key")


class KeyRotation(BaseModel):
    kid: str = Field(description="the new current key's kid")
    keys: list[KeyInfo] = Field(description="every key in the JWKS now, the current one last")


def keep_for(server: Server) -> float:
    """Seconds the old key must stay: the longest lifetime a token signed now could have (the
    configured and scenario TTLs, ID tokens included) or the latest expiry of a live access token."""
    config = server.config
    ttls = [config.server.access_token_ttl, config.server.id_token_ttl]
    ttls += [s.server.access_token_ttl for s in config.scenarios.values() if s.server.access_token_ttl]
    now = server.clock.now()
    live = [t.expires_at - now for t in server.store.live_access_tokens()]
    return float(max([*ttls, *live]))


def rotate_keys(server: Server) -> KeyRotation:
    current = server.keys.rotate(keep_for(server))
    return KeyRotation(kid=current.kid, keys=[KeyInfo(kid=k.kid, alg=k.alg, retire_at=k.retire_at)
                                              for k in server.keys.live()])
