"""The error family: what went wrong, never how it looks on the wire.

Each dialect (``dialects/``) renders these; nothing here builds a response body.

    OAuthError                      RFC 6749 §5.2 / §4.1.2.1
    ├── InvalidRequestError         400 invalid_request
    │   ├── RequestTooLargeError    413 invalid_request
    │   └── UnsupportedEncodingError 415 invalid_request
    ├── InvalidClientError          401 invalid_client (knows whether HTTP Basic was tried)
    ├── InvalidGrantError           400 invalid_grant
    ├── UnauthorizedClientError     400 unauthorized_client
    ├── UnsupportedGrantTypeError   400 unsupported_grant_type
    ├── UnsupportedResponseTypeError 400 unsupported_response_type
    ├── RequestNotSupportedError    400 request_not_supported (OIDC Core §3.1.2.6)
    ├── InvalidScopeError           400 invalid_scope
    ├── InvalidTargetError          400 invalid_target (RFC 8707, RFC 8693 §2.2.2)
    ├── AccessDeniedError           403 access_denied
    │   └── DeviceAccessDeniedError 400 access_denied (RFC 8628 §3.5: the user denied the device)
    ├── AuthorizationPendingError   400 authorization_pending (RFC 8628 §3.5)
    ├── SlowDownError               400 slow_down (RFC 8628 §3.5)
    ├── ExpiredTokenError           400 expired_token (RFC 8628 §3.5)
    ├── InvalidDpopProofError       400 invalid_dpop_proof (RFC 9449 §5, at the token endpoint)
    │   └── UseDpopNonceError       400 use_dpop_nonce (RFC 9449 §8), with the nonce to use
    ├── LoginRequiredError          400 login_required (OIDC Core §3.1.2.6)
    ├── ServerError                 500 server_error
    │   └── TemporarilyUnavailableError 503 temporarily_unavailable (the shared store is unreachable)
    ├── NotFoundError               404 not_found (intents, unknown ids)
    ├── ApiRuleError                OP's PSD2 business APIs: an ApiError type and a violation
    │   ├── ViolationError          400 VALIDATION (a field: EuroCents, SepaIban, Required, ...)
    │   ├── InvalidSignatureError   400 SECURITY (x-jws-signature)
    │   ├── IllegalStateError       409 BUSINESS (a status that does not allow the action)
    │   │   └── DuplicatePaymentError 409 (an idempotency key reused with another body)
    │   ├── InsufficientFundsError  400 BUSINESS
    │   ├── PaymentFailedError      400 BUSINESS
    │   └── AuthorizationRevokedError 403 SECURITY (the token's authorization is revoked or expired)
    └── BearerError                 RFC 6750 §3.1
        ├── CustomBearerError       a scenario's error action at the stub or userinfo
        ├── InvalidTokenError       401 invalid_token, with a reason
        ├── InsufficientScopeError  403 insufficient_scope, with the scope needed
        ├── InvalidApiKeyError      401 invalid_token (x-api-key missing or wrong)
        │   └── MissingApiKeyError  401 invalid_token (no x-api-key at all)
        └── DpopResourceError       401 invalid_dpop_proof or use_dpop_nonce at a resource (RFC 9449 §7.1, §9)

Bearer errors carry the challenge ``scheme`` (``Bearer``, or ``DPoP`` when the request or the token
used DPoP) and, at the resource stub, the ``resource_metadata`` URL (RFC 9728 §5.1); any error may
carry a ``dpop_nonce`` the client must put in its next DPoP proof (the ``DPoP-Nonce`` header).

FixtureError is separate: a fixture file that cannot be loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

TokenFailure = Literal[
    "missing", "malformed", "unknown", "expired", "not_yet_valid", "revoked", "not_approved",
    "bad_signature", "wrong_issuer", "wrong_audience", "unknown_kid", "bad_algorithm", "wrong_certificate",
    "dpop_bound", "not_dpop_bound", "dpop_key_mismatch",
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
    dpop_nonce: str | None = None  # RFC 9449 §8: the nonce the next DPoP proof must carry

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


class UnsupportedEncodingError(InvalidRequestError):
    """Raised when a body comes with a content coding (gzip, say) the server does not read
    (RFC 9110 §15.5.16): read as it is, it would be refused for the wrong reason."""

    status = 415


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


class RequestNotSupportedError(OAuthError):
    """Raised when an authorization request carries a request object (``request``, OIDC Core
    §3.1.2.6) where the server takes none: discovery says ``request_parameter_supported: false``."""

    code = "request_not_supported"


class InvalidScopeError(OAuthError):
    """Raised when a scope is not the client's, or wider than the grant it refreshes."""

    code = "invalid_scope"


class InvalidTargetError(OAuthError):
    """Raised when a token-exchange ``audience`` or ``resource`` is not one the client may ask for."""

    code = "invalid_target"


class AccessDeniedError(OAuthError):
    """Raised when the user (or a scenario) says no."""

    code = "access_denied"
    status = 403


class DeviceAccessDeniedError(AccessDeniedError):
    """Raised when a polled device code was denied: a token-endpoint error, so 400 (RFC 8628 §3.5)."""

    status = 400


class AuthorizationPendingError(OAuthError):
    """Raised when a polled device code is not approved or denied yet."""

    code = "authorization_pending"


class SlowDownError(OAuthError):
    """Raised when a device code is polled sooner than its interval after the previous poll."""

    code = "slow_down"


class ExpiredTokenError(OAuthError):
    """Raised when a polled device code has expired by the mock clock."""

    code = "expired_token"


class InvalidDpopProofError(OAuthError):
    """Raised at the token endpoint when a DPoP proof is missing where required, malformed, or
    does not match the request, the time window, a fresh ``jti`` or the key a grant is bound to."""

    code = "invalid_dpop_proof"


class UseDpopNonceError(InvalidDpopProofError):
    """Raised when ``server.dpop_nonce`` is on and a proof lacks a current nonce; carries a fresh one."""

    code = "use_dpop_nonce"

    def __init__(self, nonce: str, description: str = "a DPoP proof with the server's nonce is required") -> None:
        super().__init__(description)
        self.dpop_nonce = nonce


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


ApiErrorType = Literal["SECURITY", "VALIDATION", "TECHNICAL", "BUSINESS"]


class ApiRuleError(OAuthError):
    """A refusal by one of OP's PSD2 business APIs (PIS, CoF, AIS): rendered as OP's ApiError with
    ``api_type`` and one violation of type ``violation`` at ``path`` (the body's field in error)."""

    code = "invalid_request"
    status = 400
    api_type: ApiErrorType = "VALIDATION"
    violation = "InvalidValue"

    def __init__(self, description: str, path: str | None = None) -> None:
        super().__init__(description)
        self.path = path


class ViolationError(ApiRuleError):
    """Raised when a field of a request body breaks a rule (``violation``: OP's violation type)."""

    def __init__(self, violation: str, description: str, path: str | None = None) -> None:
        super().__init__(description, path)
        self.violation = violation


class InvalidSignatureError(ApiRuleError):
    """Raised when ``x-jws-signature`` is missing, malformed, or does not verify over the body."""

    code = "invalid_signature"
    api_type = "SECURITY"
    violation = "InvalidSignature"


class IllegalStateError(ApiRuleError):
    """Raised when the status of a payment or authorization does not allow the action asked for."""

    code = "illegal_state"
    status = 409
    api_type = "BUSINESS"
    violation = "IllegalState"


class DuplicatePaymentError(IllegalStateError):
    """Raised when an idempotency key comes back with another body (or its payment has moved on)."""

    violation = "DuplicatePayment"


class InsufficientFundsError(ApiRuleError):
    """Raised when the payer account cannot cover a payment at submission."""

    code = "insufficient_funds"
    api_type = "BUSINESS"
    violation = "InsufficientFunds"


class PaymentFailedError(ApiRuleError):
    """Raised when a submission fails for a business reason (OP's sandbox ``PaymentFail``)."""

    code = "payment_failed"
    api_type = "BUSINESS"
    violation = "PaymentFail"


class AuthorizationRevokedError(ApiRuleError):
    """Raised when a PSU's token belongs to an authorization that was revoked (or has expired):
    OP answers 403 with ``errors: [{type: SECURITY, message: "Authorization ..."}]``."""

    code = "authorization_revoked"
    status = 403
    api_type = "SECURITY"
    violation = "Security"

    def __init__(self, authorization_id: str, status: str) -> None:
        super().__init__(f"Authorization {authorization_id} has expired" if status == "Expired"
                         else f"Authorization {authorization_id} has been revoked")
        self.authorization_id = authorization_id


class BearerError(OAuthError):
    """RFC 6750 errors of protected resources; rendered with ``WWW-Authenticate: Bearer`` (or
    ``DPoP``, RFC 9449 §7.1, when ``scheme`` says so)."""

    scheme: Literal["Bearer", "DPoP"] = "Bearer"
    resource_metadata: str | None = None  # RFC 9728 §5.1: where the resource's metadata is


class CustomBearerError(BearerError):
    """A scenario's ``error`` action at a protected resource (the stub, userinfo): an RFC 6750
    error with the challenge a real one carries."""

    def __init__(self, code: str, description: str = "", status: int = 401) -> None:
        super().__init__(description)
        self.code = code
        self.status = status


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


class DpopResourceError(BearerError):
    """Raised at a protected resource when the DPoP proof is bad (``invalid_dpop_proof``) or lacks
    the server's nonce (``use_dpop_nonce``): 401 with a ``DPoP`` challenge (RFC 9449 §7.1, §9)."""

    status = 401
    scheme: Literal["Bearer", "DPoP"] = "DPoP"

    def __init__(self, err: InvalidDpopProofError) -> None:
        super().__init__(err.description)
        self.code = err.code
        self.dpop_nonce = err.dpop_nonce


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
    "dpop_bound": "the token is DPoP-bound: send it with the DPoP scheme and a DPoP proof",
    "not_dpop_bound": "the token is not DPoP-bound: send it with the Bearer scheme",
    "dpop_key_mismatch": "the DPoP proof is signed by another key than the one the token is bound to",
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
