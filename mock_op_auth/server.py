"""Server: the object graph of one mock (config, clock, store, keys, engine, journal, services).

It lives on ``app.state.server``; nothing else holds state, so one process can run many.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from mock_op_auth.config.schema import Client, Config, ServerConfig
from mock_op_auth.dialects import Dialect
from mock_op_auth.oauth.authorize import AuthorizeService
from mock_op_auth.oauth.bearer import BearerValidator
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.device import DeviceCodeGrant, DeviceService
from mock_op_auth.oauth.dpop import DpopVerifier
from mock_op_auth.oauth.grants import AuthorizationCodeGrant, ClientCredentialsGrant, RefreshTokenGrant
from mock_op_auth.oauth.introspection import IntrospectionService
from mock_op_auth.oauth.issuer import TokenIssuer
from mock_op_auth.oauth.jwt_bearer import JwtBearerGrant
from mock_op_auth.oauth.par import ParService
from mock_op_auth.oauth.token_exchange import TokenExchangeGrant
from mock_op_auth.oauth.tokens import TokenService
from mock_op_auth.op.psd2.authorize import Psd2Authorizer
from mock_op_auth.op.psd2.exemption import JwtBearerGrant as ExemptionGrant
from mock_op_auth.op.psd2.intents import IntentService
from mock_op_auth.op.psd2.registration import RegistrationService
from mock_op_auth.op.psd2.token_rules import Psd2TokenRules
from mock_op_auth.scenarios import ScenarioEngine
from mock_op_auth.settings import Settings
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.journal import Journal
from mock_op_auth.state.keys import KeySet, SigningKey
from mock_op_auth.state.store import MemoryStore, Store

MAX_ISSUERS = 32


@dataclass(frozen=True)
class Psd2Services:
    """OP's PSD2 profile, built once per server over the shared store and core services."""

    intents: IntentService
    authorizer: Psd2Authorizer
    registration: RegistrationService
    token_rules: Psd2TokenRules
    tokens: TokenService  # OP's /oauth/token: the core grants and OP's jwt-bearer exemption grant


class Server:
    """The composition root of one mock: builds every service once, OP's included, and the
    token endpoints' grant tables: ``tokens`` for ``/token`` (and OP's general and corporate
    paths, which offer fewer grants), ``psd2.tokens`` for OP's PSD2 path, where the jwt-bearer
    grant is OP's exemption rather than RFC 7523's. Handlers reach everything through it;
    nothing holds a global.

    ``env`` gives a request's context, ``reload`` takes a new fixture keeping all state, and
    ``reset`` forgets all state (``POST /_mock/reset``)."""

    def __init__(self, config: Config, settings: Settings, store: Store | None = None,
                 keys: list[SigningKey] | None = None) -> None:
        self.settings = settings
        self.config = config
        self.clock = Clock()
        if store is None and settings.state:  # --state FILE: SQLite, keys included (docs/state.md)
            from mock_op_auth.state.sqlite import SqliteStore

            sqlite = SqliteStore(settings.state, self.clock)
            self.store: Store = sqlite
            self.keys = sqlite.keyset(config.server.signing_alg) if keys is None else \
                KeySet(config.server.signing_alg, self.clock, keys)
        else:
            self.store = store or MemoryStore(self.clock)
            self.keys = KeySet(config.server.signing_alg, self.clock, keys)
        self.engine = ScenarioEngine(config, settings.scenario)
        self.journal = Journal(config.server.journal_size)
        self.issuer = TokenIssuer(self.keys, self.store, self.clock)
        self.bearer = BearerValidator(self.keys, self.store, self.clock)
        self.authorizer = AuthorizeService(self.store, self.clock)
        self.introspection = IntrospectionService(self.store, self.bearer, self.clock)
        self.device = DeviceService(self.store, self.clock)
        self.dpop = DpopVerifier(self.store, self.clock)
        self.par = ParService(self.store, self.clock, self.authorizer, self.dpop)
        grant_args = (self.store, self.issuer, self.clock)
        core = [AuthorizationCodeGrant(*grant_args), ClientCredentialsGrant(*grant_args),
                RefreshTokenGrant(*grant_args)]
        self.tokens = TokenService([*core, DeviceCodeGrant(*grant_args),
                                    TokenExchangeGrant(*grant_args, self.bearer, self.keys),
                                    JwtBearerGrant(*grant_args)], self.dpop)
        intents = IntentService(self.store, self.clock)
        self.psd2 = Psd2Services(
            intents=intents,
            authorizer=Psd2Authorizer(self.authorizer, intents, self.issuer, self.clock),
            registration=RegistrationService(self.store, self.clock),
            token_rules=Psd2TokenRules(intents),
            tokens=TokenService([*core, ExemptionGrant(*grant_args, intents)]),
        )
        self._issuers: dict[str, None] = {}
        self._merged: tuple[Config, tuple[str, ...], Config] | None = None  # (fixture, registered ids, merged)
        self._lock = threading.Lock()

    def env(self, issuer: str, settings: ServerConfig, dialect: Dialect) -> Env:
        """A request's context: the fixture (with registered clients), ``settings`` in force, the dialect's shape."""
        return Env(self.client_config(), settings, issuer, dialect.shape(settings), self.issuers(issuer))

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
