"""Print an RFC 7523 assertion for the JWT bearer grant, signed as batch-job in fixtures/grants.yaml.

Usage: python3 examples/jwt_bearer_assertion.py [SUB] [BASE_URL]
The key is fixtures/keys/batch-job-ec.pem, a TEST key whose public half the fixture registers.
"""

import sys
import time
import uuid
from pathlib import Path

import jwt  # pip install 'pyjwt[crypto]'

KEY = Path(__file__).resolve().parent.parent / "fixtures" / "keys" / "batch-job-ec.pem"
sub = sys.argv[1] if len(sys.argv) > 1 else "alice"
base = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8080"
now = int(time.time())
claims = {"iss": "batch-job", "sub": sub, "aud": f"{base.rstrip('/')}/token", "iat": now, "exp": now + 300,
          "jti": str(uuid.uuid4())}
print(jwt.encode(claims, KEY.read_bytes(), algorithm="ES256", headers={"kid": "batch-job-ec"}))
