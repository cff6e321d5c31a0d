"""The RS256 fast path signs exactly what python-jose would, so every verifier sees the same token."""

from __future__ import annotations

import jwt as pyjwt
from jose import jws

from mock_op_auth.state.clock import Clock
from mock_op_auth.state.keys import KeySet, generate_key, sign_rs256


def test_rs256_tokens_are_byte_identical_to_jose() -> None:
    key = generate_key("RS256")
    claims = {"iss": "http://mock.test", "sub": "\u00e9l\u00e8ve", "aud": ["a", "b"], "exp": 1.5, "x": None,
              "nested": {"z": 1, "a": [1, 2]}}
    for typ in ("JWT", "at+jwt"):
        expected = jws.sign(dict(claims), key.private, headers={"typ": typ, "kid": key.kid}, algorithm="RS256")
        assert sign_rs256(claims, key, typ) == expected


def test_keyset_rs256_tokens_verify_with_an_independent_library() -> None:
    keys = KeySet("RS256", Clock())
    token = keys.sign({"sub": "alice"}, typ="at+jwt")
    public = pyjwt.PyJWK(keys.current.public_jwk).key
    assert pyjwt.decode(token, public, algorithms=["RS256"]) == {"sub": "alice"}
    assert pyjwt.get_unverified_header(token) == {"alg": "RS256", "kid": keys.current.kid, "typ": "at+jwt"}
