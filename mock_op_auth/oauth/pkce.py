"""PKCE (RFC 7636) as pure functions; only the authorization-code grant calls them."""

from __future__ import annotations

import hashlib
import hmac
import re

from mock_op_auth.errors import InvalidGrantError, InvalidRequestError
from mock_op_auth.state.keys import b64url

METHODS = ("S256", "plain")
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def check_challenge(challenge: str | None, method: str | None, required: bool) -> tuple[str | None, str | None]:
    """Validate an authorization request's challenge; return (challenge, method) to store."""
    if challenge is None:
        if method is not None:
            raise InvalidRequestError("code_challenge_method without code_challenge")
        if required:
            raise InvalidRequestError("this client must use PKCE: code_challenge is required")
        return None, None
    method = method or "plain"  # RFC 7636 §4.3
    if method not in METHODS:
        raise InvalidRequestError(f"unsupported code_challenge_method {method}")
    if not _VERIFIER.match(challenge):
        raise InvalidRequestError("code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")
    return challenge, method


def verify(verifier: str | None, challenge: str | None, method: str | None) -> None:
    """Check a token request's verifier against the stored challenge (RFC 7636 §4.6)."""
    if challenge is None:
        if verifier is not None:
            raise InvalidGrantError("code_verifier sent, but the authorization request had no code_challenge",
                                    reason="pkce")
        return
    if verifier is None:
        raise InvalidGrantError("code_verifier is required", reason="pkce")
    if not _VERIFIER.match(verifier):
        raise InvalidGrantError("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]", reason="pkce")
    expected = b64url(hashlib.sha256(verifier.encode("ascii")).digest()) if method == "S256" else verifier
    if not hmac.compare_digest(expected, challenge):
        raise InvalidGrantError("code_verifier does not match the code_challenge", reason="pkce")
