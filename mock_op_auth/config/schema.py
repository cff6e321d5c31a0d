"""The fixture file as pydantic models (DESIGN §4): pure data, validated once at load time.

Unknown keys are refused everywhere (``extra="forbid"``) so that a typo in a fixture is an
error with a location, not a silently ignored setting. Cross-references (a client naming an
unknown scenario, a route naming a scope no client can get) are checked in ``Config``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GrantType = Literal[
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
]
SigningAlg = Literal["RS256", "ES256", "PS256"]
DialectName = Literal["rfc", "apigee", "psd2"]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
EndpointName = Literal[
    "authorize", "token", "introspect", "revoke", "userinfo", "jwks", "discovery",
    "resource", "intents", "register", "control", "logout", "device", "par", "payments", "funds", "accounts",
]
# RFC 6749 §2.3 / RFC 7591 §2 / OIDC Core §9: how a client authenticates at the token endpoint.
AuthMethod = Literal["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt",
                     "tls_client_auth", "none"]

OIDC_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})


# The longest lifetime a fixture, a rule or a minted token may give: every expiry stays a date
# the mock can write, and a number every store can hold.
MAX_LIFETIME = 10 * 365 * 24 * 3600  # ten years
Lifetime = Annotated[int, Field(gt=0, le=MAX_LIFETIME)]  # seconds a thing lives: a TTL of the fixture
MAX_RULE_TIMES = 1_000_000_000
NO_CONTENT = frozenset({204, 205, 304})  # statuses whose response carries no content


# schemes whose URIs run in the browser or read local files: never a place to send a browser back to
SCRIPT_SCHEMES = frozenset({"javascript", "vbscript", "data", "file", "blob"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")  # RFC 3986 §3.1


def check_redirect_uri(uri: str, reference: str = "") -> str:
    """A URI the browser may be sent back to: absolute, no fragment (RFC 6749 §3.1.2), and not a
    script or local scheme (RFC 9700 §4.1.3); private-use schemes of native apps are fine (RFC 8252)."""
    scheme, colon, _ = uri.partition(":")
    if "://" not in uri or "#" in uri or not colon or not _SCHEME.match(scheme):
        raise ValueError(f"{uri!r} is not an absolute URI without a fragment{reference}")
    if scheme.lower() in SCRIPT_SCHEMES:
        raise ValueError(f"{uri!r}: a {scheme.lower()}: URI is never a redirect target (RFC 9700 §4.1.3)")
    return uri


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApigeeSettings(Model):
    """OP's general API path (``/auth/v2/accesstoken``, Apigee Edge): its lifetimes and wire choices.

    Defaults follow OP's sample (op-auth.md §2.1); ``token_type`` and ``issued_at_unit`` let a
    fixture follow OP's authentication page instead (``Bearer``, seconds).
    """

    access_token_ttl: Lifetime = 86399
    refresh_token_ttl: Lifetime = 1799
    token_type: str = "BearerToken"
    issued_at_unit: Literal["ms", "s"] = "ms"
    extra_fields: bool = False  # add Apigee's issued_at, client_id, application_name, api_product_list, ...
    organization_name: str = "op-developer"
    developer_email: str = "developer@example.com"


PSD2_AUDIENCES = ("https://mtls-apis.psd2-sandbox.op.fi", "https://mtls.apis.op.fi")


_AMOUNT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,2})?")
IBAN_PATTERN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}")


def check_amount(value: Any) -> str:
    """A fixture amount: a decimal with at most two places, kept as its string (``12.5`` → ``"12.50"``)."""
    text = str(value).strip() if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool) \
        else ""
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"{value!r} is not an amount with at most two decimals")
    try:
        return f"{Decimal(text):.2f}"
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None


class Psd2Transaction(Model):
    """One booked transaction of a fixture account (OP's AIS ``Transaction``)."""

    date: dt.date
    amount: str  # signed: negative for money out
    name: str | None = None  # the other party: the recipient of a debit, the payer of a credit
    message: str | None = None
    reference: str | None = None
    description: str | None = None  # OP's proprietaryTransactionDescription, e.g. "TILISIIRTO"
    archive_id: str | None = None  # OP's archiveId; made up from the date and position when absent

    _amount = field_validator("amount", mode="before")(check_amount)


class Psd2CardTransaction(Model):
    date: dt.date  # OP's postingDate
    amount: str
    description: str
    currency: str = "EUR"

    _amount = field_validator("amount", mode="before")(check_amount)


class Psd2Card(Model):
    """A payment card on an account (OP's AIS ``Card``): ``number`` is shown masked as given."""

    id: str | None = None  # OP's cardId; derived from the number when absent
    number: str
    name: str = "Visa Debit"  # OP's productName
    transactions: list[Psd2CardTransaction] = []


class Psd2Account(Model):
    """A PSU's account (DESIGN §8): AIS lists it, PIS debits it, CoF checks its balance."""

    iban: str
    name: str = "KÄYTTÖTILI"  # OP's productName
    currency: str = "EUR"
    balance: str  # the balance before any payment the mock executes
    user: str | None = None  # the fixture user who holds it; none: every PSU
    id: str | None = None  # OP's accountId; derived from the IBAN when absent
    bic: str = "OKOYFIHH"  # OP's servicer
    transactions: list[Psd2Transaction] = []
    cards: list[Psd2Card] = []

    _balance = field_validator("balance", mode="before")(check_amount)

    @field_validator("iban", mode="before")
    @classmethod
    def _iban(cls, iban: Any) -> Any:
        if isinstance(iban, str):
            iban = iban.replace(" ", "").upper()
            if not IBAN_PATTERN.fullmatch(iban) or not iban_checks(iban):
                raise ValueError(f"{iban} is not an IBAN whose check digits hold (ISO 13616)")
        return iban


def iban_checks(iban: str) -> bool:
    """ISO 13616 check digits: the IBAN, its first four characters moved to the end, is 1 mod 97."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


DEFAULT_RATES = {"USD": "1.08", "GBP": "0.85", "SEK": "11.50", "NOK": "11.70", "DKK": "7.46", "CHF": "0.95",
                 "JPY": "160.00", "PLN": "4.30", "CAD": "1.47", "AUD": "1.65"}


class Psd2Settings(Model):
    """OP's PSD2 profile: which ``aud`` a request object may name (besides this issuer), intent
    lifetimes, and the PSUs' accounts that AIS reads, PIS debits and CoF checks (DESIGN §8)."""

    audiences: list[str] = list(PSD2_AUDIENCES)
    intent_ttl: Lifetime = 90 * 86400  # an AIS consent lasts at most 90 days (op-auth.md §2.4)
    funds_intent_ttl: Lifetime = 366 * 86400  # a CoF authorization: a year at most (a leap one too)
    payment_ttl: Lifetime = 3600  # how long a payment bundle waits for the PSU's authorization
    exemption_limit: str = "30.00"  # EUR: the most one payment authorized by the exemption flow may move
    recurring_interval: int = Field(30 * 86400, gt=0)  # seconds between the occurrences of a recurring payment
    page_size: int = Field(10, ge=1, le=1000)  # transactions per page (continuationToken)
    exchange_rates: dict[str, str] = dict(DEFAULT_RATES)  # units of a currency per EUR, for foreign payments
    accounts: list[Psd2Account] = []

    _limit = field_validator("exemption_limit", mode="before")(check_amount)

    @field_validator("exchange_rates")
    @classmethod
    def _rates(cls, rates: dict[str, str]) -> dict[str, str]:
        for code, rate in rates.items():
            if not re.fullmatch(r"[A-Z]{3}", code):
                raise ValueError(f"{code!r} is not an ISO 4217 currency code")
            try:
                if Decimal(str(rate)) <= 0:
                    raise ValueError
            except (InvalidOperation, ValueError):
                raise ValueError(f"the rate of {code} must be a positive decimal") from None
        return {code: str(rate) for code, rate in rates.items()}

    @model_validator(mode="after")
    def _unique(self) -> Psd2Settings:
        ibans = [a.iban for a in self.accounts]
        if dup := sorted({i for i in ibans if ibans.count(i) > 1}):
            raise ValueError(f"accounts: {dup[0]} is listed twice")
        return self


def check_origin(origin: str) -> str:
    """A browser origin as a client's ``allowed_origins`` names it: ``scheme://host[:port]``, exactly
    as a browser sends it in ``Origin`` (no path, no slash at the end); never ``*`` nor ``null``."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{origin!r} is not an origin (scheme://host[:port])") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query \
            or parts.fragment or parts.username is not None or origin != f"{parts.scheme}://{parts.netloc}":
        raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
    return origin


class ServerConfig(Model):
    access_token_ttl: Lifetime = 3600
    refresh_token_ttl: Lifetime = 1800
    code_ttl: Lifetime = 60
    id_token_ttl: Lifetime = 3600
    access_token_format: Literal["jwt", "opaque"] = "jwt"
    signing_alg: SigningAlg = "RS256"
    audience: str | None = None
    login: Literal["auto", "page"] = "auto"
    refresh_rotation: bool = True
    max_refresh_count: int | None = Field(None, ge=0)
    default_scenario: str | None = None
    journal_size: int = Field(1000, ge=1, le=100_000)
    max_namespaces: int = Field(256, ge=0, le=10_000)  # DESIGN §11
    namespace_idle_ttl: Lifetime = 3600  # seconds of wall-clock time since a namespace's last request
    device_code_ttl: Lifetime = 600  # RFC 8628: how long a device code and its user code live
    device_interval: int = Field(5, ge=0, le=3600)  # RFC 8628 §3.2: seconds between polls
    par_ttl: Lifetime = 60  # RFC 9126 §2.2: how long a pushed request_uri lives
    require_par: bool = False  # RFC 9126 §5: every authorization request must be pushed first
    dpop: bool = True  # RFC 9449: DPoP proofs at /token, userinfo and the resource stub
    dpop_nonce: bool = False  # RFC 9449 §8, §9: proofs must carry a nonce the server handed out
    apigee: ApigeeSettings = ApigeeSettings()  # OP dialects (docs/op-dialects.md)
    psd2: Psd2Settings = Psd2Settings()
    # RFC 8705 (docs/tls.md): bind tokens to the client certificate presented when they were issued
    certificate_bound_tokens: bool = True
    # a header carrying the client certificate from a TLS-terminating proxy (OP's sandbox:
    # x-client-certificate); never read unless named here
    client_certificate_header: str | None = None

    @field_validator("client_certificate_header")
    @classmethod
    def _header_name(cls, name: str | None) -> str | None:
        return name.lower() if name else None
    # Browser clients and relying parties (docs/browser-clients.md)
    cors_origins: Literal["*"] | list[str] = []  # "*": any origin may call the protocol endpoints; /_mock: these
    session_ttl: Lifetime = 86400  # seconds a login session lasts
    revoke_on_logout: bool = False  # a logout also revokes the tokens issued in the session
    backchannel_logout_timeout: float = Field(5, gt=0, le=5)  # seconds the logout page waits for receivers

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: Literal["*"] | list[str]) -> Literal["*"] | list[str]:
        return origins if origins == "*" else [check_origin(o) for o in origins]


class TokenExchangeSettings(Model):
    """What a client may ask for by token exchange (RFC 8693): the ``audience`` and ``resource``
    values it may name (each one of ``audiences``)."""

    audiences: list[str] = []


class Client(Model):
    name: str | None = None
    secret: str | None = None
    api_key: str | None = None
    grant_types: list[GrantType] = ["authorization_code", "refresh_token"]
    redirect_uris: list[str] = []
    scopes: list[str] = []
    require_pkce: bool = False
    scenario: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_file: str | None = None
    token_endpoint_auth_method: AuthMethod | None = None  # None: whatever its secret, keys or certificate allow
    allowed_origins: list[str] | None = None  # CORS; None: the origins of its redirect_uris
    post_logout_redirect_uris: list[str] = []  # OpenID RP-Initiated Logout 1.0 §3.1
    backchannel_logout_uri: str | None = None  # OpenID Back-Channel Logout 1.0 §2.2
    tls_client_auth_subject_dn: str | None = None  # RFC 8705 §2.1.2: the subject its certificate carries
    require_mtls: bool = False  # every token request presents that certificate, a secret or not
    token_exchange: TokenExchangeSettings = TokenExchangeSettings()
    require_pushed_authorization_requests: bool = False  # RFC 9126 §6
    dpop_bound_access_tokens: bool = False  # RFC 9449 §5.2: every token request must carry a DPoP proof

    @property
    def is_public(self) -> bool:
        """No credentials at all: ``none`` (with PKCE). A client with keys or a certificate subject
        and no secret (``private_key_jwt``, ``tls_client_auth``) is confidential."""
        return (self.secret is None and self.token_endpoint_auth_method in (None, "none")
                and self.tls_client_auth_subject_dn is None)

    @field_validator("tls_client_auth_subject_dn")
    @classmethod
    def _subject_dn(cls, dn: str | None) -> str | None:
        if dn is not None:
            from mock_op_auth.tls.names import parse_dn  # cryptography, loaded only by fixtures that use mTLS

            parse_dn(dn)  # DistinguishedNameError is a ValueError: a fixture error naming the field
        return dn

    @field_validator("allowed_origins")
    @classmethod
    def _allowed_origins(cls, origins: list[str] | None) -> list[str] | None:
        return None if origins is None else [check_origin(o) for o in origins]

    @field_validator("post_logout_redirect_uris")
    @classmethod
    def _logout_uris(cls, uris: list[str]) -> list[str]:
        return [check_redirect_uri(uri) for uri in uris]

    @field_validator("backchannel_logout_uri")
    @classmethod
    def _backchannel_uri(cls, uri: str | None) -> str | None:
        if uri is not None and (urlsplit(uri).scheme not in ("http", "https") or "#" in uri):
            raise ValueError(f"{uri!r} is not an absolute http(s) URI without a fragment")
        return uri

    @field_validator("redirect_uris")
    @classmethod
    def _absolute_uris(cls, uris: list[str]) -> list[str]:
        return [check_redirect_uri(uri, " (RFC 6749 §3.1.2)") for uri in uris]

    @model_validator(mode="after")
    def _consistent(self) -> Client:
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ValueError("a client with the authorization_code grant needs redirect_uris")
        if self.is_public and "client_credentials" in self.grant_types:
            raise ValueError("a public client (no secret) cannot use client_credentials")
        if self.jwks is not None and self.jwks_file is not None:
            raise ValueError("give jwks or jwks_file, not both")
        if self.require_mtls and self.tls_client_auth_subject_dn is None:
            raise ValueError("require_mtls needs tls_client_auth_subject_dn: the subject its certificate carries")
        method = self.token_endpoint_auth_method
        if method in ("client_secret_basic", "client_secret_post", "client_secret_jwt") and self.secret is None:
            raise ValueError(f"token_endpoint_auth_method {method} needs a secret")
        if method == "private_key_jwt" and self.jwks is None and self.jwks_file is None:
            raise ValueError("token_endpoint_auth_method private_key_jwt needs jwks or jwks_file")
        if method == "none" and self.secret is not None:
            raise ValueError("token_endpoint_auth_method none is for a client without a secret")
        if method == "tls_client_auth" and self.tls_client_auth_subject_dn is None:
            raise ValueError("token_endpoint_auth_method tls_client_auth needs tls_client_auth_subject_dn")
        return self


class User(Model):
    claims: dict[str, Any] = {}

    def subject(self, key: str) -> str:
        """A user's ``sub`` is its key in the fixture unless its claims set one."""
        return str(self.claims.get("sub", key))


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SERVER_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers a fixture may set: RFC 9110 token names, printable ASCII values, none the server owns."""
    for name, value in headers.items():
        if not name or not set(name) <= _TOKEN_CHARS:
            raise ValueError(f"{name!r} is not a valid header name")
        if name.lower() in _SERVER_HEADERS:
            raise ValueError(f"{name} is set by the server, not by a fixture")
        if any(not (" " <= c <= "~" or c == "\t") for c in value):
            raise ValueError(f"the value of {name} must be printable ASCII (no line breaks)")
    return headers


class RawResponse(Model):
    """A response exactly as a fixture spells it: a resource's ``response`` or a rule's ``respond``."""

    status: int = Field(200, ge=200, le=599)  # a 1xx is no final response
    json_body: Any = Field(None, alias="json")
    text: str | None = None
    headers: dict[str, str] = {}

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        return check_headers(headers)

    @model_validator(mode="after")
    def _one_body(self) -> RawResponse:
        if self.json_body is not None and self.text is not None:
            raise ValueError("give json or text, not both")
        if self.status in NO_CONTENT and (self.json_body is not None or self.text is not None):
            raise ValueError(f"a {self.status} response has no content (RFC 9110 §15)")
        return self


ResourceResponse = RawResponse
RespondAction = RawResponse


class Resource(Model):
    path: str
    methods: list[HttpMethod]
    scopes: list[str]
    api_key: bool = False
    dialect: DialectName = "rfc"
    response: RawResponse = RawResponse()

    @field_validator("path")
    @classmethod
    def _rooted(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("a resource path starts with /")
        if path.startswith(("/_mock", "/.well-known")):
            raise ValueError("a resource path may not shadow the server's own paths")
        from starlette.routing import compile_path  # how the resource stub will match it

        try:
            compile_path(path)
        except (AssertionError, ValueError) as err:  # an unknown {name:convertor}, a name twice
            raise ValueError(f"{path!r} cannot be matched: {err}") from None
        return path

    @field_validator("methods", mode="before")
    @classmethod
    def _upper(cls, methods: Any) -> Any:
        if isinstance(methods, list):
            return [m.upper() if isinstance(m, str) else m for m in methods]
        return methods


class RuleMatch(Model):
    endpoint: EndpointName | None = None
    grant_type: str | None = None
    client_id: str | None = None
    scope: str | None = None
    user: str | None = None
    path: str | None = None
    method: HttpMethod | None = None


class ErrorAction(Model):
    error: str
    error_description: str = ""
    status: int = Field(400, ge=400, le=599)


class TokenAction(Model):
    status: str | None = None
    scope: str | None = None
    expires_in: int | None = Field(None, ge=-MAX_LIFETIME, le=MAX_LIFETIME)
    refresh_token_expires_in: int | None = Field(None, ge=-MAX_LIFETIME, le=MAX_LIFETIME)
    claims: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    refresh_token: bool | None = None


# What a rule's ``status`` may leave a payment submission in (op-auth.md §8, OP's PIS V2 table).
SUBMISSION_STATUSES = ("SubmissionPending", "Accepted", "Debited")


class Rule(Model):
    match: RuleMatch = RuleMatch()
    respond: RawResponse | None = None
    error: ErrorAction | None = None
    token: TokenAction | None = None
    # the status the request leaves behind: a payment submission's (payments), or the token's
    # ``status`` elsewhere (the same as ``token: {status: ...}``)
    status: str | None = Field(None, min_length=1, max_length=64)
    delay_ms: int = Field(0, ge=0, le=600_000)
    times: int | None = Field(None, ge=1, le=MAX_RULE_TIMES)

    @model_validator(mode="after")
    def _one_action(self) -> Rule:
        actions = [a for a in (self.respond, self.error, self.token, self.status) if a is not None]
        if len(actions) > 1:
            raise ValueError("a rule has one action: respond, error, token or status")
        if not actions and self.delay_ms == 0:
            raise ValueError("a rule needs an action (respond, error, token or status) or a delay_ms")
        if self.status is not None and self.match.endpoint == "payments" and self.status not in SUBMISSION_STATUSES:
            raise ValueError(f"status at payments is one of {', '.join(SUBMISSION_STATUSES)}")
        return self

    @property
    def override(self) -> TokenAction | None:
        """The token action the handler acts with: ``token``, or ``status`` alone."""
        return self.token if self.status is None else TokenAction(status=self.status)


class ScenarioServer(Model):
    """Server settings a scenario overrides while it is active."""

    access_token_ttl: Lifetime | None = None
    refresh_token_ttl: Lifetime | None = None
    code_ttl: Lifetime | None = None
    max_refresh_count: int | None = Field(None, ge=0)
    refresh_rotation: bool | None = None
    device_code_ttl: Lifetime | None = None
    device_interval: int | None = Field(None, ge=0, le=3600)


class Scenario(Model):
    description: str = ""
    rules: list[Rule] = []
    server: ScenarioServer = ScenarioServer()


class Config(Model):
    server: ServerConfig = ServerConfig()
    clients: dict[str, Client] = {}
    users: dict[str, User] = {}
    resources: list[Resource] = []
    scenarios: dict[str, Scenario] = {}

    def user_key_for(self, subject: str) -> str | None:
        """The fixture key of the user whose ``sub`` is ``subject`` (None for a client or a free subject)."""
        return next((key for key, user in self.users.items() if user.subject(key) == subject), None)

    @property
    def known_scopes(self) -> frozenset[str]:
        return frozenset(s for c in self.clients.values() for s in c.scopes)

    @model_validator(mode="after")
    def _references(self) -> Config:
        problems: list[str] = []
        if self.server.default_scenario and self.server.default_scenario not in self.scenarios:
            problems.append(f"server.default_scenario: unknown scenario {self.server.default_scenario!r}")
        for client_id, client in self.clients.items():
            if client.scenario and client.scenario not in self.scenarios:
                problems.append(f"clients.{client_id}.scenario: unknown scenario {client.scenario!r}")
            if client.dpop_bound_access_tokens and not self.server.dpop:
                problems.append(f"clients.{client_id}.dpop_bound_access_tokens: needs server.dpop: true")
        known = self.known_scopes
        for i, route in enumerate(self.resources):
            for scope in route.scopes:
                if scope not in known:
                    problems.append(f"resources.{i}.scopes: no client can be granted scope {scope!r}")
        for i, account in enumerate(self.server.psd2.accounts):
            if account.user is not None and account.user not in self.users:
                problems.append(f"server.psd2.accounts.{i}.user: unknown user {account.user!r}")
        seen: set[tuple[str, str]] = set()
        for i, route in enumerate(self.resources):
            for method in route.methods:
                if (route.path, method) in seen:
                    problems.append(f"resources.{i}: {method} {route.path} is defined twice")
                seen.add((route.path, method))
        if problems:
            raise ValueError("\n".join(problems))
        return self
