"""DPoP proofs (RFC 9449 §4.2) made by hand with PyJWT, right or wrong in exactly one way."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class ProofKey:
    """A client's DPoP key pair: ES256 on P-256, or RSA for RS256 and PS256."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        if alg == "ES256":
            self.private: Any = ec.generate_private_key(ec.SECP256R1())
            numbers = self.private.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
                        "y": b64url(numbers.y.to_bytes(32, "big"))}
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            numbers = self.private.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": _int(numbers.n), "e": _int(numbers.e)}

    @property
    def jkt(self) -> str:
        """RFC 7638 thumbprint: SHA-256 over the required members, sorted, no whitespace."""
        required = ("crv", "kty", "x", "y") if self.jwk["kty"] == "EC" else ("e", "kty", "n")
        canonical = json.dumps({k: self.jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
        return b64url(hashlib.sha256(canonical.encode()).digest())

    def proof(self, htm: str, htu: str, *, token: str | None = None, iat: float | None = None,
              nonce: str | None = None, jti: str | None = None, typ: str = "dpop+jwt",
              jwk: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **claims: Any) -> str:
        body: dict[str, Any] = {"jti": jti or str(uuid.uuid4()), "htm": htm, "htu": htu,
                                "iat": int(time.time() if iat is None else iat), **claims}
        if token is not None:
            body["ath"] = ath(token)
        if nonce is not None:
            body["nonce"] = nonce
        for name in drop:
            body.pop(name, None)
        return jwt.encode(body, self.private, algorithm=self.alg, headers={"typ": typ, "jwk": jwk or self.jwk})


def ath(token: str) -> str:
    return b64url(hashlib.sha256(token.encode()).digest())


def unsigned(htm: str, htu: str, jwk: dict[str, Any]) -> str:
    """A proof with ``alg: none`` and no signature."""
    header = b64url(json.dumps({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}).encode())
    payload = b64url(json.dumps({"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}).encode())
    return f"{header}.{payload}."
