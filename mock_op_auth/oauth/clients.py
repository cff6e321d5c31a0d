"""Client authentication (RFC 6749 §2.3, RFC 8705 §2 mutual TLS) and redirect-URI matching
(RFC 6749 §3.1.2, RFC 8252 §7.3)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from mock_op_auth.config.schema import Client
from mock_op_auth.errors import InvalidClientError, InvalidRequestError
from mock_op_auth.oauth.request import Call
from mock_op_auth.tls.names import match_dn

AuthMethod = Literal["client_secret_basic", "client_secret_post", "tls_client_auth", "none"]
LOOPBACK_IPS = ("127.0.0.1", "[::1]")
LOOPBACK_HOSTS = (*LOOPBACK_IPS, "localhost")


@dataclass(frozen=True)
class AuthenticatedClient:
    client_id: str
    client: Client
    method: AuthMethod


def secrets_equal(given: str, expected: str) -> bool:
    """Constant-time comparison, so timing does not reveal how much of a secret was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def authenticate(call: Call, clients: Mapping[str, Client], *, allow_public: bool = True) -> AuthenticatedClient:
    """Authenticate the client of a back-channel request by exactly one method, then check the
    certificate it presented against the subject it registered (RFC 8705 §2.1.2)."""
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
    if not match_dn(expected, call.client_cert.subject_dn):
        raise InvalidClientError("the client certificate does not carry the subject registered for this client")


def _authenticate(call: Call, clients: Mapping[str, Client], allow_public: bool) -> AuthenticatedClient:
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
        return AuthenticatedClient(basic.client_id, client, "client_secret_basic")
    if form_id is None:
        raise InvalidClientError("no client authentication")
    client = clients.get(form_id)
    if client is None:
        raise InvalidClientError()
    if form_secret is not None:
        if client.secret is None or not secrets_equal(form_secret, client.secret):
            raise InvalidClientError()
        return AuthenticatedClient(form_id, client, "client_secret_post")
    if client.secret is None and client.tls_client_auth_subject_dn is not None:
        return AuthenticatedClient(form_id, client, "tls_client_auth")  # the certificate is checked next
    if client.secret is not None or not allow_public:
        raise InvalidClientError()
    return AuthenticatedClient(form_id, client, "none")


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
