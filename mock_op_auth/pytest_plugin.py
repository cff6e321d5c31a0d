"""The pytest plugin (entry point ``pytest11``, DESIGN §5): a thin layer over ``testing.py``.

``op_auth``: a live mock on 127.0.0.1, started once per session (per xdist worker) and reset
before each test. ``@pytest.mark.op_auth(fixtures=..., scenario=...)``: this test runs against
a server loaded with those fixtures (one server per distinct path, kept for the session), with
that scenario active. ``--op-auth-fixtures PATH`` (or the ``op_auth_fixtures`` ini key): the
fixtures of every test without its own. The server code is imported on first use, so loading
the plugin costs nothing to a run that never asks for ``op_auth``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mock_op_auth.testing import OpAuth

MARKER_KEYS = frozenset({"fixtures", "scenario", "tls"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("op_auth", "mock-op-auth")
    group.addoption("--op-auth-fixtures", metavar="PATH", default=None,
                    help="fixture file or directory for the op_auth fixture (default: the embedded one)")
    group.addoption("--op-auth-url", metavar="URL", default=None,
                    help="a running mock-op-auth: take a namespace of it per test instead of starting a server "
                         "(default: $MOCK_OP_AUTH_URL)")
    parser.addini("op_auth_fixtures", "fixture file or directory for the op_auth fixture, relative to the ini file")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "op_auth(fixtures=None, scenario=None, tls=False): run against a mock loaded with these "
                   "fixtures (a file or directory, relative to the rootdir), with this scenario active, over HTTPS "
                   "with tls=True")


class ServerPool:
    """The session's live servers, one per fixtures path (None: the default), started on first use."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._servers: dict[tuple[Path | None, bool], OpAuth] = {}

    def get(self, fixtures: Path | None, tls: bool = False) -> OpAuth:
        if (fixtures, tls) not in self._servers:
            from mock_op_auth.testing import run_server

            self._servers[fixtures, tls] = self._stack.enter_context(run_server(fixtures, tls=tls))
        return self._servers[fixtures, tls]

    def close(self) -> None:
        self._servers.clear()
        self._stack.close()


def _default_fixtures(config: pytest.Config) -> Path | None:
    option = config.getoption("--op-auth-fixtures")
    if option:
        return (config.invocation_params.dir / option).resolve()
    ini = config.getini("op_auth_fixtures")
    if ini:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / str(ini)).resolve()
    return None


def _marker_args(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The ``op_auth`` markers of the test, its class and its module, combined: a module's
    ``fixtures=`` and a test's ``scenario=`` both apply; the nearest marker wins a keyword."""
    merged: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("op_auth"))):  # farthest first
        if marker.args or not marker.kwargs.keys() <= MARKER_KEYS:
            raise pytest.UsageError(f"{request.node.nodeid}: @pytest.mark.op_auth takes only the keywords "
                                    f"fixtures=, scenario= and tls=, got {marker.args} {marker.kwargs}")
        merged.update(marker.kwargs)
    if not isinstance(merged.get("tls", False), bool):  # tls="no" would be true
        raise pytest.UsageError(f"{request.node.nodeid}: @pytest.mark.op_auth(tls=...) takes True or False, "
                                f"got {merged['tls']!r}")
    return merged


@pytest.fixture(scope="session")
def _op_auth_pool() -> Iterator[ServerPool]:
    pool = ServerPool()
    try:
        yield pool
    finally:
        pool.close()


def _remote_url(config: pytest.Config) -> str | None:
    return config.getoption("--op-auth-url") or os.environ.get("MOCK_OP_AUTH_URL") or None


@pytest.fixture(scope="session")
def _op_auth_remote(request: pytest.FixtureRequest) -> Iterator[OpAuth | None]:
    url = _remote_url(request.config)
    if url is None:
        yield None
        return
    from mock_op_auth.testing import OpAuth

    with OpAuth(url, admin_token=os.environ.get("MOCK_OP_AUTH_ADMIN_TOKEN") or None) as remote:
        yield remote


@pytest.fixture
def op_auth(request: pytest.FixtureRequest, _op_auth_pool: ServerPool,
            _op_auth_remote: OpAuth | None) -> Iterator[OpAuth]:
    """A live mock-op-auth on 127.0.0.1, reset before this test: state, journal, rules, clock, scenario;
    with ``--op-auth-url``, a fresh namespace of that server, deleted after the test."""
    args = _marker_args(request)
    fixtures = args.get("fixtures")
    path = (request.config.rootpath / str(fixtures)).resolve() if fixtures else _default_fixtures(request.config)
    if _op_auth_remote is not None:
        helper = _op_auth_remote.namespace(fixtures=path)
        try:
            if args.get("scenario"):
                helper.use_scenario(args["scenario"])
            yield helper
        finally:
            helper.delete()
            helper.close()
        return
    helper = _op_auth_pool.get(path, bool(args.get("tls", False)))
    helper.reset()
    if args.get("scenario"):
        helper.use_scenario(args["scenario"])
    yield helper
