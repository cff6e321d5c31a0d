"""State of issued artefacts: authorization codes, grants (refresh families), access and
refresh tokens, login requests waiting on the login page, device codes (RFC 8628), pushed
authorization requests (RFC 9126), markers (DPoP proof and assertion ``jti`` values seen once,
DPoP nonces handed out), PSD2 intents and registered clients.

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
    dpop_jkt: str | None = None  # RFC 9449 §10: the DPoP key the token request must prove


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
    dpop_jkt: str | None = None  # RFC 9449 §5: a public client's refresh tokens need a proof by this key


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An issued access token: keyed by the opaque string, or by ``jti`` for a JWT."""

    key: str
    client_id: str
    subject: str
    scope: tuple[str, ...]
    issued_at: int
    expires_at: float
    audience: str | list[str]
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


# --- device codes (RFC 8628), pushed authorization requests (RFC 9126), markers (RFC 9449, RFC 7523) ---

DeviceStatus = Literal["pending", "approved", "denied"]
DEVICE_RETENTION = 3600  # an expired device code still answers expired_token (not invalid_grant) this long
MAX_DEVICE_CODES = 10_000
MAX_PUSHED_REQUESTS = 10_000
MAX_MARKERS = 100_000


@dataclass(frozen=True)
class DeviceCode:
    """A device authorization: polled by ``device_code``, approved or denied by ``user_code``."""

    device_code: str
    user_code: str  # normalised: upper case, no separator
    client_id: str
    scope: tuple[str, ...]
    expires_at: float
    interval: int  # seconds a client must wait between polls; each slow_down adds 5
    status: DeviceStatus = "pending"
    subject: str | None = None
    user: str | None = None
    decided_at: int | None = None
    last_poll: float | None = None


@dataclass(frozen=True)
class UserCode:
    """The index from a user code to its device code."""

    user_code: str
    device_code: str
    expires_at: float


@dataclass(frozen=True)
class PushedRequest:
    """An authorization request pushed to ``/par``, waiting for ``/authorize?request_uri=`` (single use)."""

    request_uri: str
    client_id: str
    params: dict[str, str]
    expires_at: float


@dataclass(frozen=True, slots=True)
class Marker:
    """A value seen once (a DPoP proof's ``jti``, an assertion's) or handed out (a DPoP nonce), until it expires."""

    key: str
    expires_at: float


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
    # device codes: the record by device code, found by user code; decisions and polls swap atomically
    def put_device(self, device: DeviceCode) -> None: ...
    def get_device(self, device_code: str) -> DeviceCode | None: ...
    def find_device(self, user_code: str) -> DeviceCode | None: ...
    def swap_device(self, expected: DeviceCode, new: DeviceCode) -> bool: ...  # False if it changed meanwhile
    def take_device(self, device_code: str) -> DeviceCode | None: ...  # remove and return it (single use)
    # pushed authorization requests
    def put_pushed(self, pushed: PushedRequest) -> None: ...
    def get_pushed(self, request_uri: str) -> PushedRequest | None: ...
    def take_pushed(self, request_uri: str) -> PushedRequest | None: ...  # remove and return it (single use)
    # markers: add_marker is False when a live marker with that key exists (a replay)
    def add_marker(self, key: str, expires_at: float) -> bool: ...
    def has_marker(self, key: str) -> bool: ...
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
        self._devices: _Table[DeviceCode] = _Table(lambda d: d.expires_at + DEVICE_RETENTION, MAX_DEVICE_CODES)
        self._user_codes: _Table[UserCode] = _Table(lambda u: u.expires_at + DEVICE_RETENTION, MAX_DEVICE_CODES)
        self._pushed: _Table[PushedRequest] = _Table(lambda r: r.expires_at, MAX_PUSHED_REQUESTS)
        self._markers: _Table[Marker] = _Table(lambda m: m.expires_at, MAX_MARKERS)

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
                          self._devices, self._user_codes, self._pushed, self._markers):
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

    # --- device codes ---

    def put_device(self, device: DeviceCode) -> None:
        self._write(self._devices, device.device_code, device)
        self._write(self._user_codes, device.user_code, UserCode(device.user_code, device.device_code,
                                                                 device.expires_at))

    def get_device(self, device_code: str) -> DeviceCode | None:
        return self._devices.get(device_code)

    def find_device(self, user_code: str) -> DeviceCode | None:
        index = self._user_codes.get(user_code)
        return self._devices.get(index.device_code) if index is not None else None

    def swap_device(self, expected: DeviceCode, new: DeviceCode) -> bool:
        now = self._clock.now()
        with self._lock:
            if self._devices.get(expected.device_code) != expected:
                return False
            self._devices.put(new.device_code, new, now)
            return True

    def take_device(self, device_code: str) -> DeviceCode | None:
        with self._lock:
            return self._devices.pop(device_code)

    # --- pushed authorization requests ---

    def put_pushed(self, pushed: PushedRequest) -> None:
        self._write(self._pushed, pushed.request_uri, pushed)

    def get_pushed(self, request_uri: str) -> PushedRequest | None:
        return self._pushed.get(request_uri)

    def take_pushed(self, request_uri: str) -> PushedRequest | None:
        with self._lock:
            return self._pushed.pop(request_uri)

    # --- markers ---

    def add_marker(self, key: str, expires_at: float) -> bool:
        now = self._clock.now()
        with self._lock:
            seen = self._markers.get(key)
            if seen is not None and seen.expires_at > now:
                return False
            self._markers.put(key, Marker(key, expires_at), now)
            return True

    def has_marker(self, key: str) -> bool:
        seen = self._markers.get(key)
        return seen is not None and seen.expires_at > self._clock.now()

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

