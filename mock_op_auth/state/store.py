"""State of issued artefacts: authorization codes, grants (refresh families), access and
refresh tokens, login requests waiting on the login page, login sessions, used client-assertion
ids, device codes (RFC 8628), pushed authorization requests (RFC 9126), markers (DPoP proof and
assertion ``jti`` values seen once, DPoP nonces handed out), PSD2 intents, payments, idempotency
keys, account ledgers and registered clients.

``Store`` is the interface. Every record is a frozen dataclass of one *kind* (``KINDS``: its
class, key, expiry and the grant it belongs to), so a backend implements a few generic,
atomic primitives (``put``, ``get``, ``take``, ``update``, ``values``, ``revoke_grant``,
``clear``) and ``RecordStore`` gives every backend the same typed methods on top of them:
``MemoryStore`` here (dicts, bounded, expiring by the mock clock), ``SqliteStore``
(``state/sqlite.py``) and ``RedisStore`` (``state/redis.py``), which several processes share.

Single use and rotation are compare-and-set operations of the store (``redeem_code``,
``rotate_refresh``), never a read in one call and a write in the next, so two processes
redeeming one code at once cannot both win. A revoked grant stays revoked: ``put_grant``
never clears ``revoked``.

How to add a record type: a frozen dataclass, one ``Kind`` line in ``KINDS``, and its typed
methods on ``RecordStore`` (one line each over the primitives); every backend then stores it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from operator import attrgetter
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


@dataclass(frozen=True, slots=True)
class IssuedIdToken:
    """An ID token issued at the token endpoint, by its digest (it carries no ``jti``: OP's claim
    set has none): the grant it came from, so a token exchange can tell it still stands."""

    digest: str
    grant_id: str
    expires_at: float


# --- PSD2 state: intents (AIS consents) and clients registered at runtime (op-auth.md §4.1, §4.3) ---

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
class NamedKey:
    """A private key (PKCS#8 PEM) a server keeps by name beside its token keys (PSD2's PIS key)."""

    name: str
    pem: str


@dataclass(frozen=True)
class RegisteredClient:
    """A client registered at runtime (``/tpp-registration/register``): the fixture ``Client`` fields."""

    client_id: str
    fields: dict[str, Any]
    issued_at: int


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


MAX_SESSIONS = 10_000


NEVER = 1e18  # expires_at of records that live until a reset (runtime-registered clients)


@dataclass(frozen=True)
class Kind:
    """One record type: its class, its key, when it expires (mock clock), the grant it belongs to
    (what a grant's revocation reaches), and how many rows of it a store keeps at most."""

    cls: type[Any]
    key: Callable[[Any], str]
    expires: Callable[[Any], float]
    grant: Callable[[Any], str | None] = lambda record: None
    limit: int | None = None  # None: the store's own limit


KINDS: dict[str, Kind] = {
    "code": Kind(AuthCode, attrgetter("code"), attrgetter("expires_at")),
    "grant": Kind(Grant, attrgetter("id"), attrgetter("expires_at")),
    "access": Kind(AccessToken, attrgetter("key"), attrgetter("expires_at"), attrgetter("grant_id")),
    "refresh": Kind(RefreshToken, attrgetter("token"), attrgetter("expires_at"), attrgetter("grant_id")),
    "login": Kind(LoginRequest, attrgetter("id"), attrgetter("expires_at"), limit=MAX_LOGIN_REQUESTS),
    "session": Kind(Session, attrgetter("sid"), attrgetter("expires_at"), limit=MAX_SESSIONS),
    "device": Kind(DeviceCode, attrgetter("device_code"), lambda d: d.expires_at + DEVICE_RETENTION,
                   limit=MAX_DEVICE_CODES),
    "user_code": Kind(UserCode, attrgetter("user_code"), lambda u: u.expires_at + DEVICE_RETENTION,
                      limit=MAX_DEVICE_CODES),
    "pushed": Kind(PushedRequest, attrgetter("request_uri"), attrgetter("expires_at"), limit=MAX_PUSHED_REQUESTS),
    "marker": Kind(Marker, attrgetter("key"), attrgetter("expires_at"), limit=MAX_MARKERS),
    "id_token": Kind(IssuedIdToken, attrgetter("digest"), attrgetter("expires_at")),
    "intent": Kind(Intent, attrgetter("id"), lambda i: i.expires_at + INTENT_RETENTION),
    "client": Kind(RegisteredClient, attrgetter("client_id"), lambda c: NEVER, limit=MAX_REGISTERED_CLIENTS),
    "payment": Kind(Payment, attrgetter("id"), attrgetter("expires_at")),
    "idempotency": Kind(IdempotencyKey, attrgetter("key"), attrgetter("expires_at")),
    "ledger": Kind(Ledger, attrgetter("iban"), lambda ledger: NEVER),  # one per fixture account
    "named_key": Kind(NamedKey, attrgetter("name"), lambda key: NEVER),
}
RECORDS: dict[str, type[Any]] = {name: kind.cls for name, kind in KINDS.items()}
# Kinds a reset keeps: keys, like the token signing keys. PSD2's PIS response key is published
# (its JWKS) and held by every process on a shared store; a reset that dropped it would have the
# next process make another, and replicas would sign with two keys under one JWKS URL.
KEPT_BY_RESET = frozenset({"named_key"})
RESET_KINDS = tuple(name for name in KINDS if name not in KEPT_BY_RESET)
_TUPLE_FIELDS = {name: frozenset(f.name for f in dataclasses.fields(kind.cls) if str(f.type).startswith("tuple"))
                 for name, kind in KINDS.items()}


def encode(record: Any) -> str:
    """A record as JSON (the shared stores keep this text)."""
    return json.dumps({f.name: getattr(record, f.name) for f in dataclasses.fields(record)}, separators=(",", ":"))


def decode(kind: str, data: str | bytes) -> Any:
    """The record of ``kind`` that ``encode`` wrote; raises ValueError or TypeError on anything else."""
    values = json.loads(data)
    for name in _TUPLE_FIELDS[kind]:
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    return KINDS[kind].cls(**values)


class StoreUnavailableError(RuntimeError):
    """The shared store cannot be reached now (Redis down, SQLite locked too long): answer 503."""


Change = Callable[[Any], Any]


class Store(Protocol):
    """What services need from state; every method is atomic, across processes for shared stores."""

    shared: bool  # True when other processes may use the same state (SQLite, Redis)

    # generic primitives (one record kind of KINDS each)
    def put(self, kind: str, record: Any) -> None: ...
    def get(self, kind: str, key: str) -> Any: ...
    def take(self, kind: str, key: str) -> Any: ...  # remove and return it; None if another took it first
    def update(self, kind: str, key: str, change: Change) -> tuple[Any, Any]: ...  # (before, after), atomically
    def values(self, kind: str) -> list[Any]: ...
    def revoke_grant(self, grant_id: str) -> None: ...
    def clear(self) -> None: ...
    # typed methods (RecordStore)
    def put_code(self, code: AuthCode) -> None: ...
    def get_code(self, code: str) -> AuthCode | None: ...
    def redeem_code(self, code: str, grant_id: str) -> AuthCode | None: ...
    def put_grant(self, grant: Grant) -> None: ...
    def get_grant(self, grant_id: str) -> Grant | None: ...
    def rotate_refresh(self, grant_id: str, old: str, rotated: Grant) -> bool: ...
    def put_access(self, token: AccessToken) -> None: ...
    def get_access(self, key: str) -> AccessToken | None: ...
    def revoke_access(self, key: str) -> None: ...
    def put_refresh(self, token: RefreshToken) -> None: ...
    def get_refresh(self, token: str) -> RefreshToken | None: ...
    def live_access_tokens(self) -> list[AccessToken]: ...
    def put_login(self, login: LoginRequest) -> None: ...
    def get_login(self, login_id: str) -> LoginRequest | None: ...
    def take_login(self, login_id: str) -> bool: ...  # remove it; False if another answer took it first
    def put_session(self, session: Session) -> None: ...
    def get_session(self, sid: str) -> Session | None: ...  # None when unknown or expired
    def sessions(self) -> list[Session]: ...  # the live ones, oldest first
    def take_session(self, sid: str) -> Session | None: ...  # remove and return it (None: gone already)
    def link_session_grant(self, sid: str, grant_id: str) -> None: ...
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
    def put_id_token(self, token: IssuedIdToken) -> None: ...
    def get_id_token(self, digest: str) -> IssuedIdToken | None: ...
    # markers: add_marker is False when a live marker with that key exists (a replay)
    def add_marker(self, key: str, expires_at: float) -> bool: ...
    def has_marker(self, key: str) -> bool: ...
    # PSD2 state
    def put_intent(self, intent: Intent) -> None: ...
    def get_intent(self, intent_id: str) -> Intent | None: ...
    def link_grant(self, intent_id: str, grant_id: str) -> Intent | None: ...
    def put_registered_client(self, client: RegisteredClient) -> None: ...
    def registered_clients(self) -> list[RegisteredClient]: ...
    def put_payment(self, payment: Payment) -> None: ...
    def get_payment(self, payment_id: str) -> Payment | None: ...
    def recent_payments(self, limit: int) -> list[Payment]: ...  # newest first
    def put_idempotency(self, record: IdempotencyKey) -> None: ...
    def get_idempotency(self, key: str) -> IdempotencyKey | None: ...
    def put_ledger(self, ledger: Ledger) -> None: ...
    def get_ledger(self, iban: str) -> Ledger | None: ...
    def named_key(self, name: str, make: Callable[[], str]) -> str: ...  # its PEM, made by ``make`` once
    def sizes(self) -> dict[str, int]: ...


class RecordStore:
    """The typed methods of ``Store``, once, over a backend's generic primitives."""

    shared = False
    _clock: Clock

    def put(self, kind: str, record: Any) -> None:
        raise NotImplementedError

    def get(self, kind: str, key: str) -> Any:
        raise NotImplementedError

    def take(self, kind: str, key: str) -> Any:
        raise NotImplementedError

    def update(self, kind: str, key: str, change: Change) -> tuple[Any, Any]:
        raise NotImplementedError

    def values(self, kind: str) -> list[Any]:
        raise NotImplementedError

    # -- codes and grants: single use and rotation are compare-and-set ---------------------------
    def put_code(self, code: AuthCode) -> None:
        self.put("code", code)

    def get_code(self, code: str) -> AuthCode | None:
        return self.get("code", code)

    def redeem_code(self, code: str, grant_id: str) -> AuthCode | None:
        """Mark ``code`` redeemed by ``grant_id`` unless it already was; returns the code as it was
        before (None: unknown). The caller won the code exactly when that code's ``grant_id`` is None."""
        before, _ = self.update("code", code, lambda c: c if c is None or c.grant_id is not None
                                else replace(c, grant_id=grant_id))
        return before

    def put_grant(self, grant: Grant) -> None:
        """Store a grant; a grant already revoked stays revoked (a late write never revives it)."""
        self.update("grant", grant.id, lambda old: old if old is not None and old.revoked else grant)

    def get_grant(self, grant_id: str) -> Grant | None:
        return self.get("grant", grant_id)

    def rotate_refresh(self, grant_id: str, old: str, rotated: Grant) -> bool:
        """Replace the grant by ``rotated`` if ``old`` is still its current refresh token and it is
        not revoked; False when another request used ``old`` first (that is reuse)."""
        _, after = self.update("grant", grant_id, lambda g: rotated if g is not None and not g.revoked
                               and g.current_refresh == old else g)
        return after is rotated

    # -- tokens ---------------------------------------------------------------------------------
    def put_access(self, token: AccessToken) -> None:
        self.put("access", token)

    def get_access(self, key: str) -> AccessToken | None:
        return self.get("access", key)

    def revoke_access(self, key: str) -> None:
        self.update("access", key, lambda t: t if t is None or t.revoked else replace(t, revoked=True))

    def put_refresh(self, token: RefreshToken) -> None:
        self.put("refresh", token)

    def get_refresh(self, token: str) -> RefreshToken | None:
        return self.get("refresh", token)

    def live_access_tokens(self) -> list[AccessToken]:
        now = self._clock.now()
        return [t for t in self.values("access") if t.expires_at > now and not t.revoked]

    # -- login requests -------------------------------------------------------------------------
    def put_login(self, login: LoginRequest) -> None:
        self.put("login", login)

    def get_login(self, login_id: str) -> LoginRequest | None:
        login = self.get("login", login_id)
        return login if login is None or login.expires_at > self._clock.now() else None

    def take_login(self, login_id: str) -> bool:
        return self.take("login", login_id) is not None

    # -- login sessions and used assertion ids ---------------------------------------------------
    def put_session(self, session: Session) -> None:
        self.put("session", session)

    def get_session(self, sid: str) -> Session | None:
        session = self.get("session", sid)
        return session if session is None or session.expires_at > self._clock.now() else None

    def sessions(self) -> list[Session]:
        now = self._clock.now()
        return sorted((s for s in self.values("session") if s.expires_at > now), key=lambda s: s.auth_time)

    def take_session(self, sid: str) -> Session | None:
        session = self.take("session", sid)
        return session if session is None or session.expires_at > self._clock.now() else None

    def link_session_grant(self, sid: str, grant_id: str) -> None:
        self.update("session", sid, lambda s: s if s is None or grant_id in s.grant_ids
                    else replace(s, grant_ids=(*s.grant_ids, grant_id)))

    # -- device codes: found by user code; decisions and polls swap atomically -------------------
    def put_device(self, device: DeviceCode) -> None:
        self.put("device", device)
        self.put("user_code", UserCode(device.user_code, device.device_code, device.expires_at))

    def get_device(self, device_code: str) -> DeviceCode | None:
        return self.get("device", device_code)

    def find_device(self, user_code: str) -> DeviceCode | None:
        index = self.get("user_code", user_code)
        return self.get("device", index.device_code) if index is not None else None

    def swap_device(self, expected: DeviceCode, new: DeviceCode) -> bool:
        """Replace ``expected`` by ``new`` unless the device code changed meanwhile (compare-and-set)."""
        _, after = self.update("device", expected.device_code, lambda current: new if current == expected
                               else current)
        return after is new

    def take_device(self, device_code: str) -> DeviceCode | None:
        return self.take("device", device_code)

    # -- pushed authorization requests ----------------------------------------------------------
    def put_pushed(self, pushed: PushedRequest) -> None:
        self.put("pushed", pushed)

    def get_pushed(self, request_uri: str) -> PushedRequest | None:
        return self.get("pushed", request_uri)

    def take_pushed(self, request_uri: str) -> PushedRequest | None:
        return self.take("pushed", request_uri)

    def put_id_token(self, token: IssuedIdToken) -> None:
        self.put("id_token", token)

    def get_id_token(self, digest: str) -> IssuedIdToken | None:
        return self.get("id_token", digest)

    # -- markers: a key seen once (a DPoP proof's or assertion's jti, a nonce handed out) ---------
    def add_marker(self, key: str, expires_at: float) -> bool:
        """Record ``key`` unless a live marker of it exists: False is a replay (atomic)."""
        now = self._clock.now()
        marker = Marker(key, expires_at)
        _, after = self.update("marker", key, lambda seen: seen if seen is not None and seen.expires_at > now
                               else marker)
        return after is marker

    def has_marker(self, key: str) -> bool:
        seen = self.get("marker", key)
        return seen is not None and seen.expires_at > self._clock.now()

    # -- PSD2 state -----------------------------------------------------------------------------
    def put_intent(self, intent: Intent) -> None:
        self.put("intent", intent)

    def get_intent(self, intent_id: str) -> Intent | None:
        return self.get("intent", intent_id)

    def link_grant(self, intent_id: str, grant_id: str) -> Intent | None:
        """Add a grant to an intent's grants (atomically: two grants at once both stay)."""
        _, after = self.update("intent", intent_id, lambda i: i if i is None or grant_id in i.grant_ids
                               else replace(i, grant_ids=(*i.grant_ids, grant_id)))
        return after

    def put_registered_client(self, client: RegisteredClient) -> None:
        self.put("client", client)

    def registered_clients(self) -> list[RegisteredClient]:
        return sorted(self.values("client"), key=lambda c: c.issued_at)

    def put_payment(self, payment: Payment) -> None:
        self.put("payment", payment)

    def get_payment(self, payment_id: str) -> Payment | None:
        return self.get("payment", payment_id)

    def recent_payments(self, limit: int) -> list[Payment]:
        return sorted(self.values("payment"), key=lambda p: p.created_at, reverse=True)[:limit]

    def put_idempotency(self, record: IdempotencyKey) -> None:
        self.put("idempotency", record)

    def get_idempotency(self, key: str) -> IdempotencyKey | None:
        record = self.get("idempotency", key)
        return record if record is None or record.expires_at > self._clock.now() else None

    def put_ledger(self, ledger: Ledger) -> None:
        self.put("ledger", ledger)

    def get_ledger(self, iban: str) -> Ledger | None:
        return self.get("ledger", iban)

    def named_key(self, name: str, make: Callable[[], str]) -> str:
        """The PEM kept under ``name``; the first caller's ``make()`` wins (atomic)."""
        _, after = self.update("named_key", name, lambda key: key if key is not None else NamedKey(name, make()))
        return str(after.pem)

    def sizes(self) -> dict[str, int]:
        raise NotImplementedError


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


class MemoryStore(RecordStore):
    """The default store: dicts under one lock, purged of expired rows as it goes (one process)."""

    PURGE_EVERY = PURGE_EVERY

    def __init__(self, clock: Clock, limit: int = 50_000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._writes = 0
        self._next_purge = self.PURGE_EVERY
        self._tables: dict[str, _Table[Any]] = {name: _Table(kind.expires, kind.limit or limit)
                                                for name, kind in KINDS.items()}
        self._access_by_grant: dict[str, set[str]] = {}

    def put(self, kind: str, record: Any) -> None:
        spec = KINDS[kind]
        key = spec.key(record)
        now = self._clock.now()
        with self._lock:
            self._tables[kind].put(key, record, now)
            grant_id = spec.grant(record) if kind == "access" else None
            if grant_id is not None:
                self._access_by_grant.setdefault(grant_id, set()).add(key)
            self._writes += 1
            if self._writes >= self._next_purge:  # at most once per PURGE_EVERY writes, amortised O(1)
                self._writes = 0
                self._purge(now)
                self._next_purge = max(self.PURGE_EVERY, len(self._tables["grant"]), len(self._access_by_grant))

    def _purge(self, now: float) -> None:
        """Drop the grant index of grants gone from the table (the tables sweep themselves)."""
        grants = self._tables["grant"]
        grants.purge(now)
        live = {g.id for g in grants.values()}
        for grant_id in [g for g in self._access_by_grant if g not in live]:
            del self._access_by_grant[grant_id]

    def get(self, kind: str, key: str) -> Any:
        return self._tables[kind].get(key)

    def take(self, kind: str, key: str) -> Any:
        with self._lock:
            return self._tables[kind].pop(key)

    def update(self, kind: str, key: str, change: Change) -> tuple[Any, Any]:
        with self._lock:
            before = self._tables[kind].get(key)
            after = change(before)
            if after is not before:
                if after is None:
                    self._tables[kind].pop(key)
                else:
                    self._tables[kind].put(key, after, self._clock.now())
        return before, after

    def values(self, kind: str) -> list[Any]:
        with self._lock:
            return self._tables[kind].values()

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke a grant and every access token issued from it (its refresh tokens die with it)."""
        now = self._clock.now()
        with self._lock:
            grants, access = self._tables["grant"], self._tables["access"]
            grant = grants.get(grant_id)
            if grant is None:
                return
            grants.put(grant_id, replace(grant, revoked=True, current_refresh=None), now)
            for key in self._access_by_grant.get(grant_id, ()):
                token = access.get(key)
                if token is not None:
                    access.put(key, replace(token, revoked=True), now)

    def clear(self) -> None:
        with self._lock:
            for kind in RESET_KINDS:
                self._tables[kind].clear()
            self._access_by_grant.clear()

    def sizes(self) -> dict[str, int]:
        return {"codes": len(self._tables["code"]), "grants": len(self._tables["grant"]),
                "access_tokens": len(self._tables["access"]), "refresh_tokens": len(self._tables["refresh"])}
