"""Sign a PIS request body, or verify a PIS response, as OP's demo TPP does (detached JWS, x-jws-signature).

Usage: python3 examples/psd2_jws.py sign BODY_FILE                    # prints the x-jws-signature header value
       python3 examples/psd2_jws.py verify JWKS_FILE SIGNATURE BODY_FILE   # exit 0 when the response verifies
The signing key is the public TEST key registered for psd2-tpp in fixtures/op-psd2.yaml.
"""

import base64
import json
import sys
from pathlib import Path

import jwt  # pip install 'pyjwt[crypto]'

KEY = Path(__file__).resolve().parent.parent / "fixtures" / "keys" / "psd2-tpp-ec.pem"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(body: bytes) -> str:
    """header..signature: the header and the signature of a JWS over the exact body bytes."""
    header = b64url(json.dumps({"alg": "ES256", "kid": "tpp-test-ec"}, separators=(",", ":")).encode())
    es256 = jwt.get_algorithm_by_name("ES256")
    signature = es256.sign(f"{header}.{b64url(body)}".encode(), es256.prepare_key(KEY.read_bytes()))
    return f"{header}..{b64url(signature)}"


def verify(jwks: dict, signature: str, body: bytes) -> None:
    """Put the body back between header and signature and verify it with the key its kid names."""
    header, _, signed = signature.partition("..")
    compact = f"{header}.{b64url(body)}.{signed}"
    kid = jwt.get_unverified_header(compact)["kid"]
    jwt.api_jws.decode_complete(compact, jwt.PyJWKSet.from_dict(jwks)[kid].key, algorithms=["ES256", "RS256", "PS256"])


if sys.argv[1] == "sign":
    print(sign(Path(sys.argv[2]).read_bytes()))
else:
    verify(json.loads(Path(sys.argv[2]).read_text()), sys.argv[3], Path(sys.argv[4]).read_bytes())
    print("the response signature verifies")
