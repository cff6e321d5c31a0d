"""Who calls OP's PSD2 business APIs (PIS, CoF, AIS), checked as OP's gateway and APIs check it on
every call: a valid bearer token (bound to the client certificate it was issued to), the
client's ``x-api-key``, the API's scope, and, for a PSU's token, the authorization it was issued
on. A token whose authorization was revoked or has expired is refused as OP refuses it (403,
``Authorization ... has been revoked``), not as an unknown token."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from mock_op_auth.errors import AccessDeniedError, AuthorizationRevokedError, InsufficientScopeError, InvalidTokenError
from mock_op_auth.oauth.bearer import BearerValidator, TokenInfo
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.request import Call
from mock_op_auth.op.api_key import require_api_key
from mock_op_auth.op.psd2.intents import IntentService
from mock_op_auth.state.store import Intent, IntentKind

GONE = ("Revoked", "Expired")


@dataclass(frozen=True)
class Caller:
    """A checked caller: its token, and for a PSU's token the authorization (as it stands) and user."""

    token: TokenInfo
    intent: Intent | None = None
    user: str | None = None

    @property
    def client_id(self) -> str:
        return self.token.client_id


class ApiAccess:
    def __init__(self, bearer: BearerValidator, intents: IntentService) -> None:
        self.bearer = bearer
        self.intents = intents

    def caller(self, call: Call, env: Env, issuers: Collection[str], audiences: Collection[str],
               scope: str) -> Caller:
        """The checked caller of a business API that needs ``scope``."""
        try:
            info = self.bearer.authorize(call.bearer, call.client_cert, issuers, audiences)
        except InvalidTokenError as err:
            if err.reason == "revoked":
                self._explain(call.bearer)
            raise
        require_api_key(call, env.config.clients.get(info.client_id))
        if scope not in info.scope:
            raise InsufficientScopeError(scope)
        intent_id = info.claims.get("authorizationId")
        intent = self.intents.current(intent_id) if isinstance(intent_id, str) else None
        if intent is not None and intent.status in GONE:
            raise AuthorizationRevokedError(intent.id, intent.status)
        user = env.config.user_key_for(info.subject) if intent is not None else None
        return Caller(info, intent, user)

    def _explain(self, token: str | None) -> None:
        """A revoked token whose authorization is gone: say so, as OP does."""
        claims = self.bearer.claims_of(token)
        intent_id = claims.get("authorizationId") if claims else None
        intent = self.intents.current(intent_id) if isinstance(intent_id, str) else None
        if intent is not None and intent.status in GONE:
            raise AuthorizationRevokedError(intent.id, intent.status) from None

    @staticmethod
    def psu(caller: Caller, kind: IntentKind) -> Intent:
        """The Authorized ``kind`` authorization a PSU's token was issued on (AIS data, CoF checks)."""
        intent = caller.intent
        if intent is None or intent.kind != kind or intent.status != "Authorized":
            raise AccessDeniedError(f"this API needs the PSU's access token of an authorized {kind} authorization "
                                    f"(the code flow's), not a client-credentials token")
        return intent
