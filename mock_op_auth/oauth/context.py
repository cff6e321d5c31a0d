"""The context a request is judged in: the fixture, the settings in force (the active
scenario's overrides applied), the issuer the request is answered as, and the token shape of
the endpoint's dialect. Every service reads it; the runner builds one per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mock_op_auth.config.schema import Config, ServerConfig


@dataclass(frozen=True)
class TokenShape:
    """How a dialect wants its tokens to look; OP's Apigee path uses 28/32-character opaque tokens."""

    access_format: Literal["jwt", "opaque"] = "jwt"
    opaque_length: int = 43
    refresh_length: int = 43
    client_credentials_refresh: bool = False  # OP's general path follows its sample and issues one
    rt_hash: bool = False  # PSD2 ID tokens carry a hash of the refresh token (Open Banking)
    access_ttl: int | None = None  # a dialect's own lifetimes (OP's Apigee path: 86399/1799); None: the server's
    refresh_ttl: int | None = None


@dataclass(frozen=True)
class Env:
    """What a request is judged against: the fixture, the settings in force, the issuer, the shape."""

    config: Config
    server_config: ServerConfig
    issuer: str
    shape: TokenShape
    issuers: tuple[str, ...] = ()  # every issuer this server answered as: its tokens verify under any of them

    @property
    def known_issuers(self) -> tuple[str, ...]:
        return self.issuers or (self.issuer,)
