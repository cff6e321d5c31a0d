"""The standard dialect: RFC 6749 §5.1/§5.2 token responses and errors, RFC 6750 bearer errors
(``DPoP`` challenges and the ``DPoP-Nonce`` header of RFC 9449 §7.1, §8, ``resource_metadata``
of RFC 9728 §5.1), with OP's documented token fields (``status``, ``refresh_token_*``,
``refresh_count``) added as JSON numbers, as OP's authentication page documents them (seconds
since the epoch).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from mock_op_auth.config.schema import ServerConfig
from mock_op_auth.dialects.responses import NO_STORE, REALM, json_response, quote_header
from mock_op_auth.errors import BearerError, InsufficientScopeError, InvalidClientError, InvalidTokenError, OAuthError
from mock_op_auth.oauth.context import TokenShape
from mock_op_auth.oauth.dpop import DPOP_ALGS
from mock_op_auth.oauth.issuer import IssuedTokens
from mock_op_auth.oauth.request import Call


def bearer_challenge(err: BearerError) -> str:
    """The RFC 6750 §3 (or RFC 9449 §7.1 ``DPoP``) ``WWW-Authenticate`` value for a bearer error."""
    parts = [f'{err.scheme} realm="{REALM}"']
    if err.scheme == "DPoP":
        parts.append(f'algs="{" ".join(DPOP_ALGS)}"')
    if not (isinstance(err, InvalidTokenError) and err.reason == "missing"):
        parts += [f'error="{err.code}"', f'error_description="{quote_header(err.description)}"']
    if isinstance(err, InsufficientScopeError):
        parts.append(f'scope="{quote_header(err.scope)}"')
    if err.resource_metadata:
        parts.append(f'resource_metadata="{quote_header(err.resource_metadata)}"')
    return ", ".join(parts)


class RfcDialect:
    name = "rfc"

    def grant_type(self, call: Call) -> str | None:
        return call.form_param("grant_type")

    def shape(self, server_config: ServerConfig) -> TokenShape:
        return TokenShape(access_format=server_config.access_token_format)

    def token_body(self, issued: IssuedTokens) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": issued.access_token, "token_type": issued.token_type,
            "expires_in": issued.expires_in, "scope": issued.scope, "status": issued.status,
        }
        if issued.refresh_token is not None:
            body.update(refresh_token=issued.refresh_token,
                        refresh_token_expires_in=issued.refresh_token_expires_in,
                        refresh_token_issued_at=issued.refresh_token_issued_at,
                        refresh_count=issued.refresh_count)
        if issued.id_token is not None:
            body["id_token"] = issued.id_token
        body.update(issued.extra_fields)
        return body

    def token_response(self, issued: IssuedTokens) -> Response:
        return json_response(self.token_body(issued), headers=NO_STORE)

    def render_error(self, err: OAuthError) -> Response:
        body = {"error": err.code, "error_description": err.description}
        headers = dict(NO_STORE)
        if isinstance(err, BearerError):
            headers["WWW-Authenticate"] = bearer_challenge(err)
        elif isinstance(err, InvalidClientError) and err.basic_tried:
            headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
        if err.dpop_nonce:
            headers["DPoP-Nonce"] = err.dpop_nonce
        return json_response(body, err.status, headers)
