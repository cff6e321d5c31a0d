"""Signing keys and JOSE: the only module that imports ``jose``.

Keys are built once (``jwk.construct`` per call re-parses a PEM and costs milliseconds).
Verification pins the algorithm to the key's own: ``none``, HMAC with a public key, or any
algorithm this server does not sign with never verifies (RFC 8725 §3.1). Rotation keeps the
old key in the JWKS until every token it signed has expired (RFC 7517, DESIGN §3).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jose import jwk, jws
from jose.backends.cryptography_backend import CryptographyRSAKey
from jose.exceptions import JOSEError, JWKError

from mock_op_auth.clock import Clock
from mock_op_auth.errors import InvalidTokenError
from mock_op_auth.json_input import parse_json

SUPPORTED_ALGS = ("RS256", "ES256", "PS256")


class _PS256Key(CryptographyRSAKey):
    """RSASSA-PSS with SHA-256 (RFC 7518 §3.5), which python-jose lacks; OP's PSD2 profile allows it."""

    _PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

    def __init__(self, key: Any, algorithm: str = "PS256") -> None:
        super().__init__(key, "RS256")
        self._algorithm = "PS256"

    def sign(self, msg: bytes) -> bytes:
        try:
            return self.prepared_key.sign(msg, self._PSS, hashes.SHA256())
        except Exception as err:
            raise JWKError(err) from err

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            self.public_key().prepared_key.verify(sig, msg, self._PSS, hashes.SHA256())
            return True
        except InvalidSignature:
            return False


jwk.register_key("PS256", _PS256Key)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any  # jose Key
    public: Any  # jose Key
    public_jwk: dict[str, Any]
    private_pem: bytes
    retire_at: float | None = None  # None: the current key; else dropped from JWKS after this


def generate_key(alg: str) -> SigningKey:
    """A fresh key pair for ``alg``; ``kid`` is the RFC 7638 thumbprint of the public key."""
    if alg == "ES256":
        private: Any = ec.generate_private_key(ec.SECP256R1())
    elif alg in ("RS256", "PS256"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(f"unsupported signing algorithm {alg}")
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # Hand jose the key object: re-parsing the PEM would re-validate the RSA key (~30 ms).
    return _signing_key(jwk.construct(private, alg), pem, alg)


def key_from_pem(pem: bytes, alg: str, retire_at: float | None = None) -> SigningKey:
    return _signing_key(jwk.construct(pem, alg), pem, alg, retire_at)


def _signing_key(private: Any, pem: bytes, alg: str, retire_at: float | None = None) -> SigningKey:
    public = private.public_key()
    public_jwk = {k: v for k, v in public.to_dict().items() if k in ("kty", "n", "e", "crv", "x", "y")}
    kid = thumbprint(public_jwk)
    return SigningKey(kid=kid, alg=alg, private=private, public=public,
                      public_jwk={**public_jwk, "kid": kid, "alg": alg, "use": "sig"},
                      private_pem=pem, retire_at=retire_at)


def thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    members = ("crv", "kty", "x", "y") if public_jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: public_jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def half_hash(value: str) -> str:
    """OIDC ``at_hash``/``c_hash``/``s_hash``: left half of SHA-256, base64url (OIDC Core §3.3.2.11)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])


def unverified_header(token: str) -> dict[str, Any]:
    try:
        parse_json(_unb64(token.partition(".")[0]))  # nesting bounded before python-jose parses the header
        header = jws.get_unverified_header(token)
    except (JOSEError, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidTokenError("malformed") from None
    if not isinstance(header, dict):
        raise InvalidTokenError("malformed")
    return header


def _payload(raw: bytes) -> dict[str, Any]:
    try:
        claims = parse_json(raw)
    except ValueError:
        raise InvalidTokenError("malformed") from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("malformed")
    return claims


class KeySet:
    """The server's signing keys: one current, older ones kept until their tokens expire."""

    VERIFIED_CACHE = 1024

    def __init__(self, alg: str, clock: Clock, keys: list[SigningKey] | None = None) -> None:
        self.alg = alg
        self._clock = clock
        self._keys: list[SigningKey] = [k for k in keys or [] if k.alg == alg] or [generate_key(alg)]
        self._stranger: SigningKey | None = None  # signs forged tokens; made on first use, never published
        # token -> (kid, claims) of signatures already checked: a resource stub sees the same token
        # again and again, and an RSA check plus JOSE parsing is most of its time. Entries count only
        # while their key is live; times, issuer and revocation are checked by the caller every time.
        self._verified: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()

    @property
    def current(self) -> SigningKey:
        return self._keys[-1]

    def all(self) -> list[SigningKey]:
        return list(self._keys)

    def live(self) -> list[SigningKey]:
        now = self._clock.now()
        self._keys = [k for k in self._keys if k.retire_at is None or k.retire_at > now]
        return list(self._keys)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.live()]}

    def sign(self, claims: Mapping[str, Any], typ: str = "JWT", key: SigningKey | None = None) -> str:
        key = key or self.current
        if key.alg == "RS256":
            return sign_rs256(claims, key, typ)
        headers = {"typ": typ, "kid": key.kid}
        return jws.sign(dict(claims), key.private, headers=headers, algorithm=key.alg)

    def forge(self, token: str, defect: str) -> str:
        """One of our tokens with a broken signature (see ``forge``); ``unknown_kid`` uses a key of our alg."""
        if defect != "unknown_kid":
            return forge(token, defect)
        if self._stranger is None:
            self._stranger = generate_key(self.alg)
        return forge(token, defect, self._stranger)

    def rotate(self, keep_for: float) -> SigningKey:
        """Make a new current key; the old one stays in the JWKS for ``keep_for`` seconds."""
        retire_at = self._clock.now() + keep_for
        self._keys = [k if k.retire_at is not None else _retired(k, retire_at) for k in self.live()]
        self._keys.append(generate_key(self.alg))
        return self.current

    def verify(self, token: str) -> dict[str, Any]:
        """Check the signature of one of our tokens and return its claims (time is checked by the caller)."""
        keys = self.live()
        cached = self._verified.get(token)
        if cached is not None and any(k.kid == cached[0] for k in keys):
            return dict(cached[1])
        kid, claims = self._verify(token, keys)
        self._verified[token] = (kid, dict(claims))
        while len(self._verified) > self.VERIFIED_CACHE:
            self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str, keys: list[SigningKey]) -> tuple[str, dict[str, Any]]:
        header = unverified_header(token)
        alg = header.get("alg")
        if alg not in {k.alg for k in keys}:
            raise InvalidTokenError("bad_algorithm")
        key = next((k for k in keys if k.kid == header.get("kid")), None)
        if key is None:
            raise InvalidTokenError("unknown_kid")
        try:
            payload = jws.verify(token, key.public, algorithms=[key.alg])
        except (JOSEError, ValueError, TypeError):
            raise InvalidTokenError("bad_signature") from None
        return key.kid, _payload(payload)


_PKCS1 = padding.PKCS1v15()


def sign_rs256(claims: Mapping[str, Any], key: SigningKey, typ: str) -> str:
    """The compact JWS ``jws.sign`` makes for RS256, byte for byte (sorted header, compact JSON,
    deterministic PKCS#1 v1.5), without python-jose's per-call overhead (~10% of an issuance)."""
    header = json.dumps({"alg": "RS256", "kid": key.kid, "typ": typ}, separators=(",", ":"), sort_keys=True)
    signing_input = f"{b64url(header.encode())}.{b64url(json.dumps(dict(claims), separators=(',', ':')).encode())}"
    signature = key.private.prepared_key.sign(signing_input.encode("ascii"), _PKCS1, hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def forge(token: str, defect: str, throwaway: SigningKey | None = None) -> str:
    """Break a compact JWS this server signed, for tests that a verifier refuses it (RFC 8725 §3.1).

    ``bad_signature`` flips bits of the signature; ``unknown_kid`` re-signs header and payload
    with ``throwaway`` (a key that is in no JWKS) under its own kid; ``alg_none`` drops the
    signature and says ``"alg": "none"`` (RFC 7518 §3.6). The claims are left as they were.
    """
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = unverified_header(token)
    if defect == "bad_signature":
        signature = bytearray(_unb64(signature_b64))
        signature[0] ^= 0xFF
        signature[-1] ^= 0xFF
        return f"{header_b64}.{payload_b64}.{b64url(bytes(signature))}"
    claims = _payload(_unb64(payload_b64))
    if defect == "unknown_kid" and throwaway is not None:
        return jws.sign(claims, throwaway.private, headers={"typ": header.get("typ", "JWT"), "kid": throwaway.kid},
                        algorithm=throwaway.alg)
    if defect == "alg_none":
        unsigned = {"alg": "none", "typ": header.get("typ", "JWT"), "kid": header.get("kid")}
        return f"{b64url(json.dumps(unsigned, separators=(',', ':')).encode())}.{payload_b64}."
    raise ValueError(f"cannot forge {defect}" + (" without a throwaway key" if defect == "unknown_kid" else ""))


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _retired(key: SigningKey, retire_at: float) -> SigningKey:
    return SigningKey(key.kid, key.alg, key.private, key.public, key.public_jwk, key.private_pem, retire_at)


def verify_with_jwks(token: str, jwks: Mapping[str, Any], algorithms: tuple[str, ...] = SUPPORTED_ALGS
                     ) -> dict[str, Any]:
    """Verify a JWT a client signed (a PSD2 request object) against the client's registered JWKS."""
    header = unverified_header(token)
    alg = header.get("alg")
    if alg not in algorithms:
        raise InvalidTokenError("bad_algorithm")
    candidates = [k for k in jwks.get("keys", []) if isinstance(k, dict)
                  and (header.get("kid") is None or k.get("kid") == header.get("kid"))]
    if not candidates:
        raise InvalidTokenError("unknown_kid")
    for candidate in candidates:
        if candidate.get("alg") not in (None, alg):
            continue
        try:
            key = jwk.construct(candidate, alg)
            return _payload(jws.verify(token, key, algorithms=[alg]))
        except (JOSEError, ValueError, TypeError, KeyError):
            continue
    raise InvalidTokenError("bad_signature")


def sign_with_pem(claims: Mapping[str, Any], pem: bytes, alg: str, headers: Mapping[str, Any]) -> str:
    """Sign with an arbitrary key (tests, request objects, deliberately broken tokens)."""
    return jws.sign(dict(claims), jwk.construct(pem, alg), headers=dict(headers), algorithm=alg)


ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@lru_cache(maxsize=16)
def _byte_table(alphabet: str) -> tuple[bytes, bytes]:
    """``bytes.translate`` arguments mapping a random byte to a character, uniformly: bytes past the
    largest multiple of the alphabet's size are deleted (rejection sampling, no modulo bias)."""
    size = len(alphabet)
    cutoff = 256 - 256 % size
    table = bytes(ord(alphabet[b % size]) for b in range(256))
    return table, bytes(range(cutoff, 256))


def random_token(length: int, alphabet: str | None = None) -> str:
    """An opaque token: ``length`` characters, alphanumeric unless an alphabet is given."""
    chars = alphabet or ALPHANUMERIC
    if not chars.isascii() or len(chars) > 256:
        return "".join(secrets.choice(chars) for _ in range(length))
    table, rejected = _byte_table(chars)
    out = b""
    while len(out) < length:
        out += secrets.token_bytes(length + 16).translate(table, rejected)
    return out[:length].decode("ascii")
