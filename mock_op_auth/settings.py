"""Process settings (not the fixture): from ``MOCK_OP_AUTH_*`` environment variables; CLI flags win.

A plain pydantic model reads the environment itself (names matched case-insensitively, values
validated like any other input: ``MOCK_OP_AUTH_TLS=1`` is true, a bad port is refused):
pydantic-settings did the same and cost every start about 25 ms of imports (docs/performance.md).
"""

from __future__ import annotations

import os
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENV_PREFIX = "mock_op_auth_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    fixtures: str | None = None
    issuer: str | None = None
    scenario: str | None = None
    admin_token: str | None = None
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    watch: bool = False
    state: str | None = None
    # HTTPS and client certificates (DESIGN §7, docs/tls.md)
    tls: bool = False
    tls_dir: str | None = None  # default: $XDG_STATE_HOME/mock-op-auth/tls (~/.local/state/...)
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    tls_hosts: str | None = None  # extra names for the server certificate, comma-separated
    workers: int = Field(1, ge=1, le=64)

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        """``MOCK_OP_AUTH_<FIELD>`` for every field the caller did not give."""
        if not isinstance(data, dict):
            return data
        env = {name.lower()[len(ENV_PREFIX):]: value for name, value in os.environ.items()
               if name.lower().startswith(ENV_PREFIX)}
        return {**{name: env[name] for name in cls.model_fields if name in env}, **data}

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, issuer: str | None) -> str | None:
        """RFC 8414 §2, OIDC Discovery §3: an https (here also http) URL with a host and no query
        or fragment; every endpoint in discovery and every token's ``iss`` is built on it."""
        if issuer is None:
            return None
        try:
            parts = urlsplit(issuer)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as err:
            raise ValueError(f"{issuer!r} is not a URL: {err}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{issuer!r} must be an http:// or https:// URL with a host, like https://op.example")
        if "?" in issuer or "#" in issuer:
            raise ValueError(f"{issuer!r} must have no query or fragment (RFC 8414 §2)")
        if any(c.isspace() for c in issuer) or not issuer.isprintable():
            raise ValueError(f"{issuer!r} must have no blanks or control characters")
        return issuer

    def extra_tls_hosts(self) -> list[str]:
        return [h.strip() for h in (self.tls_hosts or "").split(",") if h.strip()]
