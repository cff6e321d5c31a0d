"""Client authentication (RFC 6749 §2.3; JWT assertions: RFC 7523 §2.2, §3, OIDC Core §9; mutual
TLS: RFC 8705 §2) and redirect-URI matching (RFC 6749 §3.1.2, RFC 8252 §7.3).

A client authenticates by exactly one method. A client's ``token_endpoint_auth_method`` picks the
one it must use: ``client_secret_basic`` and ``client_secret_post`` stand in for each other, the
JWT methods for nothing else. Without it, whatever its credentials allow: its secret (Basic, post,
``client_secret_jwt``), its keys (``private_key_jwt``), its certificate (``tls_client_auth``), or
nothing at all (``none``, a public client). Whatever the method, a client with a registered
certificate subject that presents a certificate must present that subject's, and one with
``require_mtls`` must present it (``check_certificate``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mock_op_auth.config.schema import AuthMethod, Client
from mock_op_auth.errors import InvalidClientError, InvalidRequestError, InvalidTokenError
from mock_op_auth.oauth.jwt_claims import Fault, lifetime_fault, names_audience
from mock_op_auth.oauth.request import Call
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import SUPPORTED_ALGS, unverified_claims, unverified_header, verify_hs256, verify_with_jwks
from mock_op_auth.state.store import Store

LOOPBACK_IPS = ("127.0.0.1", "[::1]")
LOOPBACK_HOSTS = (*LOOPBACK_IPS, "localhost")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
PRIVATE_KEY_ALGS = SUPPORTED_ALGS  # private_key_jwt: never HMAC, never none (RFC 8725 §3.1)
SECRET_JWT_ALGS = ("HS256",)  # client_secret_jwt: never a public-key algorithm
ASSERTION_LIFETIME: dict[Fault, str] = {
    "exp_missing": "the client assertion has no exp",
    "exp_not_number": "the client assertion has no exp",
    "expired": "the client assertion has expired",
    "not_yet_valid": "the client assertion is not valid yet",
}


@dataclass(frozen=True)
class AuthenticatedClient:
    client_id: str
    client: Client
    method: AuthMethod


def secrets_equal(given: str, expected: str) -> bool:
    """Constant-time comparison, so timing does not reveal how much of a secret was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def method_allowed(client: Client, method: AuthMethod) -> bool:
    """Whether ``client`` may authenticate by ``method`` (its ``token_endpoint_auth_method``, if set)."""
    declared = client.token_endpoint_auth_method
    if declared is None:
        return True
    if declared in SECRET_METHODS:
        return method in SECRET_METHODS
    return method == declared


def _checked(client_id: str, client: Client, method: AuthMethod, basic_tried: bool = False) -> AuthenticatedClient:
    if not method_allowed(client, method):
        raise InvalidClientError(f"this client authenticates by {client.token_endpoint_auth_method}, not {method}",
                                 basic_tried=basic_tried)
    return AuthenticatedClient(client_id, client, method)


def authenticate(call: Call, clients: Mapping[str, Client], *, allow_public: bool = True) -> AuthenticatedClient:
    """Authenticate the client of a back-channel request by exactly one method (secrets, its
    certificate, or none; ``ClientAuthenticator`` adds the JWT methods), then check its certificate."""
    authenticated = _authenticate(call, clients, allow_public)
    check_certificate(call, authenticated.client)
    return authenticated


def check_certificate(call: Call, client: Client) -> None:
    """A client with ``require_mtls`` presents its certificate; any client with a registered
    subject that presents one must present that subject's (OP's PSD2: secret + mTLS)."""
    expected = client.tls_client_auth_subject_dn
    if expected is None:
        return
    if call.client_cert is None:
        if client.require_mtls or client.secret is None:
            raise InvalidClientError("this client must present its client certificate (mutual TLS)")
        return
    from mock_op_auth.tls.names import match_dn  # cryptography's x509: only once a certificate is checked

    if not match_dn(expected, call.client_cert.subject_dn):
        raise InvalidClientError("the client certificate does not carry the subject registered for this client")


def _authenticate(call: Call, clients: Mapping[str, Client], allow_public: bool) -> AuthenticatedClient:
    if call.form_param("client_assertion") is not None or call.form_param("client_assertion_type") is not None:
        raise InvalidClientError("client assertions are not accepted here")
    basic = call.basic
    form_id = call.form_param("client_id")
    form_secret = call.form_param("client_secret")
    if basic is not None and form_secret is not None:
        raise InvalidRequestError("use one client authentication method, not HTTP Basic and client_secret")
    if basic is not None:
        if form_id is not None and form_id != basic.client_id:
            raise InvalidClientError("client_id does not match the HTTP Basic credentials", basic_tried=True)
        client = clients.get(basic.client_id)
        if client is None or client.secret is None or not secrets_equal(basic.secret, client.secret):
            raise InvalidClientError(basic_tried=True)
        return _checked(basic.client_id, client, "client_secret_basic", basic_tried=True)
    if form_id is None:
        raise InvalidClientError("no client authentication")
    client = clients.get(form_id)
    if client is None:
        raise InvalidClientError()
    if form_secret is not None:
        if client.secret is None or not secrets_equal(form_secret, client.secret):
            raise InvalidClientError()
        return _checked(form_id, client, "client_secret_post")
    if client.secret is None and client.tls_client_auth_subject_dn is not None:
        return _checked(form_id, client, "tls_client_auth")  # the certificate is checked next
    if client.secret is not None or not allow_public:
        raise InvalidClientError()
    return _checked(form_id, client, "none")


class ClientAuthenticator:
    """Client authentication with the JWT methods too, which need the clock (``exp``) and the store
    (each ``jti`` once); built once in ``Server``. Secrets and ``none`` go to ``authenticate``."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def authenticate(self, call: Call, clients: Mapping[str, Client], *,
                     allow_public: bool = True) -> AuthenticatedClient:
        assertion = call.form_param("client_assertion")
        assertion_type = call.form_param("client_assertion_type")
        if assertion is None and assertion_type is None:
            return authenticate(call, clients, allow_public=allow_public)
        if call.basic is not None or call.form_param("client_secret") is not None:
            raise InvalidRequestError("use one client authentication method, not a client assertion and a secret")
        if assertion_type != ASSERTION_TYPE:
            raise InvalidRequestError(f"client_assertion_type must be {ASSERTION_TYPE}")
        if not assertion:
            raise InvalidRequestError("client_assertion is required with client_assertion_type")
        return self._assertion(call, assertion, clients)

    def _assertion(self, call: Call, assertion: str, clients: Mapping[str, Client]) -> AuthenticatedClient:
        """RFC 7523 §3: verify the signature with the client's own key or secret, then the claims."""
        try:
            alg = unverified_header(assertion).get("alg")
            unverified = unverified_claims(assertion)
        except (InvalidTokenError, ValueError):
            raise InvalidClientError("the client assertion is not a signed JWT") from None
        client_id = unverified.get("sub")
        form_id = call.form_param("client_id")
        if not isinstance(client_id, str) or (form_id is not None and form_id != client_id):
            raise InvalidClientError("the client assertion's sub must be the client_id")
        client = clients.get(client_id)
        if client is None:
            raise InvalidClientError()
        method: AuthMethod
        if alg in SECRET_JWT_ALGS:
            method = "client_secret_jwt"
        elif alg in PRIVATE_KEY_ALGS:
            method = "private_key_jwt"
        else:
            raise InvalidClientError(f"a client assertion signed with {str(alg)[:16]} is not accepted")
        authenticated = _checked(client_id, client, method)
        claims = self._verified(assertion, client, method)
        self._check_claims(claims, client_id, call)
        check_certificate(call, client)
        return authenticated

    @staticmethod
    def _verified(assertion: str, client: Client, method: AuthMethod) -> dict[str, Any]:
        try:
            if method == "client_secret_jwt":
                if client.secret is None:
                    raise InvalidClientError("this client has no secret for client_secret_jwt")
                return verify_hs256(assertion, client.secret)
            if not client.jwks:
                raise InvalidClientError("this client has no registered keys for private_key_jwt")
            return verify_with_jwks(assertion, client.jwks, PRIVATE_KEY_ALGS)
        except (InvalidTokenError, ValueError):
            raise InvalidClientError("the client assertion's signature does not verify") from None

    def _check_claims(self, claims: Mapping[str, Any], client_id: str, call: Call) -> None:
        """``iss`` = ``sub`` = the client, ``aud`` this server, ``exp`` ahead, a ``jti`` never seen."""
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise InvalidClientError("the client assertion's iss and sub must be the client_id")
        if not names_audience(claims, {call.issuer, f"{call.issuer}/token", f"{call.issuer}{call.path}"}):
            raise InvalidClientError("the client assertion's aud must be the token endpoint or the issuer")
        fault = lifetime_fault(claims, self.clock.now())
        if fault is not None:
            raise InvalidClientError(ASSERTION_LIFETIME[fault])
        exp = claims["exp"]
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise InvalidClientError("the client assertion needs a jti")
        if not self.store.add_marker(f"client-assertion:{client_id}:{jti}", float(exp)):  # RFC 7523 §3
            raise InvalidClientError("the client assertion's jti was used before (replay)")


def match_redirect_uri(given: str, registered: list[str]) -> bool:
    """Exact match, except for loopback redirect URIs (RFC 8252 §7.3): for the loopback IP literals
    (``127.0.0.1``, ``[::1]``) the port is ignored on both sides, so a URI registered with a port or
    without one matches any port asked for; ``http://localhost`` matches any port only when it was
    registered without one. Scheme, host, path and query always match exactly."""
    if given in registered:
        return True
    asked = _loopback(given)
    if asked is None:
        return False
    key, _ = asked
    for uri in registered:
        found = _loopback(uri)
        if found is not None and found[0] == key and (key[1] in LOOPBACK_IPS or not found[1]):
            return True
    return False


def _loopback(uri: str) -> tuple[tuple[str, str, str, str, str], bool] | None:
    """``((scheme, host, path, query, fragment), has_port)`` of an ``http`` loopback URI without
    user info and with a well-formed port (if any); None for any other URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "http" or parts.hostname is None:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if host not in LOOPBACK_HOSTS or parts.netloc.lower() not in (host, f"{host}:{port}"):
        return None  # user info, an empty or zero-padded port, or a host spelled otherwise
    return (parts.scheme, host, parts.path, parts.query, parts.fragment), port is not None
