"""State of issued artefacts: authorization codes, grants (refresh families), access and
refresh tokens, login requests waiting on the login page, login sessions, the ``jti`` of client
assertions already used, PSD2 intents and registered clients.

``Store`` is the interface; ``MemoryStore`` keeps everything in dicts, bounded in size and
expiring by the mock clock. Records are frozen dataclasses and every change is an explicit
``put_*`` call, so another store (SQLite, for ``--state``) implements the same few methods.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, Protocol, TypeVar

from mock_op_auth.state.clock import Clock

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str | None
    scope: tuple[str, ...]
    subject: str
    user: str | None
    auth_time: int
    expires_at: float
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    extra_claims: dict[str, Any] = field(default_factory=dict)
    grant_id: str | None = None  # set once redeemed: a replay revokes that grant


@dataclass(frozen=True, slots=True)
class Grant:
    """One authorization and everything issued from it: the unit a reuse or a replay revokes."""

    id: str
    client_id: str
    subject: str
    user: str | None
    scope: tuple[str, ...]
    auth_time: int
    created_at: int
    refresh_expires_at: float
    expires_at: float  # nothing issued from this grant outlives it
    refresh_count: int = 0
    current_refresh: str | None = None
    revoked: bool = False
    extra_claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An issued access token: keyed by the opaque string, or by ``jti`` for a JWT."""

    key: str
    client_id: str
    subject: str
    scope: tuple[str, ...]
    issued_at: int
    expires_at: float
    audience: str
    issuer: str
    grant_id: str | None = None
    revoked: bool = False
    status: str = "approved"  # OP's token status; only an approved token opens a resource
    claims: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token: str
    grant_id: str
    client_id: str
    issued_at: int
    expires_at: float
    active: bool = True


@dataclass(frozen=True)
class LoginRequest:
    """An authorization request waiting for the user on the login page (single use, CSRF-bound).

    ``request`` is the checked authorization request as plain JSON data: the store keeps it and
    knows nothing of what it means."""

    id: str
    csrf_token: str
    expires_at: float
    request: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


MAX_LOGIN_REQUESTS = 10_000


@dataclass(frozen=True)
class Session:
    """A user's login session at the authorization endpoint (OIDC Session Management's ``sid``).

    The browser holds ``sid`` and ``secret`` in a cookie; ``clients`` got codes in this session
    (they are told of its end by back-channel logout), ``grant_ids`` are the grants those codes
    started (revoked with it under ``server.revoke_on_logout``)."""

    sid: str
    secret: str
    user: str | None
    subject: str
    auth_time: int
    expires_at: float
    clients: tuple[str, ...] = ()
    grant_ids: tuple[str, ...] = ()
    issuer: str = ""  # the issuer its ID tokens name; its logout tokens name the same


@dataclass(frozen=True)
class UsedJti:
    """A client assertion's ``jti`` (RFC 7523 §3): kept until the assertion expires, so it is used once."""

    key: str  # "<client_id> <jti>"
    expires_at: float


MAX_SESSIONS = 10_000


# --- PSD2 state: intents (AIS consents) and clients registered at runtime (op-auth.md §4.1, §4.3) ---

IntentStatus = Literal["Unauthorized", "Authorized", "Rejected", "Revoked", "Expired"]
INTENT_RETENTION = 30 * 86400  # an expired intent still answers GET (status Expired) for this long
MAX_REGISTERED_CLIENTS = 10_000


@dataclass(frozen=True)
class Intent:
    """A PSD2 authorization (``authorizationId``): what the PSU approves and what revokes its tokens."""

    id: str
    client_id: str
    status: IntentStatus
    created_at: float
    expires_at: float
    modified_at: float | None = None
    authorized_at: float | None = None
    transaction_from: str | None = None
    transaction_to: str | None = None
    subject: str | None = None
    user: str | None = None  # the fixture user who authorized it
    grant_ids: tuple[str, ...] = ()  # grants issued on this intent: revoking it revokes them


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered at runtime (``/tpp-registration/register``): the fixture ``Client`` fields."""

    client_id: str
    fields: dict[str, Any]
    issued_at: int


class Store(Protocol):
    """What services need from state; every method is atomic."""

    def put_code(self, code: AuthCode) -> None: ...
    def get_code(self, code: str) -> AuthCode | None: ...
    def put_grant(self, grant: Grant) -> None: ...
    def get_grant(self, grant_id: str) -> Grant | None: ...
    def put_access(self, token: AccessToken) -> None: ...
    def get_access(self, key: str) -> AccessToken | None: ...
    def put_refresh(self, token: RefreshToken) -> None: ...
    def get_refresh(self, token: str) -> RefreshToken | None: ...
    def revoke_grant(self, grant_id: str) -> None: ...
    def live_access_tokens(self) -> list[AccessToken]: ...
    def clear(self) -> None: ...
    # login requests
    def put_login(self, login: LoginRequest) -> None: ...
    def get_login(self, login_id: str) -> LoginRequest | None: ...
    def take_login(self, login_id: str) -> bool: ...  # remove it; False if another answer took it first
    # login sessions and used assertion ids
    def put_session(self, session: Session) -> None: ...
    def get_session(self, sid: str) -> Session | None: ...  # None when unknown or expired
    def sessions(self) -> list[Session]: ...  # the live ones, oldest first
    def take_session(self, sid: str) -> Session | None: ...  # remove and return it (None: gone already)
    def link_session_grant(self, sid: str, grant_id: str) -> None: ...
    def use_jti(self, used: UsedJti) -> bool: ...  # False when that key was seen and has not expired
    # PSD2 state
    def put_intent(self, intent: Intent) -> None: ...
    def get_intent(self, intent_id: str) -> Intent | None: ...
    def put_registered_client(self, client: RegisteredClient) -> None: ...
    def registered_clients(self) -> list[RegisteredClient]: ...


PURGE_EVERY = 1024  # writes between full sweeps of a table, at the least


class _Table(Generic[V]):
    """A dict bounded in size whose entries expire by the clock; oldest out first when full.

    Rows are kept in insertion order, which is nearly expiry order, so each insert drops the
    expired rows at the front (amortised O(1)); a full sweep, for rows that expire out of order,
    runs once per ``len(table)`` inserts, so a big table never costs a scan per write.
    """

    def __init__(self, expires: Callable[[V], float], limit: int) -> None:
        self._rows: OrderedDict[str, V] = OrderedDict()
        self._expires = expires
        self._limit = limit
        self._inserts = 0
        self._next_sweep = PURGE_EVERY

    def get(self, key: str) -> V | None:
        return self._rows.get(key)

    def put(self, key: str, row: V, now: float) -> None:
        rows = self._rows
        if key not in rows:
            self._inserts += 1
            if self._inserts >= self._next_sweep:
                self.purge(now)
            else:
                self._purge_front(now)
            while len(rows) >= self._limit:
                rows.popitem(last=False)
        rows[key] = row

    def _purge_front(self, now: float) -> None:
        rows, expires = self._rows, self._expires
        for _ in range(4):
            if not rows:
                return
            key = next(iter(rows))
            if expires(rows[key]) > now:
                return
            del rows[key]

    def purge(self, now: float) -> None:
        for key in [k for k, row in self._rows.items() if self._expires(row) <= now]:
            del self._rows[key]
        self._inserts = 0
        self._next_sweep = max(PURGE_EVERY, len(self._rows))

    def pop(self, key: str) -> V | None:
        return self._rows.pop(key, None)

    def values(self) -> list[V]:
        return list(self._rows.values())

    def clear(self) -> None:
        self._rows.clear()
        self._inserts = 0

    def __len__(self) -> int:
        return len(self._rows)


class MemoryStore:
    """The default store: dicts under one lock, purged of expired rows as it goes."""

    PURGE_EVERY = PURGE_EVERY

    def __init__(self, clock: Clock, limit: int = 50_000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._writes = 0
        self._next_purge = self.PURGE_EVERY
        self._codes: _Table[AuthCode] = _Table(lambda c: c.expires_at, limit)
        self._grants: _Table[Grant] = _Table(lambda g: g.expires_at, limit)
        self._access: _Table[AccessToken] = _Table(lambda t: t.expires_at, limit)
        self._refresh: _Table[RefreshToken] = _Table(lambda t: t.expires_at, limit)
        self._access_by_grant: dict[str, set[str]] = {}
        self._intents: _Table[Intent] = _Table(lambda i: i.expires_at + INTENT_RETENTION, limit)
        self._clients: dict[str, RegisteredClient] = {}
        self._logins: _Table[LoginRequest] = _Table(lambda r: r.expires_at, MAX_LOGIN_REQUESTS)
        self._sessions: _Table[Session] = _Table(lambda r: r.expires_at, MAX_SESSIONS)
        self._jtis: _Table[UsedJti] = _Table(lambda r: r.expires_at, limit)

    def _write(self, table: _Table[Any], key: str, row: Any) -> None:
        now = self._clock.now()
        with self._lock:
            table.put(key, row, now)
            self._writes += 1
            if self._writes >= self._next_purge:  # at most once per PURGE_EVERY writes, amortised O(1)
                self._writes = 0
                self._purge(now)
                self._next_purge = max(self.PURGE_EVERY, len(self._grants), len(self._access_by_grant))

    def _purge(self, now: float) -> None:
        """Drop the grant index of grants gone from the table (the tables sweep themselves)."""
        self._grants.purge(now)
        live = {g.id for g in self._grants.values()}
        for grant_id in [g for g in self._access_by_grant if g not in live]:
            del self._access_by_grant[grant_id]

    def put_code(self, code: AuthCode) -> None:
        self._write(self._codes, code.code, code)

    def get_code(self, code: str) -> AuthCode | None:
        return self._codes.get(code)

    def put_grant(self, grant: Grant) -> None:
        self._write(self._grants, grant.id, grant)

    def get_grant(self, grant_id: str) -> Grant | None:
        return self._grants.get(grant_id)

    def put_access(self, token: AccessToken) -> None:
        self._write(self._access, token.key, token)
        if token.grant_id is not None:
            with self._lock:
                self._access_by_grant.setdefault(token.grant_id, set()).add(token.key)

    def get_access(self, key: str) -> AccessToken | None:
        return self._access.get(key)

    def put_refresh(self, token: RefreshToken) -> None:
        self._write(self._refresh, token.token, token)

    def get_refresh(self, token: str) -> RefreshToken | None:
        return self._refresh.get(token)

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and every access and refresh token issued from it."""
        now = self._clock.now()
        with self._lock:
            grant = self._grants.get(grant_id)
            if grant is None:
                return
            self._grants.put(grant_id, replace(grant, revoked=True, current_refresh=None), now)
            for key in self._access_by_grant.get(grant_id, ()):
                token = self._access.get(key)
                if token is not None:
                    self._access.put(key, replace(token, revoked=True), now)

    def live_access_tokens(self) -> list[AccessToken]:
        now = self._clock.now()
        return [t for t in self._access.values() if t.expires_at > now and not t.revoked]

    def clear(self) -> None:
        with self._lock:
            for table in (self._codes, self._grants, self._access, self._refresh, self._intents, self._logins,
                          self._sessions, self._jtis):
                table.clear()
            self._access_by_grant.clear()
            self._clients.clear()

    # --- login requests ---

    def put_login(self, login: LoginRequest) -> None:
        self._write(self._logins, login.id, login)

    def get_login(self, login_id: str) -> LoginRequest | None:
        login = self._logins.get(login_id)
        return login if login is None or login.expires_at > self._clock.now() else None

    def take_login(self, login_id: str) -> bool:
        with self._lock:
            return self._logins.pop(login_id) is not None

    # --- login sessions and used assertion ids ---

    def put_session(self, session: Session) -> None:
        self._write(self._sessions, session.sid, session)

    def get_session(self, sid: str) -> Session | None:
        session = self._sessions.get(sid)
        return session if session is None or session.expires_at > self._clock.now() else None

    def sessions(self) -> list[Session]:
        now = self._clock.now()
        with self._lock:
            return [s for s in self._sessions.values() if s.expires_at > now]

    def take_session(self, sid: str) -> Session | None:
        with self._lock:
            session = self._sessions.pop(sid)
        return session if session is None or session.expires_at > self._clock.now() else None

    def link_session_grant(self, sid: str, grant_id: str) -> None:
        now = self._clock.now()
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None and grant_id not in session.grant_ids:
                self._sessions.put(sid, replace(session, grant_ids=(*session.grant_ids, grant_id)), now)

    def use_jti(self, used: UsedJti) -> bool:
        now = self._clock.now()
        with self._lock:
            seen = self._jtis.get(used.key)
            if seen is not None and seen.expires_at > now:
                return False
            self._jtis.put(used.key, used, now)
            return True

    # --- PSD2 state ---

    def put_intent(self, intent: Intent) -> None:
        self._write(self._intents, intent.id, intent)

    def get_intent(self, intent_id: str) -> Intent | None:
        return self._intents.get(intent_id)

    def put_registered_client(self, client: RegisteredClient) -> None:
        with self._lock:
            if client.client_id not in self._clients and len(self._clients) >= MAX_REGISTERED_CLIENTS:
                del self._clients[next(iter(self._clients))]
            self._clients[client.client_id] = client

    def registered_clients(self) -> list[RegisteredClient]:
        with self._lock:
            return list(self._clients.values())

    def sizes(self) -> dict[str, int]:
        return {"codes": len(self._codes), "grants": len(self._grants),
                "access_tokens": len(self._access), "refresh_tokens": len(self._refresh)}

