"""OIDC Discovery 1.0 §3 and RFC 8414 metadata. It advertises exactly what this server does:
grants some client may use, auth methods some client needs, its one signing algorithm; and a
field whose omitted default would claim more (OIDC Discovery §3, RFC 8414 §2) is stated."""

from __future__ import annotations

from typing import Any

from mock_op_auth.config.schema import Config
from mock_op_auth.oauth.grants import RFC_GRANTS
from mock_op_auth.oauth.pkce import METHODS


def metadata(config: Config, alg: str, issuer: str, *, mtls: bool = False) -> dict[str, Any]:
    """The document; ``mtls`` when client certificates can reach the server (RFC 8705 §2.3, §3.3, §5)."""
    grants = sorted({g for c in config.clients.values() for g in c.grant_types if g in RFC_GRANTS})
    confidential = ["client_secret_basic", "client_secret_post", *(["tls_client_auth"] if mtls else [])]
    auth_methods = [*confidential, *(["none"] if any(c.is_public for c in config.clients.values()) else [])]
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
        "introspection_endpoint_auth_methods_supported": confidential,
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
    if mtls:
        doc["tls_client_certificate_bound_access_tokens"] = True
        doc["mtls_endpoint_aliases"] = {  # one port serves both: the aliases are the same URLs
            name: doc[name] for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint",
                                         "userinfo_endpoint")}
    return doc
