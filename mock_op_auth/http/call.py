"""Reading a request at the edge: the ASGI scope and body become a ``Call`` (``oauth/request.py``),
and the issuer a request is answered as. Nothing past this module sees Starlette's types."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.types import Scope

from mock_op_auth.errors import InvalidRequestError, UnsupportedEncodingError
from mock_op_auth.http.limits import MAX_BODY_BYTES, read_bounded
from mock_op_auth.oauth.request import FORM_TYPE, Call, parse_pairs

if TYPE_CHECKING:
    from mock_op_auth.tls.certs import ClientCertificate

__all__ = ["MAX_BODY_BYTES", "issuer_of", "path_of", "read_body", "read_call"]


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 past ``limit`` whether or not Content-Length is honest."""
    return await read_bounded(request.stream(), request.headers.get("content-length"), limit)


NAMESPACE_PATH = "mock_op_auth.namespace_path"  # "/ns/NAME", set by http/namespaces.ServerSelect


def issuer_of(request: Request, configured: str | None, host: str | None = None) -> str:
    """``--issuer`` when given, else the request's own scheme and host (DESIGN §2); in a
    namespace, either one followed by ``/ns/NAME`` (DESIGN §11)."""
    scope = request.scope
    if configured:
        return configured.rstrip("/") + scope.get(NAMESPACE_PATH, "")
    root_path = scope.get("app_root_path", scope.get("root_path", ""))
    server = scope.get("server")
    host = host if host is not None else request.headers.get("host")
    return _base_url(scope["scheme"], host, tuple(server) if server else None, root_path)


_URL_UNSAFE = frozenset("?#\\")


def path_of(request: Request) -> str:
    """``request.url.path`` without building the URL for a plain path (printable ASCII, nothing
    that URL escaping or re-parsing would change); anything else goes the long way."""
    path: str = request.scope["path"]
    if path.isascii() and path.isprintable() and not path.startswith("//") and _URL_UNSAFE.isdisjoint(path):
        return path
    return request.url.path


@lru_cache(maxsize=256)
def _base_url(scheme: str, host: str | None, server: tuple[str, int | None] | None, root_path: str) -> str:
    """``request.base_url`` without the slash, built once per distinct (scheme, host, root path).
    A pure function of its arguments, so the process-wide cache shares nothing between servers."""
    headers = [(b"host", host.encode("latin-1"))] if host is not None else []
    scope = {"type": "http", "scheme": scheme, "server": server, "path": root_path if root_path.endswith("/")
             else root_path + "/", "root_path": root_path, "query_string": b"", "headers": headers}
    return str(URL(scope=scope)).rstrip("/")


def client_certificate(scope: Scope, headers: dict[str, str], header: str | None) -> ClientCertificate | None:
    """The certificate of the TLS handshake; else, when ``header`` is configured (a TLS-terminating
    proxy, OP's sandbox), the one that header forwards. A header is never read unless configured.
    The TLS layer (cryptography's x509, ~15 ms of start-up) is imported only when one may be there."""
    if (scope.get("extensions") or {}).get("tls"):
        from mock_op_auth.tls.serving import peer_certificate

        presented = peer_certificate(scope)
        if presented is not None:
            return presented
    if header is None or not headers.get(header):
        return None
    from mock_op_auth.tls.certs import ForwardedCertificateError, parse_forwarded_certificate

    try:
        return parse_forwarded_certificate(headers[header])
    except ForwardedCertificateError:
        raise InvalidRequestError(f"the client certificate in {header} cannot be read") from None


async def read_call(request: Request, configured_issuer: str | None, cert_header: str | None = None) -> Call:
    """The request as a Call, read straight from the ASGI scope (one pass over the headers)."""
    scope = request.scope
    try:
        query_string = scope.get("query_string", b"").decode()
    except UnicodeDecodeError:
        raise InvalidRequestError("the query string is not UTF-8") from None
    query = parse_pairs(query_string) if query_string else ()
    headers: dict[str, str] = {}
    content_type: str | None = None
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if content_type is None and name == "content-type":
            content_type = value
        if name in headers:  # a repeated field is one list (RFC 9110 §5.3; cookies: RFC 9113 §8.2.3)
            if name == "host":  # it names the issuer: two are refused (RFC 9112 §3.2)
                raise InvalidRequestError("more than one Host header")
            value = headers[name] + ("; " if name == "cookie" else ", ") + value
        headers[name] = value
    content_type = (content_type or "").split(";")[0].strip().lower()
    body = b""
    form: tuple[tuple[str, str], ...] = ()
    method = scope["method"]
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        body = await read_bounded(request.stream(), headers.get("content-length"))
        coding = headers.get("content-encoding", "identity").strip().lower()
        if body and coding != "identity":
            raise UnsupportedEncodingError(f"the body has the content coding {coding[:40]}; send it without one")
        if content_type == FORM_TYPE and body:
            try:
                form = parse_pairs(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidRequestError("the form body is not UTF-8") from None
    return Call(method=method, path=path_of(request), issuer=issuer_of(request, configured_issuer, headers.get("host")),
                query=query, form=form, headers=headers, body=body, content_type=content_type,
                path_params=scope.get("path_params") or {},
                client_cert=client_certificate(scope, headers, cert_header))
