"""Process settings (not the fixture): from ``MOCK_OP_AUTH_*`` environment variables; CLI flags win."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOCK_OP_AUTH_", extra="ignore", frozen=True)

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

    def extra_tls_hosts(self) -> list[str]:
        return [h.strip() for h in (self.tls_hosts or "").split(",") if h.strip()]
    workers: int = Field(1, ge=1, le=64)
