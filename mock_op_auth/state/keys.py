"""Signing keys and JOSE: the only module that signs or verifies a JWS.

The server's own tokens are signed and verified through one table of signers over
``cryptography`` keys (RS256, PS256, ES256): a compact JWS byte-identical to python-jose's for
the deterministic RS256 (tested), without jose's per-call overhead (about 10% of an issuance).
JWTs a client signed (PSD2 request objects, assertions) are verified with python-jose against
the client's JWKS; jose lacks PS256, so ``_PS256Key`` is registered with it through jose's own
extension point (``jwk.register_key``).

Verification pins the algorithm to the key's own: ``none``, HMAC with a public key, or any
algorithm this server does not sign with never verifies (RFC 8725 §3.1). Rotation keeps the
old key in the JWKS until every token it signed has expired (RFC 7517, DESIGN §3).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from jose import jwk, jws
from jose.backends.cryptography_backend import CryptographyRSAKey
from jose.exceptions import JOSEError, JWKError

from mock_op_auth.errors import InvalidTokenError
from mock_op_auth.json_input import parse_json
from mock_op_auth.state.clock import Clock

SUPPORTED_ALGS = ("RS256", "ES256", "PS256")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class Signer:
    """One JWS algorithm (RFC 7518 §3) over cryptography's keys."""

    sign: Callable[[Any, bytes], bytes]
    verify: Callable[[Any, bytes, bytes], None]  # raises InvalidSignature


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_PKCS1 = padding.PKCS1v15()
_EC_SIZE = 32  # P-256: r and s are 32 bytes each in a JWS (RFC 7518 §3.4)


def _es256_sign(key: Any, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(_EC_SIZE, "big") + s.to_bytes(_EC_SIZE, "big")


def _es256_verify(key: Any, data: bytes, signature: bytes) -> None:
    if len(signature) != 2 * _EC_SIZE:
        raise InvalidSignature
    r, s = int.from_bytes(signature[:_EC_SIZE], "big"), int.from_bytes(signature[_EC_SIZE:], "big")
    key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))


SIGNERS: dict[str, Signer] = {
    "RS256": Signer(lambda key, data: key.sign(data, _PKCS1, hashes.SHA256()),
                    lambda key, data, sig: key.verify(sig, data, _PKCS1, hashes.SHA256())),
    "PS256": Signer(lambda key, data: key.sign(data, _PSS, hashes.SHA256()),
                    lambda key, data, sig: key.verify(sig, data, _PSS, hashes.SHA256())),
    "ES256": Signer(_es256_sign, _es256_verify),
}


class _PS256Key(CryptographyRSAKey):
    """RSASSA-PSS with SHA-256 (RFC 7518 §3.5) for python-jose, which lacks it; OP's PSD2 profile
    allows it in clients' request objects. Relies on jose's ``prepared_key`` (the cryptography key)."""

    def __init__(self, key: Any, algorithm: str = "PS256") -> None:
        super().__init__(key, "RS256")
        self._algorithm = "PS256"

    def sign(self, msg: bytes) -> bytes:
        try:
            return SIGNERS["PS256"].sign(self.prepared_key, msg)
        except Exception as err:
            raise JWKError(err) from err

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            SIGNERS["PS256"].verify(self.public_key().prepared_key, msg, sig)
            return True
        except InvalidSignature:
            return False


jwk.register_key("PS256", _PS256Key)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey
    public: PublicKey
    public_jwk: dict[str, Any]
    private_pem: bytes
    retire_at: float | None = None  # None: the current key; else dropped from JWKS after this

    def public_pem(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


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
    return _signing_key(private, pem, alg)


class KeyPool:
    """Keys made ahead, on a background thread: a namespace (one per test, for the pytest plugin
    against a running server) or a rotation takes one at once instead of waiting for an RSA key
    (about 50 ms, 11-150 ms here). It starts filling once a second key of an algorithm is asked
    for: a server that never makes more than its first (most of them) spends no CPU on keys it
    will not use, at start-up least of all. Key generation releases the GIL, so the event loop
    keeps serving meanwhile. One pool per root server, shared by its namespaces."""

    def __init__(self, size: int = 2) -> None:
        self._size = size
        self._keys: dict[str, list[SigningKey]] = {}
        self._filling: set[str] = set()
        self._taken: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, alg: str) -> SigningKey:
        """A fresh key of ``alg`` (never handed out twice); made here when the pool has none ready."""
        with self._lock:
            ready = self._keys.get(alg)
            key = ready.pop() if ready else None
            self._taken[alg] = taken = self._taken.get(alg, 0) + 1
        if taken > 1:
            self._refill(alg)
        return key if key is not None else generate_key(alg)

    def ready(self, alg: str) -> int:
        with self._lock:
            return len(self._keys.get(alg, ()))

    def _refill(self, alg: str) -> None:
        with self._lock:
            if alg in self._filling or len(self._keys.get(alg, ())) >= self._size:
                return
            self._filling.add(alg)
        threading.Thread(target=self._fill, args=(alg,), name=f"mock-op-auth-keys-{alg}", daemon=True).start()

    def _fill(self, alg: str) -> None:
        try:
            while True:
                with self._lock:
                    if len(self._keys.setdefault(alg, [])) >= self._size:
                        return
                key = generate_key(alg)
                with self._lock:
                    self._keys[alg].append(key)
        finally:
            with self._lock:
                self._filling.discard(alg)


def new_key(alg: str, pool: KeyPool | None) -> SigningKey:
    """A fresh key: from ``pool`` when there is one (made ahead), else made now."""
    return pool.take(alg) if pool is not None else generate_key(alg)


def key_from_pem(pem: bytes, alg: str, retire_at: float | None = None) -> SigningKey:
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"a {type(private).__name__} cannot sign {alg}")
    return _signing_key(private, pem, alg, retire_at)


def _signing_key(private: PrivateKey, pem: bytes, alg: str, retire_at: float | None = None) -> SigningKey:
    public = private.public_key()
    public_jwk = _public_jwk(public)
    kid = thumbprint(public_jwk)
    return SigningKey(kid=kid, alg=alg, private=private, public=public,
                      public_jwk={**public_jwk, "kid": kid, "alg": alg, "use": "sig"},
                      private_pem=pem, retire_at=retire_at)


def _public_jwk(public: PublicKey) -> dict[str, Any]:
    """The public members of a JWK (RFC 7518 §6.2.1, §6.3.1)."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(_EC_SIZE, "big")),
                "y": b64url(numbers.y.to_bytes(_EC_SIZE, "big"))}
    rsa_numbers = public.public_numbers()
    return {"kty": "RSA", "n": b64url(_int_bytes(rsa_numbers.n)), "e": b64url(_int_bytes(rsa_numbers.e))}


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    members = ("crv", "kty", "x", "y") if public_jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: public_jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def sign_compact(claims: Mapping[str, Any], key: SigningKey, typ: str) -> str:
    """A compact JWS as ``jws.sign`` makes it (sorted compact header, compact JSON payload)."""
    header = json.dumps({"alg": key.alg, "kid": key.kid, "typ": typ}, separators=(",", ":"), sort_keys=True)
    signing_input = f"{b64url(header.encode())}.{b64url(json.dumps(dict(claims), separators=(',', ':')).encode())}"
    signature = SIGNERS[key.alg].sign(key.private, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


def sign_rs256(claims: Mapping[str, Any], key: SigningKey, typ: str) -> str:
    """RS256 through the signer table; byte-identical to python-jose's output (deterministic PKCS#1 v1.5)."""
    if key.alg != "RS256":
        raise ValueError(f"{key.kid} is an {key.alg} key")
    return sign_compact(claims, key, typ)


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
    """The server's signing keys: one current, older ones kept until their tokens expire.

    Used from one event loop: ``_verified`` is a plain OrderedDict, not locked."""

    VERIFIED_CACHE = 1024

    def __init__(self, alg: str, clock: Clock, keys: list[SigningKey] | None = None,
                 pool: KeyPool | None = None) -> None:
        self.alg = alg
        self._clock = clock
        self._pool = pool
        self._keys: list[SigningKey] = [k for k in keys or [] if k.alg == alg] or [new_key(alg, pool)]
        self._stranger: SigningKey | None = None  # signs forged tokens; made on first use, never published
        # token -> (kid, claims) of signatures already checked: a resource stub sees the same token
        # again and again, and an RSA check plus JSON parsing is most of its time. Entries count only
        # while their key is live; times, issuer and revocation are checked by the caller every time.
        self._verified: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()

    @property
    def current(self) -> SigningKey:
        return self._keys[-1]

    def all(self) -> list[SigningKey]:
        return list(self._keys)

    def live(self) -> list[SigningKey]:
        """The keys in the JWKS now: the current one and those not yet retired by the clock."""
        now = self._clock.now()
        return [k for k in self._keys if k.retire_at is None or k.retire_at > now]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.live()]}

    def sign(self, claims: Mapping[str, Any], typ: str = "JWT", key: SigningKey | None = None) -> str:
        return sign_compact(claims, key or self.current, typ)

    def forge(self, token: str, defect: str) -> str:
        """One of our tokens with a broken signature (see ``forge``); ``unknown_kid`` uses a key of our alg."""
        if defect != "unknown_kid":
            return forge(token, defect)
        if self._stranger is None:
            self._stranger = generate_key(self.alg)
        return forge(token, defect, self._stranger)

    def rotate(self, keep_for: float) -> SigningKey:
        """Make a new current key; the old one stays in the JWKS for ``keep_for`` seconds.
        Keys retired already are dropped here, the one place the list changes."""
        retire_at = self._clock.now() + keep_for
        self._keys = [k if k.retire_at is not None else replace(k, retire_at=retire_at) for k in self.live()]
        self._keys.append(new_key(self.alg, self._pool))
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

    @staticmethod
    def _verify(token: str, keys: list[SigningKey]) -> tuple[str, dict[str, Any]]:
        header = unverified_header(token)
        alg = header.get("alg")
        if alg not in {k.alg for k in keys}:
            raise InvalidTokenError("bad_algorithm")
        key = next((k for k in keys if k.kid == header.get("kid")), None)
        if key is None:
            raise InvalidTokenError("unknown_kid")
        signing_input, _, signature = token.rpartition(".")
        try:
            SIGNERS[key.alg].verify(key.public, signing_input.encode("ascii"), _unb64(signature))
        except (InvalidSignature, ValueError):
            raise InvalidTokenError("bad_signature") from None
        return key.kid, _payload(_unb64(signing_input.partition(".")[2]))


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
        return sign_compact(claims, throwaway, header.get("typ", "JWT"))
    if defect == "alg_none":
        unsigned = {"alg": "none", "typ": header.get("typ", "JWT"), "kid": header.get("kid")}
        return f"{b64url(json.dumps(unsigned, separators=(',', ':')).encode())}.{payload_b64}."
    raise ValueError(f"cannot forge {defect}" + (" without a throwaway key" if defect == "unknown_kid" else ""))


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192  # a bigger key from a client only costs us time to verify
MAX_RSA_EXPONENT_BITS = 32


def public_key_from_jwk(public_jwk: Mapping[str, Any]) -> PublicKey:
    """The public key a JWK names (RSA, or EC on P-256): a JWK with private members, another key
    type or curve, or a malformed member is refused with ValueError."""
    if PRIVATE_JWK_MEMBERS & public_jwk.keys():
        raise ValueError("the JWK holds private key material")
    try:
        if public_jwk.get("kty") == "EC":
            if public_jwk.get("crv") != "P-256":
                raise ValueError("only EC keys on P-256 are accepted")
            x, y = (int.from_bytes(_unb64_strict(public_jwk[m], _EC_SIZE), "big") for m in ("x", "y"))
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        if public_jwk.get("kty") == "RSA":
            n = int.from_bytes(_unb64_strict(public_jwk["n"]), "big")
            e = int.from_bytes(_unb64_strict(public_jwk["e"]), "big")
            if not MIN_RSA_BITS <= n.bit_length() <= MAX_RSA_BITS:
                raise ValueError(f"RSA keys need {MIN_RSA_BITS} to {MAX_RSA_BITS} bits")
            if e < 3 or e % 2 == 0 or e.bit_length() > MAX_RSA_EXPONENT_BITS:
                raise ValueError("the RSA public exponent is not a small odd number")
            return rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"malformed JWK: {err}") from None
    raise ValueError("the JWK is neither an RSA nor an EC key")


def _unb64_strict(value: Any, size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value or "=" in value:
        raise ValueError("a JWK member is not base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise ValueError("a JWK member is not base64url") from None
    if size is not None and len(raw) != size:
        raise ValueError("a JWK coordinate has the wrong length")
    return raw


def verify_with_jwk(token: str, public_jwk: Mapping[str, Any], alg: str) -> dict[str, Any]:
    """Verify a compact JWS with the public key ``public_jwk`` (a DPoP proof's own ``jwk`` header) and
    return its claims. ``alg`` must be one of ours and fit the key's type; otherwise, or when the
    signature does not verify, InvalidTokenError."""
    if alg not in SIGNERS:
        raise InvalidTokenError("bad_algorithm")
    try:
        key = public_key_from_jwk(public_jwk)
    except ValueError as err:
        raise InvalidTokenError("malformed", str(err)) from None
    if isinstance(key, ec.EllipticCurvePublicKey) != (alg == "ES256"):
        raise InvalidTokenError("bad_algorithm", f"{alg} does not fit a {public_jwk.get('kty')} key")
    signing_input, _, signature = token.rpartition(".")
    try:
        SIGNERS[alg].verify(key, signing_input.encode("ascii"), _unb64(signature))
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        raise InvalidTokenError("bad_signature") from None
    try:
        return _payload(_unb64(signing_input.partition(".")[2]))
    except ValueError:
        raise InvalidTokenError("malformed") from None


def _candidate_keys(jwks: Mapping[str, Any], header: Mapping[str, Any], alg: str) -> list[dict[str, Any]]:
    """The keys of ``jwks`` that may have made a JWS with ``header``: its ``kid`` (when it names one)
    and no other ``alg``; ``unknown_kid`` when no key has that kid."""
    named = [k for k in jwks.get("keys", []) if isinstance(k, dict)
             and (header.get("kid") is None or k.get("kid") == header.get("kid"))]
    if not named:
        raise InvalidTokenError("unknown_kid")
    return [k for k in named if k.get("alg") in (None, alg)]


def verify_with_jwks(token: str, jwks: Mapping[str, Any], algorithms: tuple[str, ...] = SUPPORTED_ALGS
                     ) -> dict[str, Any]:
    """Verify a JWT a client signed (a PSD2 request object) against the client's registered JWKS."""
    header = unverified_header(token)
    alg = header.get("alg")
    if alg not in algorithms:
        raise InvalidTokenError("bad_algorithm")
    for candidate in _candidate_keys(jwks, header, alg):
        try:
            key = jwk.construct(candidate, alg)
            return _payload(jws.verify(token, key, algorithms=[alg]))
        except (JOSEError, ValueError, TypeError, KeyError):
            continue
    raise InvalidTokenError("bad_signature")


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified: only to find whose key should verify it."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError("malformed")
    try:
        return _payload(_unb64(parts[1]))
    except (ValueError, TypeError):
        raise InvalidTokenError("malformed") from None


def verify_hs256(token: str, secret: str) -> dict[str, Any]:
    """Verify an HS256 JWS made with a client's secret (OIDC Core §9 ``client_secret_jwt``); the
    header must say HS256, so a token signed with anything else never verifies here."""
    if unverified_header(token).get("alg") != "HS256":
        raise InvalidTokenError("bad_algorithm")
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
    except ValueError:
        raise InvalidTokenError("bad_signature") from None
    if not hmac.compare_digest(given, expected):
        raise InvalidTokenError("bad_signature")
    return unverified_claims(token)


# Critical header parameters a detached JWS may carry (RFC 7515 §4.1.11): RFC 7797's b64, Open
# Banking UK's message-signing claims and OP Corporate's issue time. Any other is refused.
KNOWN_CRIT = frozenset({"b64", "urn:op.api.iat", "http://openbanking.org.uk/iat", "http://openbanking.org.uk/iss",
                        "http://openbanking.org.uk/tan"})


def verify_detached(signature: str, payload: bytes, jwks: Mapping[str, Any],
                    algorithms: tuple[str, ...] = SUPPORTED_ALGS) -> dict[str, Any]:
    """Verify a detached JWS (RFC 7515 Appendix F: ``header..signature``) over ``payload``, the
    exact bytes it signs, with a key of ``jwks``; ``b64: false`` (RFC 7797) signs them unencoded.
    Returns the protected header. Raises InvalidTokenError with the reason."""
    parts = signature.strip().split(".")
    if len(parts) != 3 or parts[1] or not parts[0] or not parts[2]:
        raise InvalidTokenError("malformed", "not a detached JWS (header..signature)")
    header = unverified_header(f"{parts[0]}..")
    alg = header.get("alg")
    if alg not in algorithms:
        raise InvalidTokenError("bad_algorithm")
    crit = header.get("crit", [])
    if not isinstance(crit, list) or any(c not in KNOWN_CRIT or c not in header for c in crit):
        raise InvalidTokenError("malformed", "the JWS names a critical header parameter it does not carry "
                                             "or that is not understood")
    encoded = header.get("b64", True)
    if encoded is not True and (encoded is not False or "b64" not in crit):
        raise InvalidTokenError("malformed", "b64 must be a boolean, and b64: false must be listed in crit")
    body = b64url(payload).encode("ascii") if encoded else payload
    signing_input = parts[0].encode("ascii") + b"." + body
    try:
        raw_signature = _unb64(parts[2])
    except ValueError:
        raise InvalidTokenError("malformed") from None
    for candidate in _candidate_keys(jwks, header, alg):
        try:
            if jwk.construct(candidate, alg).verify(signing_input, raw_signature):
                return header
        except (JOSEError, ValueError, TypeError, KeyError):
            continue
    raise InvalidTokenError("bad_signature")


def sign_detached(payload: bytes, key: SigningKey) -> str:
    """A detached JWS over ``payload`` (``header..signature``, the payload base64url-encoded)."""
    header = b64url(json.dumps({"alg": key.alg, "kid": key.kid}, separators=(",", ":"), sort_keys=True).encode())
    signature = SIGNERS[key.alg].sign(key.private, f"{header}.{b64url(payload)}".encode("ascii"))
    return f"{header}..{b64url(signature)}"


def sign_with_pem(claims: Mapping[str, Any], pem: bytes, alg: str, headers: Mapping[str, Any]) -> str:
    """Sign with an arbitrary key (tests, request objects, deliberately broken tokens)."""
    return jws.sign(dict(claims), jwk.construct(pem, alg), headers=dict(headers), algorithm=alg)


class SharedKeySet(KeySet):
    """The keys of processes sharing a store: the first process on an empty store creates the key
    and the others adopt it; a rotation is one transaction of the store; ``reload`` (called by
    ``Server.sync`` when the store's key version moves) takes the keys another process rotated."""

    def __init__(self, alg: str, clock: Clock, state: Any, initial: SigningKey | None = None,
                 pool: KeyPool | None = None) -> None:
        rows = state.signing_keys(alg)
        if not any(retire_at is None for _, retire_at in rows):
            key = initial if initial is not None and initial.alg == alg else new_key(alg, pool)
            state.init_keys(alg, key.private_pem, key.kid)
            rows = state.signing_keys(alg)
        super().__init__(alg, clock, [key_from_pem(pem, alg, retire_at) for pem, retire_at in rows], pool)
        self._state = state

    def reload(self) -> None:
        rows = self._state.signing_keys(self.alg)
        if not any(retire_at is None for _, retire_at in rows):
            # The store lost its keys (a Redis restarted empty): this process's current key goes
            # back, so the tokens every process signed with it still verify, and a process
            # started now adopts it instead of making another.
            self._state.init_keys(self.alg, self.current.private_pem, self.current.kid)
            rows = self._state.signing_keys(self.alg)
        self._keys = [key_from_pem(pem, self.alg, retire_at) for pem, retire_at in rows]

    def rotate(self, keep_for: float) -> SigningKey:
        key = new_key(self.alg, self._pool)
        self._state.rotate_keys(self.alg, key.private_pem, key.kid, self._clock.now() + keep_for)
        self.reload()
        return self.current
