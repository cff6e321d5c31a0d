"""OIDC Discovery 1.0 §3 and RFC 8414 metadata. It advertises exactly what this server does:
grants some client may use, auth methods some client needs, its one signing algorithm; the
device authorization endpoint (RFC 8628 §4) while a client has the device grant, the PAR
endpoint (RFC 9126 §5) while one may use /authorize, DPoP's algorithms (RFC 9449 §5.1) while
``server.dpop`` is on. And the protected-resource metadata of the resource stub (RFC 9728)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mock_op_auth.config.schema import Client, Config
from mock_op_auth.oauth.dpop import DPOP_ALGS
from mock_op_auth.oauth.grants import DEVICE_CODE, JWT_BEARER, RFC_GRANTS
from mock_op_auth.oauth.pkce import METHODS

RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource"


def usable_grants(client: Client) -> list[str]:
    """The grants of ``client`` that ``/token`` can serve it (the JWT bearer grant needs its keys)."""
    return [g for g in client.grant_types if g in RFC_GRANTS and (g != JWT_BEARER or client.jwks)]


def metadata(config: Config, alg: str, issuer: str) -> dict[str, Any]:
    grants = sorted({g for c in config.clients.values() for g in usable_grants(c)})
    auth_methods = ["client_secret_basic", "client_secret_post"]
    if any(c.is_public for c in config.clients.values()):
        auth_methods.append("none")
    claims = sorted({"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
                     *(k for u in config.users.values() for k in u.claims)})
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
        "request_parameter_supported": False,
        "claims_parameter_supported": False,
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": config.server.require_par,
    }
    if "authorization_code" not in grants:
        for key in ("authorization_endpoint", "response_types_supported", "response_modes_supported",
                    "code_challenge_methods_supported", "authorization_response_iss_parameter_supported",
                    "pushed_authorization_request_endpoint", "require_pushed_authorization_requests"):
            doc.pop(key)
    if DEVICE_CODE in grants:
        doc["device_authorization_endpoint"] = f"{issuer}/device_authorization"
    if config.server.dpop:
        doc["dpop_signing_alg_values_supported"] = list(DPOP_ALGS)
    return doc


def origin(issuer: str) -> str:
    """The scheme, host and port of ``issuer``: the resource stub's identifier (RFC 9728 §1.2)."""
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}"


def resource_metadata_url(issuer: str) -> str:
    return origin(issuer) + RESOURCE_METADATA_PATH


def resource_metadata(config: Config, issuer: str) -> dict[str, Any]:
    """RFC 9728 §2: the resource stub's metadata: who issues its tokens, the scopes its routes need."""
    doc: dict[str, Any] = {
        "resource": origin(issuer),
        "authorization_servers": [issuer],
        "scopes_supported": sorted({s for route in config.resources for s in route.scopes}),
        "bearer_methods_supported": ["header"],
        "resource_name": "mock-op-auth resource stub",
    }
    if config.server.dpop:
        doc["dpop_signing_alg_values_supported"] = list(DPOP_ALGS)
    return doc
