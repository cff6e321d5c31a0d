"""SqliteStore: the Store protocol kept in one SQLite file (``serve --state FILE``), so a restarted
server still honours the codes and refresh tokens its clients hold, keeps revocations, and signs
and verifies with the same keys.

Every record type lives in one generic table of JSON-serialised frozen dataclasses keyed by
``(kind, id)``, with an expiry column and an optional ``grant_id`` (what a grant's revocation
reaches). Adding a record type (an intent, a registered client) is a dataclass in ``RECORDS`` and
two one-line methods over ``_put``/``_get``; no schema change.

Durability: WAL journal with ``synchronous=NORMAL``. Each write commits before the response is
sent; in WAL mode a commit is in the OS's hands once ``write()`` returns, so a killed process
(SIGKILL, a container stop) loses nothing committed. Only a power cut or kernel crash can lose
the last commits, never corrupt the file, and that is not worth an fsync per issued token in a mock.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, TypeVar

from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import KeySet, SigningKey, generate_key, key_from_pem
from mock_op_auth.state.store import (
    INTENT_RETENTION,
    AccessToken,
    AuthCode,
    Grant,
    IdempotencyKey,
    Intent,
    Ledger,
    LoginRequest,
    Payment,
    RefreshToken,
    RegisteredClient,
)

T = TypeVar("T")

# kind -> record class; a new record type is one line here (plus its put/get methods).
RECORDS: dict[str, type[Any]] = {"code": AuthCode, "grant": Grant, "access": AccessToken, "refresh": RefreshToken,
                                 "intent": Intent, "client": RegisteredClient, "login": LoginRequest,
                                 "payment": Payment, "idempotency": IdempotencyKey, "ledger": Ledger}
NEVER = 1e18  # expires_at of records that live until a reset (runtime-registered clients, ledgers)
_TUPLE_FIELDS = {kind: frozenset(f.name for f in dataclasses.fields(cls) if str(f.type).startswith("tuple"))
                 for kind, cls in RECORDS.items()}

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
CREATE TABLE IF NOT EXISTS named_keys (
    name TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    pem BLOB NOT NULL
);
"""


class StateError(RuntimeError):
    """The state file cannot be opened or is not a mock-op-auth state database."""


def encode(record: Any) -> str:
    return json.dumps({f.name: getattr(record, f.name) for f in dataclasses.fields(record)},
                      separators=(",", ":"))


def decode(kind: str, data: str) -> Any:
    values = json.loads(data)
    for name in _TUPLE_FIELDS[kind]:
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    return RECORDS[kind](**values)


class SqliteStore:
    """The Store protocol over SQLite; one connection under one lock (the server runs one loop)."""

    PURGE_EVERY = 1024

    def __init__(self, path: str | Path, clock: Clock, limit: int = 200_000) -> None:
        self._clock = clock
        self._limit = limit
        self._lock = threading.Lock()
        self._writes = 0
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise StateError(f"{path}: the state database fails its integrity check")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as err:
            raise StateError(f"{path}: cannot use as a state database: {err}") from None

    # -- generic records ------------------------------------------------------------------------
    def _put(self, kind: str, key: str, record: Any, expires_at: float, grant_id: str | None = None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO records (kind, id, expires_at, grant_id, data) "
                             "VALUES (?, ?, ?, ?, ?)", (kind, key, expires_at, grant_id, encode(record)))
            self._writes += 1
            if self._writes >= self.PURGE_EVERY:
                self._writes = 0
                self._purge()

    def _get(self, kind: str, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT data FROM records WHERE kind = ? AND id = ?", (kind, key)).fetchone()
        if row is None:
            return None
        try:
            return decode(kind, row[0])
        except (ValueError, TypeError):  # unreadable row: treated as unknown, never served
            return None

    def _purge(self) -> None:
        """Drop expired rows, then the oldest of any kind past the bound (caller holds the lock)."""
        self._db.execute("DELETE FROM records WHERE expires_at <= ?", (self._clock.now(),))
        for kind in RECORDS:
            count = self._db.execute("SELECT count(*) FROM records WHERE kind = ?", (kind,)).fetchone()[0]
            if count > self._limit:
                self._db.execute("DELETE FROM records WHERE kind = ? AND id IN (SELECT id FROM records "
                                 "WHERE kind = ? ORDER BY expires_at LIMIT ?)", (kind, kind, count - self._limit))

    # -- the Store protocol ---------------------------------------------------------------------
    def put_code(self, code: AuthCode) -> None:
        self._put("code", code.code, code, code.expires_at)

    def get_code(self, code: str) -> AuthCode | None:
        return self._get("code", code)

    def put_grant(self, grant: Grant) -> None:
        self._put("grant", grant.id, grant, grant.expires_at)

    def get_grant(self, grant_id: str) -> Grant | None:
        return self._get("grant", grant_id)

    def put_access(self, token: AccessToken) -> None:
        self._put("access", token.key, token, token.expires_at, token.grant_id)

    def get_access(self, key: str) -> AccessToken | None:
        return self._get("access", key)

    def put_refresh(self, token: RefreshToken) -> None:
        self._put("refresh", token.token, token, token.expires_at, token.grant_id)

    def get_refresh(self, token: str) -> RefreshToken | None:
        return self._get("refresh", token)

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and every access token issued from it, in one transaction."""
        with self._lock:
            row = self._db.execute("SELECT data FROM records WHERE kind = 'grant' AND id = ?", (grant_id,)).fetchone()
            if row is None:
                return
            grant = dataclasses.replace(decode("grant", row[0]), revoked=True, current_refresh=None)
            tokens = self._db.execute("SELECT data FROM records WHERE kind = 'access' AND grant_id = ?",
                                      (grant_id,)).fetchall()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE records SET data = ? WHERE kind = 'grant' AND id = ?",
                                 (encode(grant), grant_id))
                for (data,) in tokens:
                    token = dataclasses.replace(decode("access", data), revoked=True)
                    self._db.execute("UPDATE records SET data = ? WHERE kind = 'access' AND id = ?",
                                     (encode(token), token.key))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def live_access_tokens(self) -> list[AccessToken]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM records WHERE kind = 'access' AND expires_at > ?",
                                    (self._clock.now(),)).fetchall()
        tokens = [decode("access", data) for (data,) in rows]
        return [t for t in tokens if not t.revoked]

    def clear(self) -> None:
        """Forget every record (``/_mock/reset``); signing keys stay, so old tokens still verify."""
        with self._lock:
            self._db.execute("DELETE FROM records")

    def sizes(self) -> dict[str, int]:
        with self._lock:
            counts = dict(self._db.execute("SELECT kind, count(*) FROM records GROUP BY kind").fetchall())
        return {"codes": counts.get("code", 0), "grants": counts.get("grant", 0),
                "access_tokens": counts.get("access", 0), "refresh_tokens": counts.get("refresh", 0)}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- PSD2 state -----------------------------------------------------------------------------
    def put_login(self, login: LoginRequest) -> None:
        self._put("login", login.id, login, login.expires_at)

    def get_login(self, login_id: str) -> LoginRequest | None:
        login = self._get("login", login_id)
        return login if login is None or login.expires_at > self._clock.now() else None

    def take_login(self, login_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM records WHERE kind = 'login' AND id = ?", (login_id,)).rowcount > 0

    def put_intent(self, intent: Intent) -> None:
        self._put("intent", intent.id, intent, intent.expires_at + INTENT_RETENTION)

    def get_intent(self, intent_id: str) -> Intent | None:
        return self._get("intent", intent_id)

    def put_registered_client(self, client: RegisteredClient) -> None:
        self._put("client", client.client_id, client, NEVER)

    def registered_clients(self) -> list[RegisteredClient]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM records WHERE kind = 'client'").fetchall()
        return [decode("client", data) for (data,) in rows]

    def put_payment(self, payment: Payment) -> None:
        self._put("payment", payment.id, payment, payment.expires_at)

    def get_payment(self, payment_id: str) -> Payment | None:
        return self._get("payment", payment_id)

    def recent_payments(self, limit: int) -> list[Payment]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM records WHERE kind = 'payment' ORDER BY expires_at DESC "
                                    "LIMIT ?", (limit,)).fetchall()
        return sorted((decode("payment", data) for (data,) in rows), key=lambda p: p.created_at, reverse=True)

    def put_idempotency(self, record: IdempotencyKey) -> None:
        self._put("idempotency", record.key, record, record.expires_at)

    def get_idempotency(self, key: str) -> IdempotencyKey | None:
        record = self._get("idempotency", key)
        return record if record is None or record.expires_at > self._clock.now() else None

    def put_ledger(self, ledger: Ledger) -> None:
        self._put("ledger", ledger.iban, ledger, NEVER)

    def get_ledger(self, iban: str) -> Ledger | None:
        return self._get("ledger", iban)

    # -- signing keys ---------------------------------------------------------------------------
    def keyset(self, alg: str) -> KeySet:
        """The saved keys for ``alg`` still in use, or a new one saved now; rotations are saved too."""
        now = self._clock.now()
        with self._lock:
            rows = self._db.execute("SELECT pem, retire_at FROM signing_keys WHERE alg = ? AND "
                                    "(retire_at IS NULL OR retire_at > ?) ORDER BY retire_at IS NULL, created_at",
                                    (alg, now)).fetchall()
        keys = [key_from_pem(pem, alg, retire_at) for pem, retire_at in rows]
        keyset = PersistentKeySet(alg, self._clock, keys or None, store=self)
        if not keys:
            self.save_keys(keyset.all())
        return keyset

    def named_key(self, name: str, alg: str) -> SigningKey:
        """A key kept for one purpose (``pis``: PIS response signatures), made and saved on first use;
        like the signing keys, it survives ``/_mock/reset`` and restarts."""
        with self._lock:
            row = self._db.execute("SELECT pem FROM named_keys WHERE name = ? AND alg = ?", (name, alg)).fetchone()
            if row is not None:
                return key_from_pem(row[0], alg)
            key = generate_key(alg)
            self._db.execute("INSERT OR REPLACE INTO named_keys (name, alg, pem) VALUES (?, ?, ?)",
                             (name, alg, key.private_pem))
            return key

    def save_keys(self, keys: list[SigningKey]) -> None:
        now = self._clock.now()
        with self._lock:
            self._db.executemany("INSERT INTO signing_keys (kid, alg, pem, retire_at, created_at) VALUES "
                                 "(?, ?, ?, ?, ?) ON CONFLICT (kid) DO UPDATE SET retire_at = excluded.retire_at",
                                 [(k.kid, k.alg, k.private_pem, k.retire_at, now) for k in keys])


class PersistentKeySet(KeySet):
    """A KeySet whose rotations are written to the state file before the new key signs anything."""

    def __init__(self, alg: str, clock: Clock, keys: list[SigningKey] | None, *, store: SqliteStore) -> None:
        super().__init__(alg, clock, keys)
        self._store = store

    def rotate(self, keep_for: float) -> SigningKey:
        key = super().rotate(keep_for)
        self._store.save_keys(self.all())
        return key


__all__ = ["RECORDS", "PersistentKeySet", "SqliteStore", "StateError"]
