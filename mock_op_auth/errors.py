"""The error family: what went wrong, never how it looks on the wire.

Each dialect (``dialects/``) renders these; nothing here builds a response body.

    OAuthError                      RFC 6749 §5.2 / §4.1.2.1
    ├── InvalidRequestError         400 invalid_request
    │   └── RequestTooLargeError    413 invalid_request
    ├── InvalidClientError          401 invalid_client (knows whether HTTP Basic was tried)
    ├── InvalidGrantError           400 invalid_grant
    ├── UnauthorizedClientError     400 unauthorized_client
    ├── UnsupportedGrantTypeError   400 unsupported_grant_type
    ├── UnsupportedResponseTypeError 400 unsupported_response_type
    ├── InvalidScopeError           400 invalid_scope
    ├── AccessDeniedError           403 access_denied
    ├── LoginRequiredError          400 login_required (OIDC Core §3.1.2.6)
    ├── ServerError                 500 server_error
    │   └── TemporarilyUnavailableError 503 temporarily_unavailable (the shared store is unreachable)
    ├── NotFoundError               404 not_found (intents, unknown ids)
    └── BearerError                 RFC 6750 §3.1
        ├── InvalidTokenError       401 invalid_token, with a reason
        ├── InsufficientScopeError  403 insufficient_scope, with the scope needed
        └── InvalidApiKeyError      401 invalid_token (x-api-key missing or wrong)
            └── MissingApiKeyError  401 invalid_token (no x-api-key at all)

FixtureError is separate: a fixture file that cannot be loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TokenFailure = Literal[
    "missing", "malformed", "unknown", "expired", "not_yet_valid", "revoked", "not_approved",
    "bad_signature", "wrong_issuer", "wrong_audience", "unknown_kid", "bad_algorithm", "wrong_certificate",
]


@dataclass(frozen=True)
class Redirect:
    """Where an authorize error goes once the client and its redirect URI are trusted."""

    uri: str
    state: str | None = None
    response_mode: Literal["query", "fragment"] = "query"


class OAuthError(Exception):
    """Base of every protocol error; ``code`` and ``status`` are per class."""

    code: str = "invalid_request"
    status: int = 400

    def __init__(self, description: str = "", *, redirect: Redirect | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.redirect = redirect


class CustomOAuthError(OAuthError):
    """An error built from data (a scenario's ``error`` action), not from a fact in code."""

    def __init__(self, code: str, description: str = "", status: int = 400,
                 *, redirect: Redirect | None = None) -> None:
        super().__init__(description, redirect=redirect)
        self.code = code
        self.status = status


class InvalidRequestError(OAuthError):
    """Raised when a request is missing a parameter, repeats one, or is malformed."""

    code = "invalid_request"


class RequestTooLargeError(InvalidRequestError):
    """Raised when a body is over the limit (``http/limits.py``)."""

    status = 413


class InvalidClientError(OAuthError):
    """Raised when client authentication fails (unknown client, wrong secret, two methods at once)."""

    code = "invalid_client"
    status = 401

    def __init__(self, description: str = "client authentication failed", *, basic_tried: bool = False) -> None:
        super().__init__(description)
        self.basic_tried = basic_tried


GrantFailure = Literal["code", "redirect_uri", "pkce", "refresh_token", "assertion", "authorization", "other"]


class InvalidGrantError(OAuthError):
    """Raised when a code, refresh token or assertion does not hold; ``reason`` says which part
    failed, so a dialect can reword it (Apigee) without matching the English text."""

    code = "invalid_grant"

    def __init__(self, description: str = "", *, reason: GrantFailure = "other",
                 redirect: Redirect | None = None) -> None:
        super().__init__(description, redirect=redirect)
        self.reason: GrantFailure = reason


class UnauthorizedClientError(OAuthError):
    """Raised when an authenticated client may not use the grant or response type it asks for."""

    code = "unauthorized_client"


class UnsupportedGrantTypeError(OAuthError):
    """Raised when a token path does not know the ``grant_type``."""

    code = "unsupported_grant_type"


class UnsupportedResponseTypeError(OAuthError):
    """Raised when the authorization endpoint does not know the ``response_type``."""

    code = "unsupported_response_type"


class InvalidScopeError(OAuthError):
    """Raised when a scope is not the client's, or wider than the grant it refreshes."""

    code = "invalid_scope"


class AccessDeniedError(OAuthError):
    """Raised when the user (or a scenario) says no."""

    code = "access_denied"
    status = 403


class LoginRequiredError(OAuthError):
    """Raised for ``prompt=none`` when the user would have to log in on the page."""

    code = "login_required"


class ServerError(OAuthError):
    """Raised for an unexpected failure; its message is never the exception's."""

    code = "server_error"
    status = 500


class TemporarilyUnavailableError(ServerError):
    """Raised when the shared store (Redis, a locked SQLite file) cannot be reached: retry later."""

    code = "temporarily_unavailable"
    status = 503


class NotFoundError(OAuthError):
    """Raised when an id (an intent, say) names nothing the caller may see."""

    code = "not_found"
    status = 404


class BearerError(OAuthError):
    """RFC 6750 errors of protected resources; rendered with ``WWW-Authenticate: Bearer``."""


class InvalidTokenError(BearerError):
    """Raised when a bearer token is missing, malformed, unknown, expired, revoked or not ours (``reason``)."""

    code = "invalid_token"
    status = 401

    def __init__(self, reason: TokenFailure, description: str = "") -> None:
        super().__init__(description or _TOKEN_FAILURE_TEXT[reason])
        self.reason: TokenFailure = reason


class InsufficientScopeError(BearerError):
    """Raised when a valid token lacks a scope the resource needs."""

    code = "insufficient_scope"
    status = 403

    def __init__(self, scope: str) -> None:
        super().__init__(f"the token lacks the scope this resource needs: {scope}")
        self.scope = scope


class InvalidApiKeyError(BearerError):
    """Raised when ``x-api-key`` is not the API key of the token's (or request's) client."""

    code = "invalid_token"
    status = 401

    def __init__(self, description: str = "x-api-key is missing or does not match the token's client") -> None:
        super().__init__(description)


class MissingApiKeyError(InvalidApiKeyError):
    """No ``x-api-key`` header at all (Apigee answers this differently from a wrong key)."""

    def __init__(self, description: str = "x-api-key is missing") -> None:
        super().__init__(description)


_TOKEN_FAILURE_TEXT: dict[str, str] = {
    "missing": "no bearer token",
    "malformed": "the token is malformed",
    "unknown": "the token is unknown",
    "expired": "the token has expired",
    "not_yet_valid": "the token is not valid yet",
    "revoked": "the token has been revoked",
    "not_approved": "the token is not approved",
    "bad_signature": "the token signature does not verify",
    "wrong_issuer": "the token was issued by another issuer",
    "wrong_audience": "the token is meant for another audience",
    "unknown_kid": "the token was signed with an unknown key",
    "bad_algorithm": "the token's algorithm is not accepted",
    "wrong_certificate": "the token is bound to a client certificate this request did not present",
}


@dataclass
class Problem:
    """One reason a fixture file was refused."""

    file: str
    location: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.location}" if self.location else self.file
        return f"{where}: {self.reason}"


@dataclass
class FixtureError(Exception):
    """A fixture file or directory that cannot be loaded; carries every problem found."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
