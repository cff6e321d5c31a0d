"""Namespaces (DESIGN §11): a whole mock under ``/ns/{name}``, for parallel tests on one server.

A namespace is a ``Server`` of its own (issuer ``{base}/ns/{name}``, clients, users, tokens,
codes, keys, scenario, rules, journal, clock) answering the same routes. ``ServerSelect`` is the
outermost ASGI layer: it picks the Server a request is for (``/ns/{name}/...`` with the prefix
moved to ``root_path``, or the header ``X-Mock-Namespace``, else the root), brings a shared
store's state up to date (``Server.sync``) and hands the Server on in the scope, so every
handler stays as it is and only reads ``scope[SERVER]``.

With a shared store the registry lives there, so a namespace created at one process is served
by all of them, and deleted everywhere at once (each process checks the registry per request
and drops its copy when the namespace's token changed or it is gone). Namespaces are bounded
(``server.max_namespaces``) and expire after ``server.namespace_idle_ttl`` seconds without a
request (wall-clock time).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from mock_op_auth.config.loader import load_document
from mock_op_auth.config.schema import Config
from mock_op_auth.dialects.responses import json_response
from mock_op_auth.http.call import NAMESPACE_PATH
from mock_op_auth.http.deps import SERVER
from mock_op_auth.server import Server
from mock_op_auth.state.shared import NamespaceRecord
from mock_op_auth.state.store import StoreUnavailableError

PREFIX = "/ns/"
HEADER = b"x-mock-namespace"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
TOUCH_EVERY = 1.0  # seconds between writes of a namespace's last use, per process


class NamespaceError(Exception):
    """A namespace call the registry refuses: ``status`` 400 (bad name or fixtures), 404 or 409."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Namespaces:
    """The namespaces of one root Server and this process's Server for each."""

    def __init__(self, root: Server) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._servers: OrderedDict[str, tuple[str, Server]] = OrderedDict()  # name -> (token, server)
        self._records: dict[str, NamespaceRecord] = {}  # the registry itself, without a shared store
        self._touched: dict[str, float] = {}
        self.wall_clock = time.time  # idle expiry is wall-clock time, not the mock clock (tests replace it)

    @property
    def _limit(self) -> int:
        return self.root.config.server.max_namespaces

    @property
    def _idle(self) -> float:
        return float(self.root.config.server.namespace_idle_ttl)

    def create(self, name: str | None, fixtures: Any = None) -> Server:
        """A new namespace (a generated name when none is given) serving ``fixtures`` or the root's."""
        if name is None:
            name = "ns-" + secrets.token_hex(6)
        if not isinstance(name, str) or not NAME.match(name):
            raise NamespaceError(400, "a namespace name is 1 to 63 letters, digits, '_' or '-', "
                                      "starting with a letter or digit")
        config = self.root.config
        document = None
        if fixtures is not None:
            from mock_op_auth.errors import FixtureError

            try:
                config = load_document(fixtures, "fixtures")
            except FixtureError as err:
                raise NamespaceError(400, "; ".join(str(p) for p in err.problems)) from None
            document = json.dumps(fixtures, separators=(",", ":"))
        now = self.wall_clock()
        record = NamespaceRecord(name, secrets.token_hex(8), document, now, now)
        if self.root.shared:
            outcome = self.root.store.ns_create(record, self._limit, self._idle)  # type: ignore[attr-defined]
        else:
            with self._lock:
                for idle in [n for n, r in self._records.items() if r.used_at <= now - self._idle]:
                    self._forget(idle)
                outcome = "taken" if name in self._records else "full" if len(self._records) >= self._limit else "ok"
                if outcome == "ok":
                    self._records[name] = record
        if outcome == "taken":
            raise NamespaceError(409, f"the namespace {name} exists already")
        if outcome == "full":
            raise NamespaceError(409, f"{self._limit} namespaces exist (server.max_namespaces); delete one first")
        return self._build(record, config)

    def get(self, name: str) -> Server | None:
        """The namespace's Server, or None when there is no such (live) namespace."""
        now = self.wall_clock()
        if self.root.shared:
            record = self.root.store.ns_get(name, now, self._idle)  # type: ignore[attr-defined]
            if record is not None and now - self._touched.get(name, 0.0) >= TOUCH_EVERY:
                self._touched[name] = now
                self.root.store.ns_touch(name, now)  # type: ignore[attr-defined]
        else:
            with self._lock:
                record = self._records.get(name)
                if record is not None and record.used_at <= now - self._idle:
                    self._forget(name)
                    record = None
                if record is not None:
                    record = self._records[name] = NamespaceRecord(record.name, record.token, record.fixtures,
                                                                   record.created_at, now)
        if record is None:
            with self._lock:
                self._servers.pop(name, None)
            return None
        cached = self._servers.get(name)
        if cached is not None and cached[0] == record.token:
            return cached[1]
        config = load_document(json.loads(record.fixtures), "fixtures") if record.fixtures else self.root.config
        return self._build(record, config)

    def delete(self, name: str) -> bool:
        """Forget namespace ``name``; False when there is none (a name no namespace could have included)."""
        if not NAME.match(name):
            return False
        if self.root.shared:
            found = bool(self.root.store.ns_delete(name))  # type: ignore[attr-defined]
            with self._lock:
                self._servers.pop(name, None)
            return found
        with self._lock:
            return self._forget(name)

    def records(self) -> list[NamespaceRecord]:
        now = self.wall_clock()
        if self.root.shared:
            return list(self.root.store.ns_list(now, self._idle))  # type: ignore[attr-defined]
        with self._lock:
            return sorted((r for r in self._records.values() if r.used_at > now - self._idle),
                          key=lambda r: r.created_at)

    def _forget(self, name: str) -> bool:
        """Drop a namespace of the in-memory registry (caller holds the lock)."""
        self._servers.pop(name, None)
        self._touched.pop(name, None)
        return self._records.pop(name, None) is not None

    def _build(self, record: NamespaceRecord, config: Config) -> Server:
        server = Server(config, self.root.settings, namespace=record.name, parent=self.root)
        with self._lock:
            self._servers[record.name] = (record.token, server)
            self._servers.move_to_end(record.name)
            while len(self._servers) > max(self._limit, 1):  # copies of namespaces deleted elsewhere
                self._servers.popitem(last=False)
        return server


def _not_found(name: str) -> Any:
    return json_response({"error": "not_found", "error_description": f"no namespace {name[:80]}"}, 404)


def _unavailable(err: Exception) -> Any:
    return json_response({"error": "temporarily_unavailable", "error_description": str(err)}, 503,
                         {"Retry-After": "1"})


class ServerSelect:
    """The outermost ASGI layer: which Server answers this request (see the module docstring)."""

    def __init__(self, app: ASGIApp, root: Server, namespaces: Namespaces) -> None:
        self.app = app
        self.root = root
        self.namespaces = namespaces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = self.root
        path: str = scope["path"]
        name = None
        if path.startswith(PREFIX):
            name, _, rest = path[len(PREFIX):].partition("/")
            scope = {**scope, "path": "/" + rest, "raw_path": ("/" + rest).encode("latin-1", "replace"),
                     "root_path": f"{scope.get('root_path', '')}{PREFIX}{name}", NAMESPACE_PATH: PREFIX + name}
        else:
            for header, value in scope["headers"]:
                if header == HEADER or (len(header) == len(HEADER) and header.lower() == HEADER):
                    name = value.decode("latin-1")
                    scope = {**scope, "root_path": f"{scope.get('root_path', '')}{PREFIX}{name}",
                             NAMESPACE_PATH: PREFIX + name}
                    break
        try:
            if name is not None:
                found = self.namespaces.get(name) if NAME.match(name) else None
                if found is None:
                    await _not_found(name)(scope, receive, send)
                    return
                server = found
            if server.shared:
                server.sync()
        except StoreUnavailableError as err:
            await _unavailable(err)(scope, receive, send)
            return
        scope[SERVER] = server
        await self.app(scope, receive, send)
