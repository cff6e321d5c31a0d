"""SqliteStore: the Store and its shared state in one SQLite file (``--state FILE`` or
``sqlite:///PATH``), correct for several processes at once (``serve --workers N``, or servers
started on one file): a restarted server still honours what it issued, and every process on
the file behaves as one server.

Every record type lives in one generic table of JSON-serialised frozen dataclasses keyed by
``(kind, id)``, with an expiry column and an optional ``grant_id`` (what a grant's revocation
reaches). A namespace's rows carry its name as a prefix of ``kind`` (``ns:code``), so files of
the first release open unchanged. Adding a record type is a ``Kind`` in ``state/store.py``; no
schema change.

Nothing is cached in the process: every read is a query, every read-modify-write (a code's single
use, a refresh token's rotation, a rule's ``times``) one ``BEGIN IMMEDIATE`` transaction, which
SQLite serialises across processes. Durability: WAL journal with ``synchronous=NORMAL``; each
write commits before the response is sent, so a killed process loses nothing it answered for.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from mock_op_auth.state.clock import Clock
from mock_op_auth.state.shared import JOURNAL_TRIM_EVERY, NOT_SET, Control, NamespaceRecord
from mock_op_auth.state.store import (
    KINDS,
    RECORDS,
    RESET_KINDS,
    Change,
    RecordStore,
    StoreUnavailableError,
    decode,
    encode,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    grant_id TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at);
CREATE INDEX IF NOT EXISTS records_grant ON records (grant_id) WHERE grant_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    pem BLOB NOT NULL,
    retire_at REAL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rules (ns TEXT NOT NULL, id INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (ns, id));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, used INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS namespaces (
    name TEXT PRIMARY KEY, token TEXT NOT NULL, fixtures TEXT, created_at REAL NOT NULL, used_at REAL NOT NULL
);
"""
CONTROL_NAMES = ("offset", "active", "rules_version", "keys_version", "clients_version")


class StateError(RuntimeError):
    """The state file cannot be opened or is not a mock-op-auth state database."""


def _create_private(path: str) -> None:
    """Create the state file readable by its owner only: it holds private signing keys, client
    secrets and session secrets (SQLite gives ``-wal`` and ``-shm`` the file's own mode). A file
    that exists keeps the mode its owner gave it."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as err:
        raise StateError(f"{path}: cannot create the state database: {err}") from None


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


@cache
def _expected_tables() -> dict[str, set[str]]:
    """The tables SCHEMA makes and their columns, read once from a database made by it."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(SCHEMA)
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: _columns(db, table) for table in tables}
    finally:
        db.close()


def _check_tables(db: sqlite3.Connection, path: str | Path) -> None:
    """Refuse a database whose tables of the same names are not the mock's (another program's
    file): its first query would fail instead, in the middle of a request."""
    for table, expected in _expected_tables().items():
        missing = expected - _columns(db, table)
        if missing:
            raise StateError(f"{path}: table {table} has no column {', '.join(sorted(missing))}: "
                             "not a state database of this server")


class _Connection:
    """One SQLite connection and its lock, shared by the views of every namespace in a process.

    Writers of every process also take an ``flock`` on ``FILE-lock`` first. SQLite alone makes a
    writer that finds the file locked sleep and retry (1 ms, 2 ms, 5 ms, ...: its busy handler),
    which under ``--workers`` cost more time than the writes; a blocked ``flock`` is woken the
    moment the other process lets go (docs/performance.md)."""

    def __init__(self, path: str | Path) -> None:
        self.lock = threading.Lock()
        self.path = str(path)
        self._write_lock: int | None = None
        if self.path != ":memory:":
            _create_private(self.path)
        try:
            self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA wal_autocheckpoint=4000")  # fewer, larger checkpoints: less work per write
            if self.db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise StateError(f"{path}: the state database fails its integrity check")
            with self.lock:  # one transaction, so processes starting together create the schema once
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in filter(str.strip, SCHEMA.split(";")):
                        self.db.execute(statement)
                    if "ns" not in _columns(self.db, "signing_keys"):  # a file of the first release
                        self.db.execute("ALTER TABLE signing_keys ADD COLUMN ns TEXT NOT NULL DEFAULT ''")
                    _check_tables(self.db, path)
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
                self.db.execute("COMMIT")
        except sqlite3.Error as err:
            raise StateError(f"{path}: cannot use as a state database: {err}") from None
        if self.path != ":memory:":
            try:
                self._write_lock = os.open(self.path + "-lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as err:
                raise StateError(f"{path}: cannot create its lock file: {err}") from None

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one write, with this process's lock and every process's write lock held."""
        with self.lock:
            if self._write_lock is None:
                yield self.db
                return
            fcntl.flock(self._write_lock, fcntl.LOCK_EX)
            try:
                yield self.db
            finally:
                fcntl.flock(self._write_lock, fcntl.LOCK_UN)

    def close(self) -> None:
        with self.lock:
            self.db.close()
            if self._write_lock is not None:
                os.close(self._write_lock)
                self._write_lock = None


class SqliteStore(RecordStore):
    """The Store protocol and SharedState over SQLite, for one namespace ("" is the root)."""

    shared = True
    PURGE_EVERY = 1024

    def __init__(self, path: str | Path, clock: Clock, limit: int = 200_000, *, namespace: str = "",
                 connection: _Connection | None = None) -> None:
        self._clock = clock
        self._limit = limit
        self._conn = connection or _Connection(path)
        self._db = self._conn.db
        self._lock = self._conn.lock
        self.namespace = namespace
        self._p = f"{namespace}:" if namespace else ""  # records: the first release's kinds at the root
        self._c = f"{namespace}/"  # meta and counters: "/" never occurs in a namespace's name
        self._kinds = {kind: self._p + kind for kind in KINDS}
        self._writes = 0
        self._appends = 0

    def view(self, namespace: str, clock: Clock | None = None) -> SqliteStore:
        """The same file as seen by another namespace (one connection per process)."""
        return SqliteStore(self._conn.path, clock or self._clock, self._limit, namespace=namespace,
                           connection=self._conn)

    # -- plumbing -------------------------------------------------------------------------------
    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as err:
            raise StoreUnavailableError(f"the state file is unavailable: {err}") from None

    def _execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        try:
            with self._conn.writing() as db:
                return db.execute(sql, args).rowcount
        except sqlite3.OperationalError as err:
            raise StoreUnavailableError(f"the state file is unavailable: {err}") from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: SQLite's write lock is taken first, so it serialises processes."""
        try:
            with self._conn.writing() as db:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.OperationalError as err:
            raise StoreUnavailableError(f"the state file is unavailable: {err}") from None

    def _decode(self, kind: str, data: str) -> Any:
        try:
            return decode(kind, data)
        except (ValueError, TypeError):  # an unreadable row is unknown, never served
            return None

    # -- generic records ------------------------------------------------------------------------
    def put(self, kind: str, record: Any) -> None:
        spec = KINDS[kind]
        self._execute("INSERT OR REPLACE INTO records (kind, id, expires_at, grant_id, data) VALUES (?, ?, ?, ?, ?)",
                      (self._kinds[kind], spec.key(record), spec.expires(record), spec.grant(record), encode(record)))
        if kind == "client":
            self._bump("clients_version")
        self._writes += 1
        if self._writes >= self.PURGE_EVERY:
            self._writes = 0
            self.purge()

    def get(self, kind: str, key: str) -> Any:
        rows = self._query("SELECT data FROM records WHERE kind = ? AND id = ?", (self._kinds[kind], key))
        return self._decode(kind, rows[0][0]) if rows else None

    def take(self, kind: str, key: str) -> Any:
        try:
            with self._conn.writing() as db:
                row = db.execute("DELETE FROM records WHERE kind = ? AND id = ? RETURNING data",
                                 (self._kinds[kind], key)).fetchone()
        except sqlite3.OperationalError as err:
            raise StoreUnavailableError(f"the state file is unavailable: {err}") from None
        return self._decode(kind, row[0]) if row else None

    def update(self, kind: str, key: str, change: Change) -> tuple[Any, Any]:
        spec, stored = KINDS[kind], self._kinds[kind]
        with self._tx() as db:
            row = db.execute("SELECT data FROM records WHERE kind = ? AND id = ?", (stored, key)).fetchone()
            before = self._decode(kind, row[0]) if row else None
            after = change(before)
            if after is not before:
                if after is None:
                    db.execute("DELETE FROM records WHERE kind = ? AND id = ?", (stored, key))
                else:
                    db.execute("INSERT OR REPLACE INTO records (kind, id, expires_at, grant_id, data) "
                               "VALUES (?, ?, ?, ?, ?)",
                               (stored, key, spec.expires(after), spec.grant(after), encode(after)))
        return before, after

    def values(self, kind: str) -> list[Any]:
        rows = self._query("SELECT data FROM records WHERE kind = ?", (self._kinds[kind],))
        return [r for r in (self._decode(kind, data) for (data,) in rows) if r is not None]

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and every access token issued from it, in one transaction."""
        import dataclasses

        with self._tx() as db:
            row = db.execute("SELECT data FROM records WHERE kind = ? AND id = ?",
                             (self._kinds["grant"], grant_id)).fetchone()
            grant = self._decode("grant", row[0]) if row else None
            if grant is None:
                return
            db.execute("UPDATE records SET data = ? WHERE kind = ? AND id = ?",
                       (encode(dataclasses.replace(grant, revoked=True, current_refresh=None)),
                        self._kinds["grant"], grant_id))
            for key, data in db.execute("SELECT id, data FROM records WHERE kind = ? AND grant_id = ?",
                                        (self._kinds["access"], grant_id)).fetchall():
                token = self._decode("access", data)
                if token is not None:
                    db.execute("UPDATE records SET data = ? WHERE kind = ? AND id = ?",
                               (encode(dataclasses.replace(token, revoked=True)), self._kinds["access"], key))

    def purge(self) -> None:
        """Drop this namespace's expired rows, then the oldest of any kind past the bound."""
        kinds = tuple(self._kinds.values())
        marks = ",".join("?" * len(kinds))
        with self._tx() as db:
            db.execute(f"DELETE FROM records WHERE expires_at <= ? AND kind IN ({marks})",
                       (self._clock.now(), *kinds))
            for kind in kinds:
                count = db.execute("SELECT count(*) FROM records WHERE kind = ?", (kind,)).fetchone()[0]
                if count > self._limit:
                    db.execute("DELETE FROM records WHERE kind = ? AND id IN (SELECT id FROM records "
                               "WHERE kind = ? ORDER BY expires_at LIMIT ?)", (kind, kind, count - self._limit))

    def _purge(self) -> None:  # the name the first release's tests use
        self.purge()

    def clear(self) -> None:
        """Forget every record of this namespace (``/_mock/reset``); signing and named keys stay."""
        kinds = tuple(self._kinds[kind] for kind in RESET_KINDS)
        with self._tx() as db:
            db.execute(f"DELETE FROM records WHERE kind IN ({','.join('?' * len(kinds))})", kinds)
            self._bump_in(db, "clients_version")

    def sizes(self) -> dict[str, int]:
        kinds = tuple(self._kinds.values())
        counts = dict(self._query(f"SELECT kind, count(*) FROM records WHERE kind IN ({','.join('?' * len(kinds))}) "
                                  "GROUP BY kind", kinds))
        k = self._kinds
        return {"codes": counts.get(k["code"], 0), "grants": counts.get(k["grant"], 0),
                "access_tokens": counts.get(k["access"], 0), "refresh_tokens": counts.get(k["refresh"], 0)}

    def close(self) -> None:
        self._conn.close()

    # -- shared control state -------------------------------------------------------------------
    def _bump(self, name: str) -> None:
        self._execute("INSERT INTO meta (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
                      (self._c + name,))

    def _bump_in(self, db: sqlite3.Connection, name: str) -> None:
        db.execute("INSERT INTO meta (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
                   (self._c + name,))

    def control(self) -> Control:
        names = tuple(self._c + n for n in CONTROL_NAMES)
        values = dict(self._query(f"SELECT name, value FROM meta WHERE name IN ({','.join('?' * len(names))})",
                                  names))
        p = self._c
        active = values.get(p + "active", NOT_SET)
        return Control(offset=float(values.get(p + "offset") or 0.0), active=active if active != "" else None,
                       rules_version=int(values.get(p + "rules_version") or 0),
                       keys_version=int(values.get(p + "keys_version") or 0),
                       clients_version=int(values.get(p + "clients_version") or 0))

    def advance_clock(self, seconds: float) -> float:
        rows = self._query("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
                           "SET value = value + excluded.value RETURNING value", (self._c + "offset", seconds))
        return float(rows[0][0])

    def set_clock(self, offset: float) -> None:
        self._execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (self._c + "offset", offset))

    def set_active(self, name: str | None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (self._c + "active", name or ""))
            if name is not None:
                db.execute("DELETE FROM counters WHERE name >= ? AND name < ?",
                           (f"{self._c}{name}:", f"{self._c}{name};"))

    def add_rule(self, data: str, limit: int, is_used_up: Callable[[str, int], bool]) -> int | None:
        with self._tx() as db:
            rules = db.execute("SELECT id, data FROM rules WHERE ns = ?", (self.namespace,)).fetchall()
            if len(rules) >= limit:
                uses = self._uses(db)
                done = [rid for rid, rule in rules if is_used_up(rule, uses.get(f"runtime:{rid}", 0))]
                db.executemany("DELETE FROM rules WHERE ns = ? AND id = ?", [(self.namespace, i) for i in done])
                if len(rules) - len(done) >= limit:
                    return None
            row = db.execute("INSERT INTO meta (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE "
                             "SET value = value + 1 RETURNING value", (self._c + "next_rule",)).fetchone()
            rule_id = int(row[0])
            db.execute("INSERT INTO rules (ns, id, data) VALUES (?, ?, ?)", (self.namespace, rule_id, data))
            self._bump_in(db, "rules_version")
            return rule_id

    def rules(self) -> list[tuple[int, str]]:
        return [(int(i), d) for i, d in self._query("SELECT id, data FROM rules WHERE ns = ? ORDER BY id",
                                                    (self.namespace,))]

    def clear_rules(self) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM rules WHERE ns = ?", (self.namespace,))
            self._bump_in(db, "rules_version")

    def use_rule(self, key: str, times: int | None) -> bool:
        """One use of a rule, unless ``times`` uses are spent already (one atomic statement)."""
        limit = times if times is not None else 2**62
        if limit <= 0:
            return False
        return self._execute("INSERT INTO counters (name, used) VALUES (?, 1) ON CONFLICT (name) DO UPDATE "
                             "SET used = used + 1 WHERE used < ?", (self._c + key, limit)) > 0

    def _uses(self, db: sqlite3.Connection) -> dict[str, int]:
        c = self._c
        rows = db.execute("SELECT name, used FROM counters WHERE name >= ? AND name < ?", (c, c[:-1] + "0")).fetchall()
        return {name[len(c):]: int(used) for name, used in rows}

    def rule_uses(self) -> dict[str, int]:
        with self._lock:
            return self._uses(self._db)

    def journal_append(self, entry: str, size: int) -> None:
        self._execute("INSERT INTO journal (ns, data) VALUES (?, ?)", (self.namespace, entry))
        self._appends += 1
        if self._appends >= JOURNAL_TRIM_EVERY:
            self._appends = 0
            self._execute("DELETE FROM journal WHERE ns = ? AND id <= (SELECT id FROM journal WHERE ns = ? "
                          "ORDER BY id DESC LIMIT 1 OFFSET ?)", (self.namespace, self.namespace, size))

    def journal(self, size: int) -> list[dict[str, Any]]:
        import json

        rows = self._query("SELECT id, data FROM journal WHERE ns = ? ORDER BY id DESC LIMIT ?", (self.namespace, size))
        return [{"id": int(i), **json.loads(d)} for i, d in reversed(rows)]

    def journal_clear(self) -> None:
        self._execute("DELETE FROM journal WHERE ns = ?", (self.namespace,))

    def signing_keys(self, alg: str) -> list[tuple[bytes, float | None]]:
        rows = self._query("SELECT pem, retire_at FROM signing_keys WHERE ns = ? AND alg = ? AND "
                           "(retire_at IS NULL OR retire_at > ?) ORDER BY retire_at IS NULL, created_at",
                           (self.namespace, alg, self._clock.now()))
        return [(bytes(pem), retire_at) for pem, retire_at in rows]

    def init_keys(self, alg: str, pem: bytes, kid: str = "") -> None:
        """Save ``pem`` as the current key unless another process saved one first."""
        with self._tx() as db:
            found = db.execute("SELECT 1 FROM signing_keys WHERE ns = ? AND alg = ? AND retire_at IS NULL",
                               (self.namespace, alg)).fetchone()
            if found is None:
                db.execute("INSERT OR REPLACE INTO signing_keys (kid, alg, pem, retire_at, created_at, ns) "
                           "VALUES (?, ?, ?, NULL, ?, ?)", (kid, alg, pem, self._clock.now(), self.namespace))
                self._bump_in(db, "keys_version")

    def rotate_keys(self, alg: str, pem: bytes, kid: str, retire_at: float) -> None:
        """Retire the current key at ``retire_at`` and make ``pem`` current, in one transaction."""
        with self._tx() as db:
            db.execute("UPDATE signing_keys SET retire_at = ? WHERE ns = ? AND alg = ? AND retire_at IS NULL",
                       (retire_at, self.namespace, alg))
            db.execute("INSERT OR REPLACE INTO signing_keys (kid, alg, pem, retire_at, created_at, ns) "
                       "VALUES (?, ?, ?, NULL, ?, ?)", (kid, alg, pem, self._clock.now(), self.namespace))
            self._bump_in(db, "keys_version")

    def reset_state(self) -> None:
        """Forget records (keys stay), runtime rules, counters, journal, clock offset and the chosen scenario."""
        kinds = tuple(self._kinds[kind] for kind in RESET_KINDS)
        c = self._c
        with self._tx() as db:
            db.execute(f"DELETE FROM records WHERE kind IN ({','.join('?' * len(kinds))})", kinds)
            db.execute("DELETE FROM rules WHERE ns = ?", (self.namespace,))
            db.execute("DELETE FROM counters WHERE name >= ? AND name < ?", (c, c[:-1] + "0"))
            db.execute("DELETE FROM journal WHERE ns = ?", (self.namespace,))
            db.execute("DELETE FROM meta WHERE name IN (?, ?)", (c + "offset", c + "active"))
            for name in ("rules_version", "clients_version"):
                self._bump_in(db, name)

    # -- namespaces (the root's registry) --------------------------------------------------------
    def ns_create(self, record: NamespaceRecord, limit: int, idle_ttl: float) -> str:
        with self._tx() as db:
            idle = [n for (n,) in db.execute("SELECT name FROM namespaces WHERE used_at <= ?",
                                             (record.created_at - idle_ttl,)).fetchall()]
            for name in idle:
                self._drop_namespace(db, name)
            if db.execute("SELECT 1 FROM namespaces WHERE name = ?", (record.name,)).fetchone():
                return "taken"
            if db.execute("SELECT count(*) FROM namespaces").fetchone()[0] >= limit:
                return "full"
            db.execute("INSERT INTO namespaces (name, token, fixtures, created_at, used_at) VALUES (?, ?, ?, ?, ?)",
                       (record.name, record.token, record.fixtures, record.created_at, record.used_at))
            return "ok"

    def ns_get(self, name: str, now: float, idle_ttl: float) -> NamespaceRecord | None:
        rows = self._query("SELECT name, token, fixtures, created_at, used_at FROM namespaces WHERE name = ?", (name,))
        if not rows:
            return None
        record = NamespaceRecord(*rows[0])
        if record.used_at <= now - idle_ttl:
            with self._tx() as db:
                self._drop_namespace(db, name)
            return None
        return record

    def ns_touch(self, name: str, now: float) -> None:
        self._execute("UPDATE namespaces SET used_at = max(used_at, ?) WHERE name = ?", (now, name))

    def ns_delete(self, name: str) -> bool:
        with self._tx() as db:
            return self._drop_namespace(db, name)

    def ns_list(self, now: float, idle_ttl: float) -> list[NamespaceRecord]:
        rows = self._query("SELECT name, token, fixtures, created_at, used_at FROM namespaces "
                           "WHERE used_at > ? ORDER BY created_at", (now - idle_ttl,))
        return [NamespaceRecord(*row) for row in rows]

    @staticmethod
    def _drop_namespace(db: sqlite3.Connection, name: str) -> bool:
        """Delete a namespace and everything in it (inside the caller's transaction)."""
        found = db.execute("DELETE FROM namespaces WHERE name = ?", (name,)).rowcount > 0
        # ';' sorts right after ':' and '0' after '/': each range is every name with the prefix
        db.execute("DELETE FROM records WHERE kind >= ? AND kind < ?", (f"{name}:", f"{name};"))
        db.execute("DELETE FROM meta WHERE name >= ? AND name < ?", (f"{name}/", f"{name}0"))
        db.execute("DELETE FROM counters WHERE name >= ? AND name < ?", (f"{name}/", f"{name}0"))
        db.execute("DELETE FROM rules WHERE ns = ?", (name,))
        db.execute("DELETE FROM journal WHERE ns = ?", (name,))
        db.execute("DELETE FROM signing_keys WHERE ns = ?", (name,))
        return found


__all__ = ["RECORDS", "SqliteStore", "StateError"]
