"""OP's PSD2 TPP registration (op-auth.md §4.1; Open Banking UK DCR over RFC 7591 / RFC 7592).

The body is a JWT (``application/jwt``) whose ``software_statement`` is an SSA. The mock
cannot fetch ``software_jwks_endpoint``, so the keys travel inline: the request's ``jwks``
claim or the SSA's ``software_jwks``. Both the request and the SSA must verify against them.
The new client gets a 20-character ``client_id``, a secret, the caller's ``x-api-key`` as its
API key, scopes from the SSA's roles, and those keys for its request objects.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from mock_op_auth.config.schema import Client
from mock_op_auth.errors import (
    CustomOAuthError,
    InvalidApiKeyError,
    InvalidRequestError,
    OAuthError,
)
from mock_op_auth.json_input import parse_json
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.issuer import random_token
from mock_op_auth.oauth.request import Call
from mock_op_auth.op.api_key import given_api_key, is_known_api_key
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import verify_with_jwks
from mock_op_auth.state.store import RegisteredClient, Store

OP_AUDIENCE = "https://op.fi"  # the aud OP's registration example signs for
ROLE_SCOPES = {"AIS": "accounts", "PIS": "payments", "CBPII": "fundsconfirmations"}
DEFAULT_GRANTS = ["client_credentials", "authorization_code", "refresh_token"]
CLIENT_ID_LENGTH = 20  # OP's sample client_id: 889htV1tAbMzjXU3dkXA


def registration_error(code: str, description: str) -> OAuthError:
    """RFC 7591 §3.2.2 errors (``invalid_software_statement``, ``invalid_client_metadata``, ...)."""
    return CustomOAuthError(code, description, 400)


def unverified_claims(token: str, what: str) -> dict[str, Any]:
    """A JWT's payload before its keys are known (they come inside it); verified right after."""
    parts = token.split(".")
    if len(parts) != 3:
        raise registration_error("invalid_software_statement", f"the {what} is not a signed JWT")
    try:
        claims = parse_json(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        raise registration_error("invalid_software_statement", f"the {what} is not a signed JWT") from None
    if not isinstance(claims, dict):
        raise registration_error("invalid_software_statement", f"the {what} is not a signed JWT")
    return claims


@dataclass(frozen=True)
class Registration:
    client: Client
    api_key: str
    ssa: dict[str, Any]


class RegistrationService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def check(self, call: Call, env: Env) -> Registration:
        api_key = given_api_key(call)
        if not is_known_api_key(api_key, env.config.clients.values()):
            raise InvalidApiKeyError("x-api-key is not the API key of a known application")
        if call.content_type != "application/jwt":
            raise InvalidRequestError("the body must be application/jwt")
        token = call.body.decode("ascii", errors="replace").strip()
        request = unverified_claims(token, "request")
        statement = request.get("software_statement")
        if not isinstance(statement, str):
            raise registration_error("invalid_software_statement", "software_statement is required")
        ssa = unverified_claims(statement, "software_statement")
        jwks = request.get("jwks") or ssa.get("software_jwks")
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise registration_error("invalid_software_statement",
                                     "give the signing keys inline: jwks in the request or software_jwks in the SSA")
        now = self.clock.now()
        for what, jwt, claims in (("request", token, request), ("software_statement", statement, ssa)):
            try:
                verify_with_jwks(jwt, jwks)
            except OAuthError as err:
                raise registration_error("invalid_software_statement",
                                         f"the {what} does not verify: {err.description}") from None
            exp = claims.get("exp")
            if not isinstance(exp, int | float) or exp <= now:
                raise registration_error("invalid_software_statement", f"the {what} has no exp or has expired")
        aud = request.get("aud")
        accepted = {OP_AUDIENCE, env.issuer.rstrip("/"), *(a.rstrip("/") for a in env.server_config.psd2.audiences)}
        if not isinstance(aud, str) or aud.rstrip("/") not in accepted:
            raise registration_error("invalid_client_metadata", "aud must be https://op.fi/ or this issuer")
        return Registration(self._client(request, ssa, jwks, api_key), api_key, ssa)

    @staticmethod
    def _client(request: dict[str, Any], ssa: dict[str, Any], jwks: dict[str, Any], api_key: str) -> Client:
        allowed = ssa.get("software_redirect_uris")
        redirect_uris = request.get("redirect_uris") or allowed
        if isinstance(allowed, list) and isinstance(redirect_uris, list) \
                and (extra := [u for u in redirect_uris if u not in allowed]):
            raise registration_error("invalid_redirect_uri", f"not among the SSA's redirect URIs: {extra[0]}")
        roles = ssa.get("software_roles") or ["AIS", "PIS"]
        if not isinstance(roles, list) or any(r not in ROLE_SCOPES for r in roles):
            raise registration_error("invalid_software_statement", "software_roles must be among AIS, PIS, CBPII")
        try:
            return Client.model_validate({
                "name": ssa.get("software_client_name") or ssa.get("software_client_id"),
                "secret": secrets.token_urlsafe(32), "api_key": api_key,
                "grant_types": request.get("grant_types") or DEFAULT_GRANTS,
                "redirect_uris": redirect_uris or [],
                "scopes": ["openid", *(ROLE_SCOPES[r] for r in roles)], "jwks": jwks,
            })
        except ValidationError as err:
            problem = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in problem["loc"])
            error = "invalid_redirect_uri" if problem["loc"][:1] == ("redirect_uris",) else "invalid_client_metadata"
            raise registration_error(error,
                                     f"{where}: {problem['msg'].removeprefix('Value error, ')}".strip(": ")) from None

    def act(self, reg: Registration) -> dict[str, Any]:
        """Register the client and answer with its credentials, as OP's registration does."""
        now = self.clock.now_int()
        client_id = random_token(CLIENT_ID_LENGTH)
        self.store.put_registered_client(RegisteredClient(client_id, reg.client.model_dump(), now))
        ssa = reg.ssa
        return {
            "client_id": client_id, "client_id_issued_at": now, "client_secret": reg.client.secret,
            "client_secret_expires_at": 0, "api_key": reg.api_key, "client_name": reg.client.name,
            "redirect_uris": reg.client.redirect_uris, "grant_types": reg.client.grant_types,
            "software_id": ssa.get("software_id") or ssa.get("software_client_id"),
            "scope": " ".join(reg.client.scopes), "jwks_endpoint": ssa.get("software_jwks_endpoint"),
            "software_roles": ssa.get("software_roles") or ["AIS", "PIS"],
        }
