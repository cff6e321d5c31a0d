"""HTTPS with uvicorn, the client certificate handed to the app (DESIGN §7).

- ``prepare_tls`` turns ``--tls-dir``/``--tls-cert``/``--tls-key``/``--tls-client-ca`` and the
  server's host names into ``TlsSettings``: the files (made by ``certs`` when missing) and a
  server ``SSLContext`` built from them, so a bad file fails before uvicorn starts.
- The context speaks TLS 1.2 and 1.3 only. It asks for a client certificate without
  requiring one (``CERT_OPTIONAL``) and accepts one that chains to the mock's CA or to
  ``--tls-client-ca``; Python's ssl cannot ask without verifying, so any other certificate
  is refused in the handshake.
- ``uvicorn_options(tls)`` gives the keyword arguments for ``uvicorn.Config``/``uvicorn.run``:
  the context and an HTTP protocol class that adds the ASGI TLS extension (asgiref
  ``specs/tls.rst`` 0.2: ``scope["extensions"]["tls"]`` with ``server_cert``,
  ``client_cert_chain``, ``client_cert_name``, ``client_cert_error``, ``tls_version``,
  ``cipher_suite``) to every request of a TLS connection. uvicorn (0.55) does not provide
  the extension itself; its HTTP protocols are built per connection from the class given as
  ``Config(http=...)``, so a subclass reads the peer certificate once in ``connection_made``.
  On Python 3.11 the chain holds the client's own certificate only.
- ``peer_certificate(scope)`` is the app's side: the extension's certificate as a
  ``ClientCertificate``, or None. It reads only the scope (no Starlette), so it works under
  any server that implements the extension.

Failed handshakes (a refused client certificate, an old TLS version, plain HTTP or garbage on
the port) never reach the HTTP protocol, and asyncio and uvloop drop them silently unless the
loop runs in debug mode (``ssl.SSLError`` is an ``OSError``). The context's
``sslobject_class`` logs each on ``mock_op_auth.tls``: one warning per connection, which
names the cause but not the peer (the TLS object does not know its socket).
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mock_op_auth.tls.certs import (
    CertificateAuthority,
    ClientCertificate,
    TlsFileError,
    ensure_ca,
    ensure_server_cert,
)

__all__ = [
    "TlsH11Protocol",
    "TlsHttpToolsProtocol",
    "TlsSettings",
    "build_ssl_context",
    "peer_certificate",
    "prepare_tls",
    "tls_extension",
    "uvicorn_options",
]

log = logging.getLogger("mock_op_auth.tls")

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
StrPath = str | os.PathLike[str]

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

# OpenSSL's reason codes for failed handshakes that a mock's user meets, and what they mean.
_HANDSHAKE_HINTS = {
    "HTTP_REQUEST": "plain HTTP sent to the HTTPS port",
    "WRONG_VERSION_NUMBER": "the client does not speak TLS",
    "UNSUPPORTED_PROTOCOL": "the client offers only TLS versions older than 1.2",
    "NO_SHARED_CIPHER": "no cipher suite in common",
    "TLSV1_ALERT_UNKNOWN_CA": "the client does not trust the server certificate; give it ca.crt",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the client rejected the server certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the client rejected the server certificate",
}


@dataclass(frozen=True, eq=False)
class TlsSettings:
    """What HTTPS serving needs: the CA, the server certificate's files, and the context built from them."""

    ca: CertificateAuthority
    cert_file: Path
    key_file: Path | None  # None: the key is in cert_file
    client_ca_files: tuple[Path, ...]  # the mock's ca.crt first, then --tls-client-ca
    ssl_context: ssl.SSLContext = field(repr=False)


def prepare_tls(
    tls_dir: StrPath | None = None,
    *,
    hosts: Iterable[str] = (),
    cert_file: StrPath | None = None,
    key_file: StrPath | None = None,
    client_ca_file: StrPath | None = None,
) -> TlsSettings:
    """Files and context for ``serve --tls``, made or reused in ``tls_dir`` (default: ``default_tls_dir()``).

    Without ``cert_file`` the server certificate is the TLS directory's, naming localhost,
    127.0.0.1, ::1 and ``hosts`` (the issuer's host, ``MOCK_OP_AUTH_TLS_HOSTS``). With it,
    ``hosts`` is unused and ``key_file`` may be None when ``cert_file`` holds the key too.
    The directory's CA signs and trusts client certificates either way. Raises
    ``TlsFileError`` (a message for the user) and ``ValueError`` (a bad host or flag pair).
    """
    if cert_file is None:
        if key_file is not None:
            raise ValueError("a server key (--tls-key) needs its certificate (--tls-cert)")
        server = ensure_server_cert(tls_dir, hosts)
        ca, cert, key = server.ca, server.cert_file, server.key_file
    else:
        ca, cert, key = ensure_ca(tls_dir), Path(cert_file), None if key_file is None else Path(key_file)
    client_cas = (ca.cert_file, *(() if client_ca_file is None else (Path(client_ca_file),)))
    return TlsSettings(ca, cert, key, client_cas, build_ssl_context(cert, key, client_cas))


def build_ssl_context(cert_file: Path, key_file: Path | None, client_ca_files: Iterable[Path]) -> ssl.SSLContext:
    """The server context: TLS 1.2 and 1.3, a client certificate asked for and verified when sent.

    Raises ``TlsFileError`` when a file cannot be read or used.
    """
    context = _ServerContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.options |= ssl.OP_NO_RENEGOTIATION  # client-initiated TLS 1.2 renegotiation is a DoS lever
    try:
        context.load_cert_chain(cert_file, key_file)
    except OSError as exc:  # ssl.SSLError is one
        pair = cert_file if key_file is None else f"{cert_file} and {key_file}"
        raise TlsFileError(f"cannot serve HTTPS with {pair}: {_reason(exc)}") from None
    context.verify_mode = ssl.CERT_OPTIONAL
    for ca_file in client_ca_files:
        try:
            context.load_verify_locations(cafile=ca_file)
        except OSError as exc:
            raise TlsFileError(f"cannot trust client certificates of {ca_file}: {_reason(exc)}") from None
    context.server_cert_pem = x509.load_pem_x509_certificate(cert_file.read_bytes()).public_bytes(Encoding.PEM).decode()
    context.cipher_suites = {cipher["name"]: cipher["id"] & 0xFFFF for cipher in context.get_ciphers()}
    return context


def uvicorn_options(tls: TlsSettings, http: Literal["auto", "h11", "httptools"] = "auto") -> dict[str, Any]:
    """Keyword arguments that make ``uvicorn.Config``/``uvicorn.run`` serve HTTPS with the TLS extension.

    ``uvicorn.run(app, host=..., port=..., **uvicorn_options(tls))``. ``http`` chooses the
    HTTP/1.1 parser as uvicorn's own option does ("auto" is httptools). Needs uvicorn 0.47+
    (``ssl_context_factory``).
    """
    protocol = TlsH11Protocol if http == "h11" else TlsHttpToolsProtocol
    return {"http": protocol, "ssl_context_factory": lambda _config, _default: tls.ssl_context}


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension's dictionary for one established connection."""
    der = ssl_object.getpeercert(binary_form=True)
    client = None if der is None else ClientCertificate.from_der(der)
    cipher = ssl_object.cipher()
    context = ssl_object.context
    return {
        "server_cert": getattr(context, "server_cert_pem", None),
        "client_cert_chain": () if client is None else (client.pem,),
        "client_cert_name": None if client is None else client.subject_dn,
        "client_cert_error": None,  # a certificate that fails verification fails the handshake
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None if cipher is None else getattr(context, "cipher_suites", {}).get(cipher[0]),
    }


def peer_certificate(scope: Mapping[str, Any]) -> ClientCertificate | None:
    """The client certificate of the request's TLS connection, from the ASGI TLS extension.

    None over plain HTTP, without a certificate, or under a server without the extension.
    """
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = list(tls.get("client_cert_chain") or ())
    return ClientCertificate.from_pem(chain[0]) if chain else None


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding the ASGI TLS extension to the scope of each request."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.app = _with_tls_extension(self.app, transport)


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, adding the ASGI TLS extension to the scope of each request."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.app = _with_tls_extension(self.app, transport)


def _with_tls_extension(app: Any, transport: Any) -> Any:
    ssl_object = transport.get_extra_info("ssl_object")
    return app if ssl_object is None else _TlsExtension(app, tls_extension(ssl_object))


class _TlsExtension:
    """ASGI middleware for one connection: the same extension dictionary on each of its requests."""

    __slots__ = ("app", "tls")

    def __init__(self, app: ASGIApp, tls: dict[str, Any]) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        scope["extensions"] = {"tls": self.tls, **(scope.get("extensions") or {})}  # a server's own wins
        await self.app(scope, receive, send)


class _LoggedHandshake(ssl.SSLObject):
    """An ``SSLObject`` that logs why its handshake failed, once."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # the handshake goes on when more bytes arrive
        except ssl.SSLError as exc:
            log.warning("TLS handshake failed: %s", _describe(exc))
            raise


class _ServerContext(ssl.SSLContext):
    """The server's context; it also keeps what ``tls_extension`` reports of it."""

    sslobject_class = _LoggedHandshake
    server_cert_pem: str | None = None
    cipher_suites: Mapping[str, int] = {}  # replaced per instance, never mutated


def _describe(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"client certificate refused: {exc.verify_message} "
            "(it must chain to the mock's CA or to --tls-client-ca)"
        )
    hint = _HANDSHAKE_HINTS.get(exc.reason or "")
    return f"{_reason(exc)} ({hint})" if hint else _reason(exc)


def _reason(exc: OSError) -> str:
    return str(getattr(exc, "reason", None) or exc.strerror or exc)
