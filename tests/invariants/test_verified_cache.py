"""KeySet remembers signatures it checked, but only while the signing key is live."""

from __future__ import annotations

import pytest

from mock_op_auth.errors import InvalidTokenError
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import KeySet


@pytest.fixture(scope="module")
def keys_and_clock() -> tuple[KeySet, Clock]:
    clock = Clock()
    return KeySet("RS256", clock), clock


def test_a_token_verifies_again_from_the_cache_with_the_same_claims(keys_and_clock) -> None:
    keys, _ = keys_and_clock
    token = keys.sign({"sub": "alice", "aud": ["a", "b"]})
    first = keys.verify(token)
    first["sub"] = "mallory"  # a caller's change does not leak into the next answer
    assert keys.verify(token) == {"sub": "alice", "aud": ["a", "b"]}


def test_a_tampered_token_is_refused_after_the_original_was_cached(keys_and_clock) -> None:
    keys, _ = keys_and_clock
    token = keys.sign({"sub": "alice"})
    keys.verify(token)
    header, _, signature = token.split(".")
    forged = ".".join([header, keys.sign({"sub": "mallory"}).split(".")[1], signature])
    with pytest.raises(InvalidTokenError):
        keys.verify(forged)


def test_a_cached_token_fails_once_its_key_is_retired() -> None:
    clock = Clock()
    keys = KeySet("ES256", clock)
    token = keys.sign({"sub": "alice"})
    keys.verify(token)
    keys.rotate(keep_for=10)
    assert keys.verify(token) == {"sub": "alice"}
    clock.advance(11)
    with pytest.raises(InvalidTokenError):
        keys.verify(token)
