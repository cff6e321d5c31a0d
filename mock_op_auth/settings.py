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
    workers: int = Field(1, ge=1, le=64)
