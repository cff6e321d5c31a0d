"""Print a DPoP proof (RFC 9449 §4) for one request, signed by a P-256 key kept in a file.

Usage: python3 examples/dpop_proof.py METHOD URL [ACCESS_TOKEN [NONCE]]
       python3 examples/dpop_proof.py jkt          # the key's thumbprint, for dpop_jkt
The key is the file named by $DPOP_KEY (default: dpop-key.pem in the temporary directory), made
on first use with mode 0600. Proofs are stamped with the real time: a mock whose clock was moved
more than five minutes refuses them (docs/grants.md).
"""

import base64
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import jwt  # pip install 'pyjwt[crypto]'
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


path = Path(os.environ.get("DPOP_KEY") or Path(tempfile.gettempdir()) / "dpop-key.pem")
if not path.exists():
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
key = serialization.load_pem_private_key(path.read_bytes(), password=None)
numbers = key.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
       "y": b64url(numbers.y.to_bytes(32, "big"))}
if sys.argv[1:] == ["jkt"]:
    print(b64url(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()))
    sys.exit()
method, url = sys.argv[1], sys.argv[2]
claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url.split("?")[0], "iat": int(time.time())}
if len(sys.argv) > 3 and sys.argv[3]:
    claims["ath"] = b64url(hashlib.sha256(sys.argv[3].encode()).digest())
if len(sys.argv) > 4:
    claims["nonce"] = sys.argv[4]
print(jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk}))
