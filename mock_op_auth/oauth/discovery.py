"""OIDC Discovery 1.0 §3 and RFC 8414 metadata. It advertises exactly what this server does:
grants some client may use, auth methods some client can use (with the algorithms its JWT methods
accept), its one signing algorithm, mutual TLS while certificates can reach it (RFC 8705), logout
while some client may use the code flow, the device authorization endpoint (RFC 8628 §4) while a
client has the device grant, the PAR endpoint (RFC 9126 §5) while one may use /authorize, and
DPoP's algorithms (RFC 9449 §5.1) while ``server.dpop`` is on; a field whose omitted default would
claim more (OIDC Discovery §3, RFC 8414 §2) is stated. And the protected-resource metadata of the
resource stub (RFC 9728)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mock_op_auth.config.schema import Client, Config
from mock_op_auth.oauth.clients import PRIVATE_KEY_ALGS, SECRET_JWT_ALGS, SECRET_METHODS, method_allowed
from mock_op_auth.oauth.dpop import DPOP_ALGS
from mock_op_auth.oauth.grants import DEVICE_CODE, JWT_BEARER, RFC_GRANTS
from mock_op_auth.oauth.pkce import METHODS

RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource"


def usable_grants(client: Client) -> list[str]:
    """The grants of ``client`` that ``/token`` can serve it (the JWT bearer grant needs its keys)."""
    return [g for g in client.grant_types if g in RFC_GRANTS and (g != JWT_BEARER or client.jwks)]


def auth_methods(config: Config, mtls: bool = False) -> list[str]:
    """The client authentication methods some client of the fixture can use (``oauth/clients.py``);
    ``tls_client_auth`` while client certificates can reach the server."""
    usable: set[str] = set()
    for client in config.clients.values():
        declared = client.token_endpoint_auth_method
        if client.secret is not None:
            usable.update(m for m in ("client_secret_basic", "client_secret_post", "client_secret_jwt")
                          if method_allowed(client, m))
        if client.jwks and declared in (None, "private_key_jwt"):
            usable.add("private_key_jwt")
        if client.is_public:
            usable.add("none")
    if mtls:
        usable.add("tls_client_auth")
    return [m for m in ("client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt",
                        "tls_client_auth", "none") if m in usable or m in SECRET_METHODS]


def signing_algs(methods: list[str]) -> list[str]:
    """``*_endpoint_auth_signing_alg_values_supported``: what the JWT methods in ``methods`` accept."""
    return [*(PRIVATE_KEY_ALGS if "private_key_jwt" in methods else ()),
            *(SECRET_JWT_ALGS if "client_secret_jwt" in methods else ())]


def metadata(config: Config, alg: str, issuer: str, *, mtls: bool = False) -> dict[str, Any]:
    """The document; ``mtls`` when client certificates can reach the server (RFC 8705 §2.3, §3.3, §5)."""
    grants = sorted({g for c in config.clients.values() for g in usable_grants(c)})
    methods = auth_methods(config, mtls)
    confidential = [m for m in methods if m != "none"]
    claims = sorted({"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
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
        "token_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": confidential,
        "revocation_endpoint_auth_methods_supported": methods,
        "code_challenge_methods_supported": list(METHODS),
        "claims_supported": claims,
        "authorization_response_iss_parameter_supported": True,
        # Stated although false: an omitted request_uri_parameter_supported means true (OIDC Discovery §3),
        # and /authorize takes request objects neither by value nor by reference.
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
        # OpenID RP-Initiated Logout 1.0 §2.1, Back-Channel Logout 1.0 §2.1, Front-Channel Logout 1.0 §3
        "end_session_endpoint": f"{issuer}/logout",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "require_pushed_authorization_requests": config.server.require_par,
    }
    if algs := signing_algs(methods):
        for endpoint in ("token", "introspection", "revocation"):
            doc[f"{endpoint}_endpoint_auth_signing_alg_values_supported"] = algs
    if "authorization_code" not in grants:
        for key in ("authorization_endpoint", "response_types_supported", "response_modes_supported",
                    "code_challenge_methods_supported", "authorization_response_iss_parameter_supported",
                    "end_session_endpoint", "backchannel_logout_supported", "backchannel_logout_session_supported",
                    "frontchannel_logout_supported", "pushed_authorization_request_endpoint",
                    "require_pushed_authorization_requests"):
            doc.pop(key)
    if mtls:
        doc["tls_client_certificate_bound_access_tokens"] = True
        doc["mtls_endpoint_aliases"] = {  # one port serves both: the aliases are the same URLs
            name: doc[name] for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint",
                                         "userinfo_endpoint")}
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
