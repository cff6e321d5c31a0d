"""PKCE (RFC 7636) as the pure functions the authorization endpoint and the code grant call."""

from __future__ import annotations

import base64
import hashlib

import pytest

from mock_op_auth.errors import InvalidGrantError, InvalidRequestError
from mock_op_auth.oauth import pkce

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_rfc_appendix_b_example_verifies() -> None:
    digest = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
    assert digest == CHALLENGE
    assert pkce.check_challenge(CHALLENGE, "S256", required=True) == (CHALLENGE, "S256")
    pkce.verify(VERIFIER, CHALLENGE, "S256")


def test_the_method_defaults_to_plain() -> None:
    assert pkce.check_challenge(VERIFIER, None, required=False) == (VERIFIER, "plain")
    pkce.verify(VERIFIER, VERIFIER, "plain")


@pytest.mark.parametrize(("challenge", "method", "required"), [
    (None, None, True), (None, "S256", False), (CHALLENGE, "S512", False), ("short", "S256", False),
    ("x" * 129, "plain", False), ("has space" + "x" * 40, "plain", False),
])
def test_a_bad_challenge_is_invalid_request(challenge: str | None, method: str | None, required: bool) -> None:
    with pytest.raises(InvalidRequestError):
        pkce.check_challenge(challenge, method, required=required)


def test_no_challenge_is_fine_when_not_required() -> None:
    assert pkce.check_challenge(None, None, required=False) == (None, None)
    pkce.verify(None, None, None)


@pytest.mark.parametrize(("verifier", "challenge", "method"), [
    (None, CHALLENGE, "S256"), (VERIFIER, None, None), ("short", CHALLENGE, "S256"),
    (VERIFIER[:-1] + "Y", CHALLENGE, "S256"), (CHALLENGE, CHALLENGE, "S256"), (VERIFIER, CHALLENGE, "plain"),
])
def test_a_wrong_verifier_is_invalid_grant(verifier: str | None, challenge: str | None, method: str | None) -> None:
    with pytest.raises(InvalidGrantError) as err:
        pkce.verify(verifier, challenge, method)
    assert err.value.reason == "pkce"
