"""State of issued artefacts: authorization codes, grants (refresh families), access and
refresh tokens, login requests waiting on the login page, PSD2 intents, payments, idempotency
keys, account ledgers and registered clients.

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


# --- PSD2 state: intents (AIS consents, PIS bundles, CoF authorizations), payments, idempotency
# keys, account ledgers and clients registered at runtime (op-auth.md §4, §8; DESIGN §8) ---

IntentStatus = Literal["Unauthorized", "Authorizing", "Authorized", "Rejected", "Revoked", "Expired"]
IntentKind = Literal["accounts", "payments", "fundsconfirmations"]  # the API (and scope) an intent belongs to
INTENT_RETENTION = 30 * 86400  # an expired intent still answers GET (status Expired) for this long
MAX_REGISTERED_CLIENTS = 10_000


@dataclass(frozen=True)
class Intent:
    """A PSD2 authorization (``authorizationId``): what the PSU approves and what revokes its tokens.

    ``kind`` says which API it belongs to: an AIS consent, a PIS bundle (its payments in
    ``payment_ids``) or a CoF authorization (for ``iban``)."""

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
    user: str | None = None  # the fixture user who authorized it (a PIS bundle: who created it, if a PSU)
    grant_ids: tuple[str, ...] = ()  # grants issued on this intent: revoking it revokes them
    kind: IntentKind = "accounts"
    iban: str | None = None  # CoF: the account whose funds are confirmed
    payment_ids: tuple[str, ...] = ()  # PIS: the payments of the bundle, oldest first
    acr: str | None = None  # how the PSU authorized it (SCA, or the exemption's ``ca``)


PaymentState = Literal["Revoked", "Cancelled", "SubmissionPending", "Accepted", "Debited"]


@dataclass(frozen=True)
class Payment:
    """A PIS payment (SEPA or foreign). Until it has a ``state`` of its own, its status is its
    bundle's (Unauthorized, Authorizing, Authorized, Rejected, Expired, Revoked); once submitted,
    ``due`` holds the times its occurrences are debited (the mock clock moves it to Debited)."""

    id: str
    authorization_id: str
    client_id: str
    kind: Literal["sepa", "foreign"]
    request: dict[str, Any]  # the body as created, without authorizationId
    amount_cents: int  # in ``currency``
    currency: str
    created_at: float
    expires_at: float  # kept until then (retention), whatever its status
    state: PaymentState | None = None
    modified_at: float | None = None
    payer_iban: str | None = None
    count: int = 1
    execution_date: str | None = None  # YYYY-MM-DD: a scheduled payment
    submission_id: str | None = None
    submitted_at: float | None = None
    archive_id: str | None = None
    due: tuple[float, ...] = ()  # when each occurrence is (or was) debited
    debit_cents: int = 0  # per occurrence, in the payer account's currency


@dataclass(frozen=True)
class IdempotencyKey:
    """A create request's ``x-idempotency-key``: the same key and body answer the same payment."""

    key: str  # client_id + "\n" + the header
    digest: str  # SHA-256 of the canonical JSON body
    payment_id: str
    expires_at: float


@dataclass(frozen=True)
class Ledger:
    """Debits the mock made to one fixture account (by IBAN), oldest first: its balance now is the
    fixture balance less those due by the mock clock. ``carried_cents`` sums entries dropped past
    ``MAX_LEDGER_ENTRIES``."""

    iban: str
    entries: tuple[dict[str, Any], ...] = ()  # {payment_id, due, cents, name, message, archive_id}
    carried_cents: int = 0


MAX_LEDGER_ENTRIES = 5000


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
    # PSD2 state
    def put_intent(self, intent: Intent) -> None: ...
    def get_intent(self, intent_id: str) -> Intent | None: ...
    def put_registered_client(self, client: RegisteredClient) -> None: ...
    def registered_clients(self) -> list[RegisteredClient]: ...
    def put_payment(self, payment: Payment) -> None: ...
    def get_payment(self, payment_id: str) -> Payment | None: ...
    def recent_payments(self, limit: int) -> list[Payment]: ...  # newest first
    def put_idempotency(self, record: IdempotencyKey) -> None: ...
    def get_idempotency(self, key: str) -> IdempotencyKey | None: ...
    def put_ledger(self, ledger: Ledger) -> None: ...
    def get_ledger(self, iban: str) -> Ledger | None: ...


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
        self._payments: _Table[Payment] = _Table(lambda p: p.expires_at, limit)
        self._idempotency: _Table[IdempotencyKey] = _Table(lambda r: r.expires_at, limit)
        self._ledgers: dict[str, Ledger] = {}  # one per fixture account: bounded by the fixture

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
                          self._payments, self._idempotency):
                table.clear()
            self._access_by_grant.clear()
            self._clients.clear()
            self._ledgers.clear()

    # --- login requests ---

    def put_login(self, login: LoginRequest) -> None:
        self._write(self._logins, login.id, login)

    def get_login(self, login_id: str) -> LoginRequest | None:
        login = self._logins.get(login_id)
        return login if login is None or login.expires_at > self._clock.now() else None

    def take_login(self, login_id: str) -> bool:
        with self._lock:
            return self._logins.pop(login_id) is not None

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

    def put_payment(self, payment: Payment) -> None:
        self._write(self._payments, payment.id, payment)

    def get_payment(self, payment_id: str) -> Payment | None:
        return self._payments.get(payment_id)

    def recent_payments(self, limit: int) -> list[Payment]:
        with self._lock:
            payments = self._payments.values()
        return sorted(payments, key=lambda p: p.created_at, reverse=True)[:limit]

    def put_idempotency(self, record: IdempotencyKey) -> None:
        self._write(self._idempotency, record.key, record)

    def get_idempotency(self, key: str) -> IdempotencyKey | None:
        record = self._idempotency.get(key)
        return record if record is None or record.expires_at > self._clock.now() else None

    def put_ledger(self, ledger: Ledger) -> None:
        with self._lock:
            self._ledgers[ledger.iban] = ledger

    def get_ledger(self, iban: str) -> Ledger | None:
        return self._ledgers.get(iban)

    def sizes(self) -> dict[str, int]:
        return {"codes": len(self._codes), "grants": len(self._grants),
                "access_tokens": len(self._access), "refresh_tokens": len(self._refresh)}

