"""OP's general API dialect (Apigee Edge, op-auth.md §2.1, §2.2, §3.1, §3.2).

Token responses: exactly the keys of OP's sample, every value a JSON string, ``token_type``
``"BearerToken"``, ``*_issued_at`` in epoch milliseconds, 28/32-character opaque tokens with
OP's lifetimes (``server.apigee``). Token-path errors: ``{"ErrorCode", "Error"}``. Bearer errors
at resource routes: Apigee's ``fault`` JSON, its ``errorcode`` looked up from the error's reason.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from mock_op_auth.config.schema import ApigeeSettings, ServerConfig
from mock_op_auth.dialects.responses import NO_STORE, json_response
from mock_op_auth.errors import (
    BearerError,
    CustomBearerError,
    InsufficientScopeError,
    InvalidApiKeyError,
    InvalidRequestError,
    InvalidTokenError,
    MissingApiKeyError,
    OAuthError,
)
from mock_op_auth.oauth.context import TokenShape
from mock_op_auth.oauth.issuer import IssuedTokens
from mock_op_auth.oauth.request import Call

ACCESS_TOKEN_LENGTH = 28  # Apigee's opaque access tokens (OP's sample: Axqx362CnSmLABgzqcBasG0pxBj9)
REFRESH_TOKEN_LENGTH = 32

# Apigee reports some RFC codes under another ErrorCode (op-auth.md §3.1: "Invalid Authorization Code").
_ERROR_CODES = {"invalid_grant": "invalid_request"}

# VerifyAccessToken / VerifyAPIKey faults by what went wrong (op-auth.md §3.2): (faultstring, errorcode).
_INVALID = ("Invalid Access Token", "keymanagement.service.invalid_access_token")
FAULTS: dict[str, tuple[str, str]] = {
    "missing": ("Invalid access token", "oauth.v2.InvalidAccessToken"),
    "malformed": ("Invalid access token", "oauth.v2.InvalidAccessToken"),
    "expired": ("Access Token expired", "keymanagement.service.access_token_expired"),
    "not_approved": ("Access Token not approved", "keymanagement.service.access_token_not_approved"),
    "insufficient_scope": ("Invalid API call as no apiproduct match found",
                           "keymanagement.service.InvalidAPICallAsNoApiProductMatchFound"),
    "api_key": ("Invalid ApiKey", "oauth.v2.InvalidApiKey"),
    "api_key_missing": ("Failed to resolve API Key variable request.header.x-api-key",
                        "steps.oauth.v2.FailedToResolveAPIKey"),
}


def fault_for(err: BearerError) -> tuple[str, str]:
    """The (faultstring, errorcode) Apigee answers for a bearer error."""
    if isinstance(err, InsufficientScopeError):
        return FAULTS["insufficient_scope"]
    if isinstance(err, InvalidApiKeyError):
        return FAULTS["api_key_missing" if isinstance(err, MissingApiKeyError) else "api_key"]
    if isinstance(err, InvalidTokenError):
        return FAULTS.get(err.reason, _INVALID)
    return _INVALID


def _millis(seconds: int, unit: str) -> str:
    return str(seconds * 1000 if unit == "ms" else seconds)


class ApigeeDialect:
    name = "apigee"

    def __init__(self, settings: ApigeeSettings | None = None) -> None:
        self.settings = settings or ApigeeSettings()

    def configured(self, server_config: ServerConfig) -> ApigeeDialect:
        """This dialect with a fixture's ``server.apigee`` settings (token type, units)."""
        return self if server_config.apigee == self.settings else ApigeeDialect(server_config.apigee)

    def grant_type(self, call: Call) -> str | None:
        """Apigee reads ``grant_type`` from the query (OP's documented form) or the body."""
        query, form = call.query_param("grant_type"), call.form_param("grant_type")
        if query is not None and form is not None and query != form:
            raise InvalidRequestError("grant_type differs between the query and the body")
        return form if form is not None else query

    def shape(self, server_config: ServerConfig) -> TokenShape:
        return TokenShape(access_format="opaque", opaque_length=ACCESS_TOKEN_LENGTH,
                          refresh_length=REFRESH_TOKEN_LENGTH, client_credentials_refresh=True,
                          access_ttl=server_config.apigee.access_token_ttl,
                          refresh_ttl=server_config.apigee.refresh_token_ttl)

    def token_body(self, issued: IssuedTokens) -> dict[str, str]:
        """OP's sample keys (op-auth.md §2.1), every value a string; extras (``extra_fields``) after them."""
        unit = self.settings.issued_at_unit
        body: dict[str, Any] = {
            "token_type": self.settings.token_type, "access_token": issued.access_token,
            "scope": issued.scope, "status": issued.status,
        }
        if issued.refresh_token is not None:
            body.update({
                "refresh_token": issued.refresh_token,
                "refresh_token_expires_in": issued.refresh_token_expires_in,
                "refresh_token_issued_at": _millis(issued.refresh_token_issued_at or issued.issued_at, unit),
                "expires_in": issued.expires_in, "refresh_count": issued.refresh_count or 0,
            })
        else:
            body["expires_in"] = issued.expires_in
        body.update(issued.extra_fields)
        return {k: v if isinstance(v, str) else _string(v) for k, v in body.items()}

    def extras(self, issued: IssuedTokens, application_name: str, products: list[str]) -> dict[str, str]:
        """Apigee's full GenerateAccessToken field set beyond OP's sample (op-auth.md §2.2)."""
        extras = {
            "issued_at": _millis(issued.issued_at, self.settings.issued_at_unit),
            "client_id": issued.client_id, "application_name": application_name,
            "api_product_list": f"[{', '.join(products)}]",
            "developer.email": self.settings.developer_email,
            "organization_name": self.settings.organization_name,
        }
        if issued.refresh_token is not None:
            extras["refresh_token_status"] = issued.status
        return extras

    def token_response(self, issued: IssuedTokens) -> Response:
        return json_response(self.token_body(issued), headers=NO_STORE)

    def render_error(self, err: OAuthError) -> Response:
        if isinstance(err, BearerError):
            faultstring, errorcode = fault_for(err)
            status = err.status if isinstance(err, CustomBearerError) else 401  # a rule's status is its own
            return json_response({"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}},
                                 status, NO_STORE)
        description = err.description
        if err.code == "invalid_client" and description in ("", "client authentication failed"):
            description = "ClientId is Invalid"
        return json_response({"ErrorCode": _ERROR_CODES.get(err.code, err.code), "Error": description},
                             err.status, NO_STORE)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
