"""A fresh app per test, reached over HTTP through httpx's ASGI transport (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mock_op_auth import Settings, create_app, load_default
from mock_op_auth.config.schema import Config
from mock_op_auth.server import Server
from mock_op_auth.state.keys import SigningKey, generate_key


@pytest.fixture(scope="session")
def default_config() -> Config:
    return load_default()


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    """One RS256 key for the whole run: generating one per test would dominate the suite's time."""
    return generate_key("RS256")


def build_app(config: Config, key: SigningKey | None = None, settings: Settings | None = None):
    """A fresh app (fresh state) for ``config``; ``key`` is reused when its algorithm fits."""
    settings = settings or Settings()
    server = Server(config, settings, keys=[key] if key else None)
    return create_app(config, settings, server=server)


@pytest.fixture
def app(default_config: Config, rsa_key: SigningKey):
    return build_app(default_config, rsa_key)


@pytest.fixture
def server(app) -> Server:
    return app.state.server


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        yield c
