"""A fresh app per test, reached over HTTP through httpx's ASGI transport (no sockets)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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


# -- the three stores, for the tests every store must pass (tests/test_store_contract.py) ---------------

REDIS_ENV = "MOCK_OP_AUTH_TEST_REDIS_URL"


def redis_url() -> str:
    """The test Redis (``.ci/run`` starts redis-server and sets it); a missing one fails, never skips."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.fail(f"{REDIS_ENV} is not set: run the suite through .ci/run, which starts redis-server")
    return url


@pytest.fixture
def redis_spec() -> Iterator[str]:
    """A ``--state`` value on the test Redis, under a key prefix of this test's own (removed after it)."""
    import redis

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield f"{redis_url()}?prefix={prefix}"
    client = redis.Redis.from_url(redis_url())
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))  # tests may add to the prefix
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """``--state`` for each store: None (memory), an SQLite file, a Redis URL."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("redis_spec")
