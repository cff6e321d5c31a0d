"""A fresh app per test, reached over HTTP through httpx's ASGI transport (no sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mock_op_auth import create_app
from mock_op_auth.server import Server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app():
    return create_app()


@pytest.fixture
def server(app) -> Server:
    return app.state.server


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock.test") as c:
        yield c
