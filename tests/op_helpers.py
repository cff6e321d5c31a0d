"""Steps of OP's dialect flows that several tests drive: fixture apps, the PSD2 journey pieces."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from mock_op_auth import create_app
from mock_op_auth.config.loader import load_fixtures
from mock_op_auth.tls.certs import CertificateAuthority, ensure_ca, issue_client_certificate

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
BASE = "http://mock.test"

GENERAL_ID, GENERAL_SECRET = "Zx8mQ2pR7vT4wK9nB3cF6hJ1sL5dG0aY", "pT3kW8qZ1xN6vB4m"
LOANS_ID, LOANS_SECRET = "Lm4nP6qR8sT0uV2wX4yZ6aB8cD0eF2gH", "kY7jH5gF3dS1aQ9w"
CORPORATE_ID = "73kYwIV9CAQlbcLCJdXr4Q"
CORPORATE_SECRET = "Vq3R9x2LmP8sK4tZ7wN1bC6yH0jF5gD2aE9uI3oU8eQ7rT1yW4pL6kJ0hG5fS2dA3sD8fG1hJ6kL9zX4cV7bN0m"
TPP_ID, TPP_SECRET, TPP_API_KEY = "psd2-tpp", "tpp-secret", "tpp-api-key"
TPP_REDIRECT = "https://tpp.example/callback"
RSA_PEM = (FIXTURES / "keys" / "psd2-tpp-rsa.pem").read_bytes()
EC_PEM = (FIXTURES / "keys" / "psd2-tpp-ec.pem").read_bytes()
KEYS = {"RS256": (RSA_PEM, "tpp-test-rsa"), "PS256": (RSA_PEM, "tpp-test-rsa"), "ES256": (EC_PEM, "tpp-test-ec")}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def app_for(name: str, **server_changes: Any) -> Any:
    """An app on one of the shipped fixtures, with ``server`` settings changed if given."""
    config = load_fixtures(FIXTURES / f"{name}.yaml")
    if server_changes:
        config = config.model_copy(update={"server": config.server.model_copy(update=server_changes)})
    return create_app(config)


@functools.cache
def _test_ca() -> CertificateAuthority:
    """One throwaway CA for the run: a forwarded certificate is trusted as the proxy verified it."""
    return ensure_ca(Path(tempfile.mkdtemp(prefix="op-helpers-ca-")))


@functools.cache
def forwarded_certificate(subject: str) -> str:
    """A client certificate for ``subject`` as OP's sandbox forwards it: one-line PEM in x-client-certificate."""
    cert_pem, _ = issue_client_certificate(_test_ca(), subject)
    return "".join(cert_pem.splitlines())


@asynccontextmanager
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` that, like OP's TPPs, presents the mutual-TLS certificate of the fixture's
    client that requires one (in the fixture's ``client_certificate_header``, as OP's sandbox takes it)."""
    config = app.state.server.config
    headers = {}
    subjects = [c.tls_client_auth_subject_dn for c in config.clients.values() if c.require_mtls]
    if config.server.client_certificate_header and len(subjects) == 1:
        headers[config.server.client_certificate_header] = forwarded_certificate(str(subjects[0]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers=headers) as c:
        yield c


def half_hash(value: str) -> str:
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def fragment_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def tpp_headers(**extra: str) -> dict[str, str]:
    return {"x-api-key": TPP_API_KEY, "x-request-id": str(uuid.uuid4()), **extra}


async def psd2_token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/oauth/token", data={"client_id": TPP_ID, "client_secret": TPP_SECRET, **form},
                             headers=tpp_headers())


async def psd2_client_credentials(client: httpx.AsyncClient, scope: str = "accounts") -> str:
    response = await psd2_token(client, grant_type="client_credentials", scope=scope)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def create_intent(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    token = await psd2_client_credentials(client)
    response = await client.post("/accounts-psd2/v1/authorizations", json=body or {},
                                 headers=tpp_headers(authorization=f"Bearer {token}"))
    assert response.status_code == 201, response.text
    return response.json()


def request_object(intent_id: str, *, alg: str = "RS256", now: float | None = None, **overrides: Any) -> str:
    """A request object as OP's demo TPP signs it (op-auth.md §4.4)."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "aud": "https://mtls-apis.psd2-sandbox.op.fi", "iss": TPP_ID, "client_id": TPP_ID,
        "response_type": "code id_token", "redirect_uri": TPP_REDIRECT, "scope": "openid accounts",
        "state": "st-" + uuid.uuid4().hex, "nonce": "n-" + uuid.uuid4().hex, "max_age": 86400,
        "iat": issued, "exp": issued + 900,
        "claims": {
            "userinfo": {"authorizationId": {"value": intent_id, "essential": True}},
            "id_token": {"authorizationId": {"value": intent_id, "essential": True},
                         "acr": {"essential": True, "values": ["urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"]}},
        },
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    pem, kid = KEYS[alg]
    return jwt.encode(claims, pem, algorithm=alg, headers={"kid": kid})


async def authorize(client: httpx.AsyncClient, request: str, **query: str) -> httpx.Response:
    params = {"request": request, "response_type": "code id_token", "client_id": TPP_ID,
              "scope": "openid accounts", **query}
    return await client.get("/oauth/authorize", params=params)


async def oidc_keys(client: httpx.AsyncClient) -> jwt.PyJWKSet:
    response = await client.get("/oauth/jwks/PSD2_OIDC")
    assert response.status_code == 200
    return jwt.PyJWKSet.from_dict(response.json())


async def verify_id_token(client: httpx.AsyncClient, token: str, nonce: str | None = None) -> dict[str, Any]:
    """Verify an ID token as OP's demo TPP does: signature by the JWKS, iss, aud, nonce."""
    keys = await oidc_keys(client)
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, keys[kid].key, algorithms=["RS256", "ES256", "PS256"], audience=TPP_ID,
                        issuer=BASE)
    if nonce is not None:
        assert claims["nonce"] == nonce
    return claims


async def psd2_authorized(client: httpx.AsyncClient, intent_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Intent → signed authorize → code exchanged; returns the token body and the intent id."""
    intent = await create_intent(client, intent_body)
    response = await authorize(client, request_object(intent["authorizationId"]))
    assert response.status_code == 302, response.text
    code = fragment_of(response.headers["location"])["code"]
    tokens = await psd2_token(client, grant_type="authorization_code", code=code, redirect_uri=TPP_REDIRECT)
    assert tokens.status_code == 200, tokens.text
    return {**tokens.json(), "authorizationId": intent["authorizationId"]}


# --- PIS and CoF, as OP's demo TPP calls them (docs: /work/shared/op-psd2-calls.md) ---

PIS = "/payments-psd2/v1"
COF = "/confirmation-of-funds-psd2/v1"
PIS_JWKS = "/psd2/sandbox/jwks/payments/jwks.json"
PAYEE = {"iban": "FI6059986920080595", "name": "Matti Meikäläinen"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def detached_signature(body: bytes, alg: str = "ES256") -> str:
    """A detached JWS over ``body`` as OP's demo TPP makes it: header ``{alg, kid}``, payload
    base64url-encoded, then left out (``header..signature``)."""
    pem, kid = KEYS[alg]
    header = b64url(json.dumps({"alg": alg, "kid": kid}, separators=(",", ":")).encode())
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(f"{header}.{b64url(body)}".encode(), algorithm.prepare_key(pem))
    return f"{header}..{b64url(signature)}"


def pis_headers(token: str, **extra: str) -> dict[str, str]:
    """``getCommonHeaders``: bearer, x-api-key, Accept, session, idempotency, request and interaction ids."""
    return {"authorization": f"Bearer {token}", "x-api-key": TPP_API_KEY, "accept": "application/json",
            "x-session-id": str(uuid.uuid4()), "x-idempotency-key": str(uuid.uuid4()),
            "x-request-id": str(uuid.uuid4()), "x-fapi-interaction-id": str(uuid.uuid4()), **extra}


def stringify(body: dict[str, Any]) -> bytes:
    """``JSON.stringify``: compact, UTF-8."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def sepa_body(amount: str = "12.50", **changes: Any) -> dict[str, Any]:
    """``createSinglePayment``'s body (authorizationId first when given, as the demo builds it)."""
    body: dict[str, Any] = {"count": 1, "payee": dict(PAYEE), "amountEUR": amount, "message": "DEMO PSD2 PAYMENT"}
    if changes.get("authorizationId"):
        body = {"authorizationId": changes.pop("authorizationId"), **body}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def foreign_body(amount: str = "20.00", currency: str = "USD", **changes: Any) -> dict[str, Any]:
    """``createForeignPayment``'s body."""
    body: dict[str, Any] = {
        "payee": {"bankAccount": {"schemeName": "IBAN", "id": "DE89370400440532013000", "issuer": "COBADEFFXXX"},
                  "name": "Erika Mustermann",
                  "foreignAddress": {"addressLine1": "Hauptstr. 1", "addressLine2": "10115 Berlin", "country": "DE"},
                  "financialInstitution": {"bic": "COBADEFFXXX"}},
        "amount": amount, "currency": currency, "message": "Foreign payment COBADEFFXXX", "count": 1}
    body.update(changes)
    return body


async def create_payment(client: httpx.AsyncClient, token: str, body: dict[str, Any], kind: str = "sepa",
                         **headers: str) -> httpx.Response:
    """``initSinglePayment`` / ``initForeignPayment``: the exact body, signed, sent without a Content-Type."""
    raw = stringify(body)
    sent = {**pis_headers(token), "x-jws-signature": detached_signature(raw), **headers}
    request = client.build_request("POST", f"{PIS}/{kind}-payments", content=raw, headers=sent)
    request.headers.pop("content-type", None)
    return await client.send(request)


async def verify_response_signature(client: httpx.AsyncClient, response: httpx.Response) -> None:
    """``verifyResponseSignature``: the response's detached JWS verifies over its exact body with PIS's JWKS."""
    keys = jwt.PyJWKSet.from_dict((await client.get(PIS_JWKS)).json())
    header_b64, _, signature = response.headers["x-jws-signature"].partition("..")
    compact = f"{header_b64}.{b64url(response.content)}.{signature}"
    kid = jwt.get_unverified_header(compact)["kid"]
    jwt.api_jws.decode_complete(compact, keys[kid].key, algorithms=["ES256", "RS256", "PS256"])


def payment_request_object(intent_id: str, scope: str = "openid payments", **overrides: Any) -> str:
    return request_object(intent_id, alg="ES256", scope=scope, **overrides)


async def code_flow(client: httpx.AsyncClient, intent_id: str, scope: str) -> dict[str, Any]:
    """Authorize ``intent_id`` (login: auto) and redeem the code: the PSU's tokens."""
    now = (await client.get("/_mock/clock")).json()["now"]
    response = await authorize(client, payment_request_object(intent_id, scope=scope, now=now), scope=scope)
    assert response.status_code == 302, response.text
    callback = fragment_of(response.headers["location"])
    assert "code" in callback, callback
    tokens = await psd2_token(client, grant_type="authorization_code", code=callback["code"],
                              redirect_uri=TPP_REDIRECT)
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


async def pis_authorized(client: httpx.AsyncClient, *bodies: dict[str, Any]) -> dict[str, Any]:
    """Payments created (a bundle when several), authorized in the code flow: the PSU's tokens and ids."""
    cc = await psd2_client_credentials(client, "payments")
    payments: list[dict[str, Any]] = []
    for body in bodies or (sepa_body(),):
        if payments:
            body = {"authorizationId": payments[0]["authorizationId"], **body}
        response = await create_payment(client, cc, body)
        assert response.status_code == 201, response.text
        payments.append(response.json())
    tokens = await code_flow(client, payments[0]["authorizationId"], "openid payments")
    return {**tokens, "authorizationId": payments[0]["authorizationId"], "payments": payments, "cc": cc}


async def ais_tokens(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An AIS intent authorized by the PSU (login: auto, the first user): its tokens."""
    intent = await create_intent(client, body)
    tokens = await code_flow(client, intent["authorizationId"], "openid accounts")
    return {**tokens, "authorizationId": intent["authorizationId"]}
