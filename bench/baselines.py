"""The benchmark's baselines: the least a FastAPI token endpoint can do, served like the mock.

``static_app`` answers a fixed token JSON; ``signing_app`` signs one RS256 JWT per request with
python-jose (key built once at import). ``bench/run.py`` starts each with uvicorn on one core.
"""

from __future__ import annotations

import secrets
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from jose import jwk, jws

STATIC = {"access_token": "x" * 43, "token_type": "Bearer", "expires_in": 3600, "scope": "accounts",
          "status": "approved"}

static_app = FastAPI()


@static_app.post("/token")
async def static_token(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse(STATIC, headers={"Cache-Control": "no-store"})


_PEM = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
_KEY = jwk.construct(_PEM, "RS256")

signing_app = FastAPI()


@signing_app.post("/token")
async def signed_token(request: Request) -> JSONResponse:
    await request.body()
    now = int(time.time())
    claims = {"iss": "http://127.0.0.1", "sub": "demo-client", "aud": "http://127.0.0.1", "exp": now + 3600,
              "iat": now, "nbf": now, "jti": secrets.token_urlsafe(16), "client_id": "demo-client",
              "scope": "accounts"}
    token = jws.sign(claims, _KEY, headers={"typ": "at+jwt", "kid": "k1"}, algorithm="RS256")
    return JSONResponse({**STATIC, "access_token": token}, headers={"Cache-Control": "no-store"})
