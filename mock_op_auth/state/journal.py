"""The request journal: one entry per request, secrets masked when recorded (never stored)."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from itertools import count
from typing import Any

SECRET_PARAMS = frozenset({
    "client_secret", "password", "code", "code_verifier", "refresh_token", "access_token", "token",
    "assertion", "client_assertion", "id_token_hint", "subject_token", "actor_token", "csrf_token",
    "logout_token",
    "device_code",
})
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "set-cookie", "proxy-authorization",
                            "x-mock-admin-token", "dpop"})
# what a fixture calls its secrets, as given to the control API (a namespace's fixtures, say)
SECRET_FIELDS = SECRET_PARAMS | {"secret", "api_key", "private_key", "admin_token"}
# schemes an Authorization header may show: anything else may be the credential itself
SHOWN_SCHEMES = frozenset({"basic", "bearer", "dpop", "digest", "negotiate"})
MASK = "***"


def mask_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Parameters with secret values replaced; a repeated name keeps every value, as a list."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        shown = MASK if key in SECRET_PARAMS else value
        if key in result:
            prior = result[key]
            result[key] = [*prior, shown] if isinstance(prior, list) else [prior, shown]
        else:
            result[key] = shown
    return result


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers with credentials masked; an Authorization header keeps its scheme when it is one
    (Basic, Bearer, DPoP): a header without one (``Basic\tdXNlcjpwdw==``, a bare token) is all secret."""
    shown = {name: MASK if name in SECRET_HEADERS else value for name, value in headers.items()}
    if "authorization" in shown:
        scheme, blank, _ = headers["authorization"].partition(" ")
        shown["authorization"] = f"{scheme} {MASK}" if blank and scheme.lower() in SHOWN_SCHEMES else MASK
    return shown


def mask_json(value: Any) -> Any:
    """A JSON value with the members that name secrets masked at any depth (a namespace's
    ``fixtures.clients.*.secret``); the value is parsed JSON, bounded in depth."""
    if isinstance(value, dict):
        return {k: MASK if k in SECRET_FIELDS else mask_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(item) for item in value]
    return value


class Journal:
    """A bounded, thread-safe log of requests, oldest first."""

    def __init__(self, size: int) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._ids = count(1)
        self._lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append({"id": next(self._ids), **entry})

    def entries(self, endpoint: str | None = None, client_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries
                    if (endpoint is None or e.get("endpoint") == endpoint)
                    and (client_id is None or e.get("client_id") == client_id)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def resize(self, size: int) -> None:
        with self._lock:
            self._entries = deque(self._entries, maxlen=size)


class SharedJournal:
    """The journal of processes sharing a store: entries appended there with ids unique and
    increasing across every process; reads return the newest ``size`` entries, oldest first."""

    def __init__(self, state: Any, size: int) -> None:
        self._state = state
        self._size = size

    def record(self, entry: dict[str, Any]) -> None:
        self._state.journal_append(json.dumps(entry, separators=(",", ":"), default=str), self._size)

    def entries(self, endpoint: str | None = None, client_id: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self._state.journal(self._size)
                if (endpoint is None or e.get("endpoint") == endpoint)
                and (client_id is None or e.get("client_id") == client_id)]

    def clear(self) -> None:
        self._state.journal_clear()

    def resize(self, size: int) -> None:
        self._size = size
