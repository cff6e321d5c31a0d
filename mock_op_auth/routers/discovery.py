"""OIDC Discovery 1.0 §4, RFC 8414 metadata and the JWKS (RFC 7517). They advertise exactly what
this server does: grants some client may use, auth methods some client needs, its one algorithm;
and a field whose omitted default would claim more (OIDC Discovery §3, RFC 8414 §2) is stated."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from mock_op_auth.call import Call
from mock_op_auth.config.schema import TokenAction
from mock_op_auth.core.issuer import Env
from mock_op_auth.core.pkce import METHODS
from mock_op_auth.deps import server_of
from mock_op_auth.dialects import DIALECTS
from mock_op_auth.dialects.base import json_response
from mock_op_auth.runner import DialectErrors, Facts, run
from mock_op_auth.server import Server

CACHE = {"Cache-Control": "public, max-age=60"}


def metadata(server: Server, issuer: str) -> dict[str, Any]:
    config = server.config
    grants = sorted({g for c in config.clients.values() for g in c.grant_types
                     if g in ("authorization_code", "client_credentials", "refresh_token")})
    auth_methods = ["client_secret_basic", "client_secret_post"]
    if any(c.is_public for c in config.clients.values()):
        auth_methods.append("none")
    claims = sorted({"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
                     *(k for u in config.users.values() for k in u.claims)})
    alg = server.keys.alg
    doc: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "scopes_supported": sorted(config.known_scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods[:2],
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": list(METHODS),
        "claims_supported": claims,
        "authorization_response_iss_parameter_supported": True,
        # Stated although false: an omitted request_uri_parameter_supported means true (OIDC Discovery §3),
        # and /authorize takes request objects neither by value nor by reference.
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }
    if "authorization_code" not in grants:
        for key in ("authorization_endpoint", "response_types_supported", "response_modes_supported",
                    "code_challenge_methods_supported", "authorization_response_iss_parameter_supported"):
            doc.pop(key)
    return doc


class DocumentHandler(DialectErrors):
    """A read-only JSON document (discovery, JWKS), still run through the engine and journal."""

    dialect = DIALECTS["rfc"]

    def __init__(self, endpoint: str, build: Any) -> None:
        self.endpoint = endpoint
        self.build = build

    def check(self, server: Server, call: Call, env: Env) -> tuple[Facts, None]:
        return Facts(), None

    def act(self, server: Server, checked: None, env: Env, override: TokenAction | None) -> Response:
        return json_response(self.build(server, env.issuer), headers=CACHE)


def build_router() -> APIRouter:
    router = APIRouter(tags=["discovery"])
    discovery = DocumentHandler("discovery", metadata)
    jwks = DocumentHandler("jwks", lambda server, issuer: server.keys.jwks())

    @router.get("/.well-known/openid-configuration", summary="OpenID Provider metadata", response_model=None)
    async def openid_configuration(request: Request) -> Any:
        return await run(server_of(request), request, discovery)

    @router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata", response_model=None)
    async def oauth_metadata(request: Request) -> Any:
        return await run(server_of(request), request, discovery)

    @router.get("/jwks", summary="JSON Web Key Set", response_model=None)
    async def jwks_document(request: Request) -> Any:
        return await run(server_of(request), request, jwks)

    return router
