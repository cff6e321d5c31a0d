"""What Python's JSON parser takes but RFC 8259 does not (NaN, Infinity, a number past a float,
a lone surrogate such as ``\\ud800``) is refused where it arrives, in the protocol's own shape.

Accepted once, each broke something later: a NaN time passes every window check (a DPoP proof or
a client assertion that never expires and can be replayed), a surrogate cannot be written as
UTF-8 (the journal, the live-token list, the dashboard answered 500 until a reset)."""

from __future__ import annotations

import base64
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from tests.dpop_helpers import ProofKey
from tests.helpers import CLIENT, REDIRECT
from tests.op_helpers import PIS, app_for, detached_signature, http, pis_headers, psd2_client_credentials, sepa_body

CC = {"grant_type": "client_credentials"}
TOKEN_URL = "http://mock.test/token"
JSON = {"content-type": "application/json"}


def raw_json(value: Any) -> bytes:
    """``value`` as JSON text the way a careless client writes it: NaN as ``NaN``, a lone
    surrogate as its ``\\u`` escape."""
    return json.dumps(value, separators=(",", ":")).encode()


def hs256(claims: dict[str, Any], secret: str) -> str:
    """client_secret_jwt by hand: the demo client's secret is shorter than PyJWT signs with."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing_input = f"{b64(raw_json({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(raw_json(claims))}"
    return f"{signing_input}.{b64(hmac.digest(secret.encode(), signing_input.encode(), 'sha256'))}"


async def control_still_answers(client: httpx.AsyncClient) -> None:
    for path in ("/_mock/requests", "/_mock/tokens/live", "/_mock/rules", "/_mock/ui"):
        assert (await client.get(path)).status_code == 200, path


async def test_a_dpop_proof_with_a_nan_iat_is_refused_every_time(client: httpx.AsyncClient) -> None:
    key = ProofKey()
    proof = jwt.encode({"jti": str(uuid.uuid4()), "htm": "POST", "htu": TOKEN_URL, "iat": float("nan")},
                       key.private, algorithm=key.alg, headers={"typ": "dpop+jwt", "jwk": key.jwk})
    assert "NaN" in json.dumps(jwt.decode(proof, options={"verify_signature": False}), allow_nan=True)
    for _ in range(2):
        response = await client.post("/token", data=CC, auth=CLIENT, headers={"DPoP": proof})
        assert response.status_code == 400 and response.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize("exp", [float("nan"), float("inf")])
async def test_a_client_assertion_with_a_non_finite_exp_is_invalid_client(client: httpx.AsyncClient,
                                                                          exp: float) -> None:
    now = int(time.time())
    assertion = hs256({"iss": "demo-client", "sub": "demo-client", "aud": TOKEN_URL, "iat": now, "exp": exp,
                       "jti": "same"}, "demo-secret")
    form = {**CC, "client_id": "demo-client", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    for _ in range(2):
        response = await client.post("/token", data=form)
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(("path", "method", "body"), [
    ("/_mock/scenario", "PUT", {"name": "\ud800"}),
    ("/_mock/tokens", "POST", {"client_id": "demo-client", "sub": "\ud800"}),
    ("/_mock/tokens", "POST", {"client_id": "demo-client", "claims": {"\udfff": 1}}),
    ("/_mock/rules", "POST", {"match": {"endpoint": "authorize"}, "times": 1,
                              "error": {"error": "x", "error_description": "\ud800"}}),
    ("/_mock/rules", "POST", {"match": {"endpoint": "token"}, "times": 1, "token": {"fields": {"x": float("nan")}}}),
    ("/_mock/rules", "POST", {"match": {"endpoint": "token"}, "times": 1, "token": {"claims": {"exp": float("inf")}}}),
    ("/_mock/clock", "POST", {"advance": float("-inf")}),
    ("/_mock/namespaces", "POST", {"name": "nan-users", "fixtures": {"users": {"u": {"claims": {"n": float("nan")}}}}}),
])
async def test_control_calls_with_what_json_does_not_allow_are_422_and_change_nothing(
        client: httpx.AsyncClient, path: str, method: str, body: dict[str, Any]) -> None:
    response = await client.request(method, path, content=raw_json(body), headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert "NaN" in response.text or "Infinity" in response.text or "surrogate" in response.text
    await control_still_answers(client)
    assert (await client.get("/_mock/rules")).json()["rules"] == []
    assert (await client.get("/_mock/clock")).json()["offset"] == 0
    authorize = await client.get("/authorize", params={"client_id": "demo-client", "redirect_uri": REDIRECT,
                                                       "response_type": "code"})
    assert authorize.status_code == 302 and "code=" in authorize.headers["location"]


async def test_a_number_past_a_float_is_refused_not_read_as_infinity(client: httpx.AsyncClient) -> None:
    response = await client.post("/_mock/clock", content=b'{"advance": 1e400}', headers=JSON)
    assert response.status_code == 422 and "too large" in response.text
    assert (await client.get("/_mock/clock")).json()["offset"] == 0


async def test_a_payment_with_a_lone_surrogate_is_refused_in_ops_shape() -> None:
    async with http(app_for("op-psd2")) as client:
        cc = await psd2_client_credentials(client, "payments")
        body = raw_json(sepa_body(payee={"iban": "FI6059986920080595", "name": "\ud800"}))
        response = await client.post(f"{PIS}/sepa-payments", content=body,
                                     headers={**pis_headers(cc), "x-jws-signature": detached_signature(body)})
        assert response.status_code == 400, response.text
        assert response.json()["violations"][0]["type"] == "TypeMismatch"
        assert (await client.get("/_mock/ui")).status_code == 200
