"""One parsed HTTP request, the input every service reads: no FastAPI types past this point.

Form bodies are parsed here (not by Starlette) so that a parameter sent twice is seen
(RFC 6749 §3.1: parameters MUST NOT repeat), the body size and parameter count are bounded,
and malformed input becomes an ``invalid_request`` in the endpoint's own dialect; a JSON body
is read by ``json_input.parse_json``, as all JSON from outside is.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.datastructures import URL
from starlette.requests import Request

from mock_op_auth.errors import InvalidRequestError, RequestTooLargeError
from mock_op_auth.json_input import JsonNestingError, parse_json

MAX_BODY_BYTES = 64 * 1024
MAX_PARAMS = 100
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class BasicCredentials:
    client_id: str
    secret: str


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    issuer: str
    query: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""
    content_type: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form_param(self, name: str) -> str | None:
        return _single(self.form, name)

    def query_param(self, name: str) -> str | None:
        return _single(self.query, name)

    def form_dict(self) -> dict[str, str]:
        return _unique(self.form)

    def query_dict(self) -> dict[str, str]:
        return _unique(self.query)

    def json(self) -> Any:
        """The body as JSON (None when empty); ``invalid_request`` when it is not JSON or nested too deep."""
        if not self.body.strip():
            return None
        try:
            return parse_json(self.body)
        except JsonNestingError as err:
            raise InvalidRequestError(str(err)) from None
        except ValueError:
            raise InvalidRequestError("the body is not valid JSON") from None

    @property
    def basic(self) -> BasicCredentials | None:
        """HTTP Basic client credentials (RFC 6749 §2.3.1: form-urlencoded id and secret), decoded
        once per call (a lock-free memo: functools.cached_property takes a lock on Python 3.11)."""
        memo = self.__dict__
        if "_basic" not in memo:
            memo["_basic"] = self._decode_basic()
        return memo["_basic"]

    def _decode_basic(self) -> BasicCredentials | None:
        auth = self.header("authorization")
        if not auth or auth[:6].lower() != "basic ":
            return None
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII input to b64decode
            raise InvalidRequestError("malformed HTTP Basic credentials") from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise InvalidRequestError("malformed HTTP Basic credentials")
        return BasicCredentials(unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " ")))

    @property
    def bearer(self) -> str | None:
        auth = self.header("authorization")
        if auth and auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None


def _single(pairs: tuple[tuple[str, str], ...], name: str) -> str | None:
    values = [v for k, v in pairs if k == name]
    if len(values) > 1:
        raise InvalidRequestError(f"parameter {name} is repeated")
    return values[0] if values else None


def _unique(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidRequestError(f"parameter {key} is repeated")
        result[key] = value
    return result


def parse_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """``parse_qsl(text, keep_blank_values=True)`` bounded to MAX_PARAMS; a plain text (no ``%``
    or ``+``, the usual token request) takes a split-only path with the same result."""
    if "%" not in text and "+" not in text:
        if text.count("&") >= MAX_PARAMS:
            raise InvalidRequestError(f"more than {MAX_PARAMS} parameters")
        pairs: list[tuple[str, str]] = []
        for piece in text.split("&"):
            if piece:
                name, _, value = piece.partition("=")
                pairs.append((name, value))
        return tuple(pairs)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_PARAMS, strict_parsing=False)
    except ValueError:
        raise InvalidRequestError(f"more than {MAX_PARAMS} parameters") from None
    return tuple(pairs)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 past ``limit`` whether or not Content-Length is honest."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidRequestError("malformed Content-Length")
        if int(declared) > limit:
            raise RequestTooLargeError(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def issuer_of(request: Request, configured: str | None, host: str | None = None) -> str:
    """``--issuer`` when given, else the request's own scheme and host (DESIGN §2)."""
    if configured:
        return configured.rstrip("/")
    scope = request.scope
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
    """``request.base_url`` without the slash, built once per distinct (scheme, host, root path)."""
    headers = [(b"host", host.encode("latin-1"))] if host is not None else []
    scope = {"type": "http", "scheme": scheme, "server": server, "path": root_path if root_path.endswith("/")
             else root_path + "/", "root_path": root_path, "query_string": b"", "headers": headers}
    return str(URL(scope=scope)).rstrip("/")


async def read_call(request: Request, configured_issuer: str | None) -> Call:
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
        headers[name] = value
    content_type = (content_type or "").split(";")[0].strip().lower()
    body = b""
    form: tuple[tuple[str, str], ...] = ()
    method = scope["method"]
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        body = await read_body(request)
        if content_type == FORM_TYPE and body:
            try:
                form = parse_pairs(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidRequestError("the form body is not UTF-8") from None
    return Call(method=method, path=path_of(request), issuer=issuer_of(request, configured_issuer, headers.get("host")),
                query=query, form=form, headers=headers, body=body, content_type=content_type)
