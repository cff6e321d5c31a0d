"""What several processes on one store share besides records (DESIGN §11): the mock clock's
offset, the active scenario, runtime rules and their ``times`` counters, the journal, the
signing keys and the namespaces.

``SharedState`` is implemented by the shared stores (``SqliteStore``, ``RedisStore``); the
in-memory store has none of it and the server keeps those in process, as before. A process reads
one ``Control`` snapshot per request (one query or round trip): the clock offset and active
scenario as they are now, and version numbers that say when its copy of the runtime rules, the
signing keys or the registered clients is out of date. Nothing is cached past a request without
such a version check, so no other process can make it stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

NOT_SET = "\x00"  # the active scenario has never been chosen since the last reset: the default one
JOURNAL_TRIM_EVERY = 64  # appends between trims of the shared journal (reads return only the newest)


@dataclass(frozen=True)
class Control:
    """One read of the shared control state."""

    offset: float = 0.0
    active: str | None = NOT_SET  # NOT_SET: the server's default scenario
    rules_version: int = 0
    keys_version: int = 0
    clients_version: int = 0


@dataclass(frozen=True)
class NamespaceRecord:
    """A namespace as the store keeps it: ``token`` changes when the name is deleted and taken again."""

    name: str
    token: str
    fixtures: str | None  # the fixture document as JSON; None: the server's own
    created_at: float
    used_at: float


class SharedState(Protocol):
    """The shared control state of one namespace ("" is the root) of a shared store."""

    def control(self) -> Control: ...
    def advance_clock(self, seconds: float) -> float: ...  # returns the new offset
    def set_clock(self, offset: float) -> None: ...
    def set_active(self, name: str | None) -> None: ...  # also restarts that scenario's counters
    def add_rule(self, data: str, limit: int, is_used_up: Any) -> int | None: ...  # None: full
    def rules(self) -> list[tuple[int, str]]: ...
    def clear_rules(self) -> None: ...
    def use_rule(self, key: str, times: int | None) -> bool: ...  # count one use unless used up
    def rule_uses(self) -> dict[str, int]: ...
    def journal_append(self, entry: str, size: int) -> None: ...
    def journal(self, size: int) -> list[dict[str, Any]]: ...
    def journal_clear(self) -> None: ...
    def signing_keys(self, alg: str) -> list[tuple[bytes, float | None]]: ...
    def init_keys(self, alg: str, pem: bytes) -> None: ...  # only if there is no current key yet
    def rotate_keys(self, alg: str, pem: bytes, kid: str, retire_at: float) -> None: ...
    def reset_state(self) -> None: ...  # records, rules, counters, journal, clock, scenario
    # namespaces (kept in the root namespace's registry)
    def ns_create(self, record: NamespaceRecord, limit: int, idle_ttl: float) -> str: ...  # "ok"/"taken"/"full"
    def ns_get(self, name: str, now: float, idle_ttl: float) -> NamespaceRecord | None: ...
    def ns_touch(self, name: str, now: float) -> None: ...
    def ns_delete(self, name: str) -> bool: ...
    def ns_list(self, now: float, idle_ttl: float) -> list[NamespaceRecord]: ...
    def view(self, namespace: str) -> Any: ...  # the same store, another namespace
