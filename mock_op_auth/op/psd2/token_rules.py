"""OP's PSD2 token endpoint rules (op-auth.md §4.2), around the shared grants at POST /oauth/token:
the client's ``x-api-key``, ``client_secret_post`` (or a client assertion, as FAPI clients send),
client credentials for ``accounts``, ``payments`` or ``fundsconfirmations`` alone, codes and refresh
tokens honoured only while their intent is ``Authorized``, and every grant issued on an intent
linked to it (so revoking the intent revokes the grant)."""

from __future__ import annotations

from mock_op_auth.errors import InvalidClientError, InvalidGrantError, InvalidScopeError
from mock_op_auth.oauth.grants import TokenRequest
from mock_op_auth.oauth.issuer import IssuedTokens
from mock_op_auth.oauth.request import Call
from mock_op_auth.op.api_key import check_api_key, given_api_key
from mock_op_auth.op.psd2.intents import IntentService

CLIENT_CREDENTIALS_SCOPES = ("accounts", "payments", "fundsconfirmations")
INTENT_BOUND_GRANTS = ("authorization_code", "refresh_token")
BODY_METHODS = ("client_secret_post", "private_key_jwt", "client_secret_jwt")  # OP's form body; FAPI's assertions


class Psd2TokenRules:
    def __init__(self, intents: IntentService) -> None:
        self.intents = intents

    @staticmethod
    def before_check(call: Call) -> str:
        """The API key, required before the client is even authenticated (as OP's gateway does)."""
        return given_api_key(call)

    def check(self, api_key: str, req: TokenRequest) -> None:
        """The rules a checked request must also meet on OP's PSD2 path."""
        if req.client.method not in BODY_METHODS:
            raise InvalidClientError("send client_id and client_secret in the form body (client_secret_post), "
                                     "or a client assertion")
        check_api_key(api_key, req.client.client, "x-api-key does not match the client's API key")
        if req.grant_type == "client_credentials" and (
                len(req.scope) != 1 or req.scope[0] not in CLIENT_CREDENTIALS_SCOPES):
            raise InvalidScopeError("client credentials take scope accounts, payments or fundsconfirmations")
        bound = req.code or req.grant
        intent_id = bound.extra_claims.get("authorizationId") if bound is not None else None
        if intent_id and req.grant_type in INTENT_BOUND_GRANTS:
            intent = self.intents.current(str(intent_id))
            if intent is not None and intent.status != "Authorized":
                raise InvalidGrantError(f"the authorization is {intent.status}", reason="authorization")

    def after_issue(self, req: TokenRequest, issued: IssuedTokens) -> None:
        """Link the grant the tokens came from to its intent, whatever grant issued them."""
        bound = req.code or req.grant
        intent_id = bound.extra_claims.get("authorizationId") if bound is not None else None
        if intent_id and issued.grant_id is not None:
            self.intents.link_grant(str(intent_id), issued.grant_id)
