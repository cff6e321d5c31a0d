"""One parsed HTTP request, the input every service reads: plain Python, no web framework.

Like Authlib's ``OAuth2Request``: the edge (``http/call.py``) builds it from the ASGI scope, and
everything below the handlers reads it. Form bodies are parsed here so that a parameter sent
twice is seen (RFC 6749 §3.1: parameters MUST NOT repeat), the parameter count is bounded, and
malformed input becomes an ``invalid_request`` in the endpoint's own dialect.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from mock_op_auth.errors import InvalidRequestError
from mock_op_auth.json_input import JsonInputError, parse_json

if TYPE_CHECKING:  # the TLS layer (cryptography's x509) is imported once a certificate arrives
    from mock_op_auth.tls.certs import ClientCertificate

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
    path_params: dict[str, str] = field(default_factory=dict)  # the route's {name} segments
    client_cert: ClientCertificate | None = None  # from the TLS handshake, or a trusted proxy's header
    # HTTP Basic credentials, decoded once when the call is made; a malformed header is kept as
    # its error and raised where credentials are read, so it answers in the endpoint's dialect.
    _basic: BasicCredentials | InvalidRequestError | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_basic", decode_basic(self.headers.get("authorization")))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form_param(self, name: str) -> str | None:
        return _single(self.form, name)

    def required_form_param(self, name: str) -> str:
        """A form parameter that must be there and not empty (``invalid_request`` otherwise)."""
        value = _single(self.form, name)
        if not value:
            raise InvalidRequestError(f"{name} is required")
        return value

    def query_param(self, name: str) -> str | None:
        return _single(self.query, name)

    def json(self) -> Any:
        """The body as JSON (None when empty); ``invalid_request`` when it is not JSON or nested too deep."""
        if not self.body.strip():
            return None
        try:
            return parse_json(self.body)
        except JsonInputError as err:
            raise InvalidRequestError(str(err)) from None
        except ValueError:
            raise InvalidRequestError("the body is not valid JSON") from None

    def form_dict(self) -> dict[str, str]:
        return _unique(self.form)

    def query_dict(self) -> dict[str, str]:
        return _unique(self.query)

    @property
    def cross_site(self) -> bool:
        """Whether the browser says another site sent this request (Fetch Metadata, ``Sec-Fetch-Site``):
        a form the mock served is answered from its own page, never from another site's (login CSRF)."""
        return self.headers.get("sec-fetch-site") == "cross-site"

    @property
    def basic(self) -> BasicCredentials | None:
        """HTTP Basic client credentials (RFC 6749 §2.3.1); raises InvalidRequestError when malformed."""
        if isinstance(self._basic, InvalidRequestError):
            raise InvalidRequestError(self._basic.description)
        return self._basic

    @property
    def bearer(self) -> str | None:
        auth = self.header("authorization")
        if auth and auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None

    @property
    def dpop_token(self) -> str | None:
        """The access token of an ``Authorization: DPoP`` header (RFC 9449 §7.1)."""
        auth = self.header("authorization")
        if auth and auth[:5].lower() == "dpop ":
            return auth[5:].strip() or None
        return None


def decode_basic(auth: str | None) -> BasicCredentials | InvalidRequestError | None:
    """An ``Authorization: Basic`` header's form-urlencoded id and secret, its error, or None."""
    if not auth or auth[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII input to b64decode
        return InvalidRequestError("malformed HTTP Basic credentials")
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return InvalidRequestError("malformed HTTP Basic credentials")
    return BasicCredentials(unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " ")))


def _single(pairs: tuple[tuple[str, str], ...], name: str) -> str | None:
    found = None
    for key, value in pairs:
        if key == name:
            if found is not None:
                raise InvalidRequestError(f"parameter {name} is repeated")
            found = value
    return found


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
