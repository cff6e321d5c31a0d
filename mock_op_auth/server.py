"""Server: the object graph of one mock (config, clock, store, keys, engine, journal, services).

It lives on ``app.state.server``; nothing else holds state, so one process can run many.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mock_op_auth.config.schema import Client, Config, ServerConfig
from mock_op_auth.dialects import Dialect
from mock_op_auth.oauth.authorize import AuthorizeService
from mock_op_auth.oauth.bearer import BearerValidator
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from mock_op_auth.oauth.introspection import IntrospectionService
from mock_op_auth.oauth.issuer import TokenIssuer
from mock_op_auth.oauth.tokens import TokenService
from mock_op_auth.op.psd2.access import ApiAccess
from mock_op_auth.op.psd2.accounts import AccountService
from mock_op_auth.op.psd2.authorize import Psd2Authorizer
from mock_op_auth.op.psd2.exemption import JwtBearerGrant
from mock_op_auth.op.psd2.funds import FundsService
from mock_op_auth.op.psd2.intents import IntentService
from mock_op_auth.op.psd2.jws import ResponseSigner
from mock_op_auth.op.psd2.payments import PaymentService
from mock_op_auth.op.psd2.registration import RegistrationService
from mock_op_auth.op.psd2.token_rules import Psd2TokenRules
from mock_op_auth.scenarios import ScenarioEngine
from mock_op_auth.settings import Settings
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.journal import Journal
from mock_op_auth.state.keys import KeySet, SigningKey, generate_key
from mock_op_auth.state.store import MemoryStore, Store

if TYPE_CHECKING:
    from mock_op_auth.tls.certs import CertificateAuthority
    from mock_op_auth.tls.serving import TlsSettings

MAX_ISSUERS = 32
PIS_KEY_ALG = "ES256"  # the PIS response-signing key (OP's sandbox signs with ES256 keys)


@dataclass(frozen=True)
class Psd2Services:
    """OP's PSD2 profile, built once per server over the shared store and core services."""

    intents: IntentService
    authorizer: Psd2Authorizer
    registration: RegistrationService
    token_rules: Psd2TokenRules
    access: ApiAccess  # who calls the business APIs (PIS, CoF, AIS)
    accounts: AccountService
    payments: PaymentService
    funds: FundsService
    signer: ResponseSigner  # every PIS response's x-jws-signature


class Server:
    """The composition root of one mock: builds every service once, OP's included, and the
    token endpoint's grant table. Handlers reach everything through it; nothing holds a global.

    ``env`` gives a request's context, ``reload`` takes a new fixture keeping all state, and
    ``reset`` forgets all state (``POST /_mock/reset``)."""

    def __init__(self, config: Config, settings: Settings, store: Store | None = None,
                 keys: list[SigningKey] | None = None, tls: TlsSettings | None = None) -> None:
        self.settings = settings
        self.tls = tls  # HTTPS is on (serve --tls): its CA issues and trusts client certificates
        self._ca: CertificateAuthority | None = tls.ca if tls else None
        self.config = config
        self.clock = Clock()
        if store is None and settings.state:  # --state FILE: SQLite, keys included (docs/state.md)
            from mock_op_auth.state.sqlite import SqliteStore

            sqlite = SqliteStore(settings.state, self.clock)
            self.store: Store = sqlite
            self.keys = sqlite.keyset(config.server.signing_alg) if keys is None else \
                KeySet(config.server.signing_alg, self.clock, keys)
            pis_key = sqlite.named_key("pis", PIS_KEY_ALG)
        else:
            self.store = store or MemoryStore(self.clock)
            self.keys = KeySet(config.server.signing_alg, self.clock, keys)
            pis_key = generate_key(PIS_KEY_ALG)
        self.engine = ScenarioEngine(config, settings.scenario)
        self.journal = Journal(config.server.journal_size)
        self.issuer = TokenIssuer(self.keys, self.store, self.clock)
        self.bearer = BearerValidator(self.keys, self.store, self.clock)
        self.authorizer = AuthorizeService(self.store, self.clock)
        self.introspection = IntrospectionService(self.store, self.bearer, self.clock)
        intents = IntentService(self.store, self.clock)
        accounts = AccountService(self.store, self.clock)
        payments = PaymentService(self.store, self.clock, intents, accounts)
        self.psd2 = Psd2Services(
            intents=intents,
            authorizer=Psd2Authorizer(self.authorizer, intents, self.issuer, self.clock, payments, accounts),
            registration=RegistrationService(self.store, self.clock),
            token_rules=Psd2TokenRules(intents),
            access=ApiAccess(self.bearer, intents),
            accounts=accounts,
            payments=payments,
            funds=FundsService(accounts, self.clock),
            signer=ResponseSigner(pis_key),
        )
        grant_args = (self.store, self.issuer, self.clock)
        self.tokens = TokenService([AuthorizationCodeGrant(*grant_args), ClientCredentialsGrant(*grant_args),
                                    RefreshTokenGrant(*grant_args), JwtBearerGrant(*grant_args, intents, payments)])
        self._issuers: dict[str, None] = {}
        self._merged: tuple[Config, tuple[str, ...], Config] | None = None  # (fixture, registered ids, merged)
        self._lock = threading.Lock()

    def env(self, issuer: str, settings: ServerConfig, dialect: Dialect) -> Env:
        """A request's context: the fixture (with registered clients), ``settings`` in force, the dialect's shape."""
        return Env(self.client_config(), settings, issuer, dialect.shape(settings))

    @property
    def mtls(self) -> bool:
        """Whether client certificates can reach this server: its own TLS, or a trusted proxy's header."""
        return self.tls is not None or self.config.server.client_certificate_header is not None

    def certificate_authority(self) -> CertificateAuthority:
        """The CA of the TLS directory (made on first use when TLS is off: a proxy may forward its certificates)."""
        if self._ca is None:
            from mock_op_auth.tls.certs import ensure_ca

            self._ca = ensure_ca(self.settings.tls_dir)
        return self._ca

    def client_config(self) -> Config:
        """The fixture with clients registered at runtime (PSD2 registration) added; fixture ids win."""
        registered = self.store.registered_clients()
        if not registered:
            return self.config
        ids = tuple(r.client_id for r in registered)
        cached = self._merged
        if cached is not None and cached[0] is self.config and cached[1] == ids:
            return cached[2]
        clients = {r.client_id: Client.model_validate(r.fields) for r in registered}
        merged = self.config.model_copy(update={"clients": {**clients, **self.config.clients}})
        self._merged = (self.config, ids, merged)
        return merged

    def note_issuer(self, issuer: str) -> None:
        """Remember an issuer this server answered as, so tokens it issued verify from any host."""
        if issuer not in self._issuers:
            with self._lock:
                self._issuers[issuer] = None
                while len(self._issuers) > MAX_ISSUERS:
                    del self._issuers[next(iter(self._issuers))]

    def issuers(self, current: str) -> tuple[str, ...]:
        if self.settings.issuer:
            return (current,)
        return (current, *self._issuers)

    def audiences(self, current: str) -> tuple[str, ...]:
        configured = self.config.server.audience
        return (configured,) if configured else self.issuers(current)

    def reload(self, config: Config) -> None:
        """Take a new fixture and keep every token, code and journal entry."""
        self.config = config
        self.engine.reload(config)
        self.journal.resize(config.server.journal_size)

    def reset(self) -> None:
        """Forget tokens, codes, journal, runtime rules and clock offset; back to the default scenario."""
        self.store.clear()
        self.journal.clear()
        self.engine.reset()
        self.clock.reset()
