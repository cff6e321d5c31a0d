"""OP's PSD2 dialect (op-auth.md §2.3, §3.3, §4).

Token responses: ``token_type``, ``access_token``, ``expires_in`` (a JSON number), ``scope``,
``status``, ``refresh_token`` and ``id_token`` when issued (the fields OP's demo TPP and Tink
read). Token-endpoint errors keep RFC 6749's ``{"error", "error_description"}`` (OP's demo looks
for ``error``); bearer errors at resources and every intent-API error are OP's ApiError
``{type, message, violations, id}`` (``type: SECURITY`` for token problems).
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response

from mock_op_auth.config.schema import ServerConfig
from mock_op_auth.dialects.apigee import fault_for
from mock_op_auth.dialects.responses import NO_STORE, json_response
from mock_op_auth.dialects.rfc import RfcDialect
from mock_op_auth.errors import (
    ApiErrorType,
    ApiRuleError,
    AuthorizationRevokedError,
    BearerError,
    InvalidRequestError,
    NotFoundError,
    OAuthError,
    ServerError,
)
from mock_op_auth.oauth.context import TokenShape
from mock_op_auth.oauth.issuer import IssuedTokens
from mock_op_auth.oauth.request import Call

# A scenario's ``error`` action names only a code: the ApiError type its codes stand for.
CODE_TYPES: dict[str, ApiErrorType] = {"invalid_signature": "SECURITY", "invalid_request": "VALIDATION",
                                       "illegal_state": "BUSINESS", "insufficient_funds": "BUSINESS"}


def api_error_type(err: OAuthError) -> ApiErrorType:
    if isinstance(err, ApiRuleError):
        return err.api_type
    if err.code in CODE_TYPES:
        return CODE_TYPES[err.code]
    if isinstance(err, BearerError) or err.status in (401, 403):
        return "SECURITY"
    if isinstance(err, InvalidRequestError | NotFoundError):
        return "VALIDATION"
    if isinstance(err, ServerError) or err.status >= 500:
        return "TECHNICAL"
    return "BUSINESS"


def violation(err: OAuthError) -> dict[str, str]:
    """One of OP's violations ``{type, path?, message}`` (the swagger's Violation)."""
    found = {"type": err.violation if isinstance(err, ApiRuleError) else err.code}
    if isinstance(err, ApiRuleError) and err.path:
        found["path"] = err.path
    found["message"] = err.description or err.code
    return found


def api_error(err: OAuthError) -> Response:
    """OP's ApiError body (op-auth.md §3.3) with the error's own status."""
    body = {"type": api_error_type(err), "message": err.description or err.code, "violations": [violation(err)],
            "id": str(uuid.uuid4())}
    return json_response(body, err.status, NO_STORE)


def business_error(err: OAuthError) -> Response:
    """An error of OP's PSD2 business APIs (PIS, CoF, AIS) as OP's gateway and APIs answer it, and
    as OP's demo TPP reads it: a token the gateway refuses (missing, unknown, expired, a wrong
    x-api-key) is Apigee's ``fault`` JSON (401, ``keymanagement.service.access_token_expired`` for
    an expired one); a token whose authorization is revoked is 403 ``{"errors": [{"type":
    "SECURITY", "message": "Authorization ..."}]}``; anything else an ApiError with ``violations``."""
    if isinstance(err, AuthorizationRevokedError):
        body = {"errors": [{"type": "SECURITY", "message": err.description}], "id": str(uuid.uuid4())}
        return json_response(body, err.status, NO_STORE)
    if isinstance(err, BearerError) and err.status == 401:
        faultstring, errorcode = fault_for(err)
        return json_response({"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}},
                             err.status, NO_STORE)
    return api_error(err)


class Psd2Dialect:
    name = "psd2"

    def __init__(self) -> None:
        self._rfc = RfcDialect()

    def grant_type(self, call: Call) -> str | None:
        return call.form_param("grant_type")

    def shape(self, server_config: ServerConfig) -> TokenShape:
        return TokenShape(access_format=server_config.access_token_format, rt_hash=True)

    def token_body(self, issued: IssuedTokens) -> dict[str, Any]:
        body: dict[str, Any] = {"token_type": issued.token_type, "access_token": issued.access_token,
                                "expires_in": issued.expires_in, "scope": issued.scope, "status": issued.status}
        if issued.refresh_token is not None:
            body["refresh_token"] = issued.refresh_token
        if issued.id_token is not None:
            body["id_token"] = issued.id_token
        body.update(issued.extra_fields)
        return body

    def token_response(self, issued: IssuedTokens) -> Response:
        return json_response(self.token_body(issued), headers=NO_STORE)

    def render_error(self, err: OAuthError) -> Response:
        if isinstance(err, BearerError):
            return api_error(err)
        return self._rfc.render_error(err)
