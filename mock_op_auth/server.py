"""Server: the object graph of one mock (config, clock, store, keys, engine, journal, services).

It lives on ``app.state.server`` (a namespace's in the ``Namespaces`` registry); nothing else
holds state, so one process can run many. With a shared store (``--state``: SQLite or Redis)
the clock offset, scenario, rules, journal and keys are the store's, and ``sync`` reads what
other processes changed at the start of every request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mock_op_auth.config.schema import Client, Config, ServerConfig
from mock_op_auth.dialects import Dialect
from mock_op_auth.oauth.authorize import AuthorizeService
from mock_op_auth.oauth.bearer import BearerValidator
from mock_op_auth.oauth.clients import ClientAuthenticator
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.device import DeviceCodeGrant, DeviceService
from mock_op_auth.oauth.dpop import DpopVerifier
from mock_op_auth.oauth.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from mock_op_auth.oauth.introspection import IntrospectionService
from mock_op_auth.oauth.issuer import TokenIssuer
from mock_op_auth.oauth.jwt_bearer import JwtBearerGrant
from mock_op_auth.oauth.logout import LogoutService
from mock_op_auth.oauth.par import ParService
from mock_op_auth.oauth.sessions import SessionService
from mock_op_auth.oauth.token_exchange import TokenExchangeGrant
from mock_op_auth.oauth.tokens import TokenService
from mock_op_auth.op.psd2.access import ApiAccess
from mock_op_auth.op.psd2.accounts import AccountService
from mock_op_auth.op.psd2.authorize import Psd2Authorizer
from mock_op_auth.op.psd2.exemption import JwtBearerGrant as ExemptionGrant
from mock_op_auth.op.psd2.funds import FundsService
from mock_op_auth.op.psd2.intents import IntentService
from mock_op_auth.op.psd2.jws import ResponseSigner
from mock_op_auth.op.psd2.payments import PaymentService
from mock_op_auth.op.psd2.registration import RegistrationService
from mock_op_auth.op.psd2.token_rules import Psd2TokenRules
from mock_op_auth.scenarios import ScenarioEngine
from mock_op_auth.settings import Settings
from mock_op_auth.state.clock import Clock, SharedClock
from mock_op_auth.state.journal import Journal, SharedJournal
from mock_op_auth.state.keys import KeyPool, KeySet, SharedKeySet, SigningKey, generate_key, key_from_pem
from mock_op_auth.state.shared import Control
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
    tokens: TokenService  # OP's /oauth/token: the core grants and OP's jwt-bearer exemption grant
    access: ApiAccess  # who calls the business APIs (PIS, CoF, AIS)
    accounts: AccountService
    payments: PaymentService
    funds: FundsService
    signer: ResponseSigner  # every PIS response's x-jws-signature


class Server:
    """The composition root of one mock: builds every service once, OP's included, and the
    token endpoints' grant tables: ``tokens`` for ``/token`` (and OP's general and corporate
    paths, which offer fewer grants), ``psd2.tokens`` for OP's PSD2 path, where the jwt-bearer
    grant is OP's exemption rather than RFC 7523's. Handlers reach everything through it;
    nothing holds a global.

    ``env`` gives a request's context, ``reload`` takes a new fixture keeping all state, and
    ``reset`` forgets all state (``POST /_mock/reset``)."""

    def __init__(self, config: Config, settings: Settings, store: Store | None = None,
                 keys: list[SigningKey] | None = None, tls: TlsSettings | None = None, *, namespace: str = "",
                 parent: Server | None = None) -> None:
        self.settings = settings
        if tls is None and parent is not None:
            tls = parent.tls  # a namespace is served on its root's port
        self.tls = tls  # HTTPS is on (serve --tls): its CA issues and trusts client certificates
        self._ca: CertificateAuthority | None = tls.ca if tls else None
        self.config = config
        self.namespace = namespace  # "" for the root; else the mock under /ns/{namespace}
        # A namespace's own keys and every rotation come from the root's pool of keys made ahead.
        self.key_pool: KeyPool = parent.key_pool if parent is not None else KeyPool()
        if parent is not None and parent.shared:  # a namespace of a shared store: its view of the store
            self.clock: Clock = SharedClock()
            self.store: Store = parent.store.view(namespace, self.clock)  # type: ignore[attr-defined]
        elif store is None and settings.state:  # --state: SQLite or Redis (docs/state.md, docs/scale.md)
            from mock_op_auth.state.factory import open_store

            self.clock = SharedClock()
            self.store = open_store(settings.state, self.clock)
        else:
            self.clock = Clock()
            self.store = store or MemoryStore(self.clock)
        self.shared: bool = self.store.shared
        self._control = Control(rules_version=-1, keys_version=-1, clients_version=-1)
        if self.shared:
            assert isinstance(self.clock, SharedClock)
            self.clock.bind(self.store)
            self.keys: KeySet = SharedKeySet(config.server.signing_alg, self.clock, self.store,
                                             keys[0] if keys else None, self.key_pool)
            self.engine = ScenarioEngine(config, settings.scenario, state=self.store)  # type: ignore[arg-type]
            self.journal: Journal | SharedJournal = SharedJournal(self.store, config.server.journal_size)
        else:
            self.keys = KeySet(config.server.signing_alg, self.clock, keys, self.key_pool)
            self.engine = ScenarioEngine(config, settings.scenario)
            self.journal = Journal(config.server.journal_size)
        self.issuer = TokenIssuer(self.keys, self.store, self.clock)
        self.bearer = BearerValidator(self.keys, self.store, self.clock)
        self.client_auth = ClientAuthenticator(self.store, self.clock)
        self.sessions = SessionService(self.store, self.clock)
        self.authorizer = AuthorizeService(self.store, self.clock, self.sessions)
        self.logout = LogoutService(self.sessions, self.keys, self.store, self.clock)
        self.introspection = IntrospectionService(self.store, self.bearer, self.clock)
        self.device = DeviceService(self.store, self.clock)
        self.dpop = DpopVerifier(self.store, self.clock)
        self.par = ParService(self.store, self.clock, self.authorizer, self.dpop)
        grant_args = (self.store, self.issuer, self.clock)
        core = [AuthorizationCodeGrant(*grant_args), ClientCredentialsGrant(*grant_args),
                RefreshTokenGrant(*grant_args)]
        self.tokens = TokenService([*core, DeviceCodeGrant(*grant_args),
                                    TokenExchangeGrant(*grant_args, self.bearer, self.keys),
                                    JwtBearerGrant(*grant_args)], self.client_auth, self.dpop)
        intents = IntentService(self.store, self.clock)
        accounts = AccountService(self.store, self.clock)
        payments = PaymentService(self.store, self.clock, intents, accounts)
        self.psd2 = Psd2Services(
            intents=intents,
            authorizer=Psd2Authorizer(self.authorizer, intents, self.issuer, self.clock, payments, accounts),
            registration=RegistrationService(self.store, self.clock),
            token_rules=Psd2TokenRules(intents),
            tokens=TokenService([*core, ExemptionGrant(*grant_args, intents, payments)], self.client_auth),
            access=ApiAccess(self.bearer, intents),
            accounts=accounts,
            payments=payments,
            funds=FundsService(accounts, self.clock),
            signer=ResponseSigner(self.named_key("pis", PIS_KEY_ALG)),
        )
        self._issuers: dict[str, None] = {}
        self._merged: tuple[Config, tuple[str, ...], Config] | None = None  # (fixture, registered ids, merged)
        self._lock = threading.Lock()
        if self.shared:
            self.sync()

    def local_path(self, path: str) -> str:
        """``path`` as a browser reaches it on this server: under ``/ns/{name}`` for a namespace."""
        return f"/ns/{self.namespace}{path}" if self.namespace else path

    def named_key(self, name: str, alg: str) -> SigningKey:
        """A signing key of this server's own besides the token keys (PSD2's PIS response key),
        made once and kept in the store, so --state keeps it and processes on one store share it."""
        pem = self.store.named_key(name, lambda: generate_key(alg).private_pem.decode("ascii"))
        return key_from_pem(pem.encode("ascii"), alg)

    def sync(self) -> None:
        """Read what other processes on the shared store changed: one query or round trip, then
        the runtime rules, keys or registered clients only when their version moved."""
        control = self.store.control()  # type: ignore[attr-defined]
        previous, self._control = self._control, control
        self.clock.offset = control.offset
        self.engine.sync(control.active, control.rules_version != previous.rules_version)
        if control.keys_version != previous.keys_version:
            self.keys.reload()  # type: ignore[attr-defined]

    def env(self, issuer: str, settings: ServerConfig, dialect: Dialect) -> Env:
        """A request's context: the fixture (with registered clients), ``settings`` in force, the dialect's shape."""
        return Env(self.client_config(), settings, issuer, dialect.shape(settings), self.issuers(issuer))

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
        cached = self._merged
        if self.shared:  # the store's clients version says whether the merge is still current
            version = (str(self._control.clients_version),)
            if cached is not None and cached[0] is self.config and cached[1] == version:
                return cached[2]
            registered = self.store.registered_clients()
            ids = version
        else:
            registered = self.store.registered_clients()
            ids = tuple(r.client_id for r in registered)
            if cached is not None and cached[0] is self.config and cached[1] == ids:
                return cached[2]
        if not registered:
            self._merged = (self.config, ids, self.config)
            return self.config
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
        if self.shared:  # one transaction of the store, for every process on it
            self.store.reset_state()  # type: ignore[attr-defined]
            self.engine.reset()
            self.clock.offset = 0.0
            self.sync()
            return
        self.store.clear()
        self.journal.clear()
        self.engine.reset()
        self.clock.reset()
