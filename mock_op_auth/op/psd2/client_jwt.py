"""JWTs a PSD2 client signs (request objects, OIDC Core §6.1; exemption assertions, RFC 7523):
whose they are, for whom, until when, and which intent and ``acr`` they ask for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mock_op_auth.errors import OAuthError
from mock_op_auth.oauth.context import Env
from mock_op_auth.oauth.jwt_claims import Fault, lifetime_fault, names_audience

ACR_SCA = "urn:openbanking:psd2:sca"  # strong customer authentication
ACR_CA = "urn:openbanking:psd2:ca"  # the exemption flow (reused authorization)
LIFETIME: dict[Fault, str] = {
    "exp_missing": "exp is required",
    "exp_not_number": "exp must be a number",
    "expired": "the JWT has expired",
    "not_yet_valid": "the JWT is not valid yet",
}


class InvalidRequestObjectError(OAuthError):
    """OIDC Core §3.1.2.6: the request object does not verify or its claims are wrong."""

    code = "invalid_request_object"


def audiences(env: Env) -> frozenset[str]:
    """What ``aud`` a client-signed JWT may name: this issuer or OP's own hosts (``server.psd2.audiences``)."""
    return frozenset(a.rstrip("/") for a in (env.issuer, *env.server_config.psd2.audiences))


def check_client_jwt(claims: Mapping[str, Any], client_id: str, env: Env, now: float,
                     error: type[OAuthError] = InvalidRequestObjectError, require_exp: bool = True) -> None:
    """``iss``/``client_id``, ``aud`` and ``exp`` of a JWT the client signed (request object, assertion).
    ``require_exp=False``: an ``exp`` is checked when present (OP's exemption assertions carry none)."""
    if claims.get("iss") != client_id:
        raise error("iss must be the client_id")
    if claims.get("client_id", client_id) != client_id:
        raise error("client_id in the JWT does not match the client")
    if not names_audience(claims, audiences(env)):
        raise error("aud names neither this issuer nor OP's PSD2 host")
    fault = lifetime_fault(claims, now, require_exp=require_exp)
    if fault is not None:
        raise error(LIFETIME[fault])


def requested_intent(claims: Mapping[str, Any]) -> str | None:
    """The ``authorizationId`` a request object or assertion asks for (its ``claims`` member)."""
    requested = claims.get("claims")
    if not isinstance(requested, dict):
        return None
    for member in ("id_token", "userinfo"):
        entry = requested.get(member)
        value = entry.get("authorizationId") if isinstance(entry, dict) else None
        if isinstance(value, dict) and isinstance(value.get("value"), str):
            return value["value"]
    return None


def requested_acr(claims: Mapping[str, Any]) -> str:
    requested = claims.get("claims")
    entry = requested.get("id_token") if isinstance(requested, dict) else None
    acr = entry.get("acr") if isinstance(entry, dict) else None
    values = acr.get("values") if isinstance(acr, dict) else None
    if isinstance(values, list):
        for value in values:
            if value in (ACR_SCA, ACR_CA):
                return value
    return ACR_SCA
