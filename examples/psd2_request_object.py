"""Sign a PSD2 request object as OP's demo TPP does and print the /oauth/authorize URL.

Usage: python3 examples/psd2_request_object.py AUTHORIZATION_ID [BASE_URL] [NOW_EPOCH_SECONDS] [SCOPE]
SCOPE is "openid accounts" (AIS, the default), "openid payments" (PIS) or "openid fundsconfirmations" (CoF).
The key is the public TEST key registered for psd2-tpp in fixtures/op-psd2.yaml.
"""

import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import jwt  # pip install 'pyjwt[crypto]'

KEY = Path(__file__).resolve().parent.parent / "fixtures" / "keys" / "psd2-tpp-rsa.pem"
intent = sys.argv[1]
base = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8080"
now = int(float(sys.argv[3])) if len(sys.argv) > 3 else int(time.time())
scope = sys.argv[4] if len(sys.argv) > 4 else "openid accounts"
state, nonce = str(uuid.uuid4()), str(uuid.uuid4())
claims = {
    "aud": "https://mtls-apis.psd2-sandbox.op.fi", "iss": "psd2-tpp", "client_id": "psd2-tpp",
    "response_type": "code id_token", "redirect_uri": "https://tpp.example/callback",
    "scope": scope, "state": state, "nonce": nonce, "max_age": 86400,
    "iat": now, "exp": now + 900,
    "claims": {
        "userinfo": {"authorizationId": {"value": intent, "essential": True}},
        "id_token": {"authorizationId": {"value": intent, "essential": True},
                     "acr": {"essential": True, "values": ["urn:openbanking:psd2:sca"]}},
    },
}
request = jwt.encode(claims, KEY.read_bytes(), algorithm="RS256", headers={"kid": "tpp-test-rsa"})
query = {"request": request, "response_type": "code id_token", "client_id": "psd2-tpp",
         "scope": scope, "state": state, "nonce": nonce, "redirect_uri": claims["redirect_uri"]}
print(f"{base.rstrip('/')}/oauth/authorize?{urlencode(query)}")
