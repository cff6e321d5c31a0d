"""Bad input at OP's PIS (DESIGN §8): each refusal in OP's shape (ApiError with violations, the
gateway's fault for token problems), signed like every PIS answer, and nothing stored changed."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.op_helpers import (
    PIS,
    app_for,
    create_payment,
    detached_signature,
    foreign_body,
    http,
    pis_authorized,
    pis_headers,
    psd2_client_credentials,
    sepa_body,
    stringify,
    verify_response_signature,
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http(app_for("op-psd2")) as c:
        yield c


@pytest.fixture
async def cc(client: httpx.AsyncClient) -> str:
    return await psd2_client_credentials(client, "payments")


async def bundle_size(client: httpx.AsyncClient, cc: str, authorization_id: str) -> int:
    response = await client.get(f"{PIS}/authorizations/{authorization_id}/payments", headers=pis_headers(cc))
    return len(response.json()["payments"])


async def refused(client: httpx.AsyncClient, response: httpx.Response, status: int, violation: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "message", "violations", "id"}
    assert body["violations"][0]["type"] == violation
    await verify_response_signature(client, response)
    return body


async def test_a_body_that_does_not_match_its_signature_is_refused(client: httpx.AsyncClient, cc: str) -> None:
    key = str(uuid.uuid4())
    signed_for = stringify(sepa_body("1.00"))
    sent = stringify(sepa_body("1000.00"))
    response = await client.post(f"{PIS}/sepa-payments", content=sent, headers={
        **pis_headers(cc, **{"x-idempotency-key": key}), "x-jws-signature": detached_signature(signed_for)})
    body = await refused(client, response, 400, "InvalidSignature")
    assert body["type"] == "SECURITY"
    # nothing was kept under that idempotency key: the same key with a good body creates the payment
    response = await create_payment(client, cc, sepa_body("1000.00"), **{"x-idempotency-key": key})
    assert response.status_code == 201 and response.json()["amountEUR"] == "1000.00"


@pytest.mark.parametrize("signature", [None, "", "not-a-jws", "e30..c2ln", "a.b.c"])
async def test_a_missing_or_malformed_signature_is_refused(client: httpx.AsyncClient, cc: str,
                                                           signature: str | None) -> None:
    headers = pis_headers(cc)
    if signature is not None:
        headers["x-jws-signature"] = signature
    response = await client.post(f"{PIS}/sepa-payments", content=stringify(sepa_body()), headers=headers)
    await refused(client, response, 400, "InvalidSignature")


async def test_a_signature_by_another_key_is_refused(client: httpx.AsyncClient, cc: str) -> None:
    raw = stringify(sepa_body())
    header, _, signature = detached_signature(raw).partition("..")
    forged = f"{header}..{signature[:-4]}AAAA"
    response = await client.post(f"{PIS}/sepa-payments", content=raw,
                                 headers={**pis_headers(cc), "x-jws-signature": forged})
    await refused(client, response, 400, "InvalidSignature")


async def test_an_rfc7797_unencoded_signature_verifies_too(client: httpx.AsyncClient, cc: str) -> None:
    import jwt

    from tests.op_helpers import KEYS
    raw = stringify(sepa_body("2.00"))
    pem, kid = KEYS["RS256"]
    signature = jwt.api_jws.encode(raw, pem, algorithm="RS256", headers={"kid": kid}, is_payload_detached=True)
    response = await client.post(f"{PIS}/sepa-payments", content=raw,
                                 headers={**pis_headers(cc), "x-jws-signature": signature})
    assert response.status_code == 201, response.text


async def test_an_unknown_authorization_id_is_refused(client: httpx.AsyncClient, cc: str) -> None:
    response = await create_payment(client, cc, sepa_body(authorizationId=str(uuid.uuid4())))
    body = await refused(client, response, 400, "InvalidValue")
    assert body["violations"][0]["path"] == "authorizationId"


async def test_an_expired_authorization_id_is_refused_and_the_bundle_kept(client: httpx.AsyncClient, cc: str) -> None:
    first = (await create_payment(client, cc, sepa_body())).json()
    await client.post("/_mock/clock", json={"advance": 3601})  # server.psd2.payment_ttl
    cc = await psd2_client_credentials(client, "payments")
    response = await create_payment(client, cc, sepa_body(authorizationId=first["authorizationId"]))
    body = await refused(client, response, 400, "InvalidValue")
    assert "expired" in body["message"]
    read = await client.get(f"{PIS}/sepa-payments/{first['paymentId']}", headers=pis_headers(cc))
    assert read.json()["status"] == "Expired"
    assert await bundle_size(client, cc, first["authorizationId"]) == 1


async def test_another_clients_authorization_id_is_unknown(client: httpx.AsyncClient, cc: str) -> None:
    first = (await create_payment(client, cc, sepa_body())).json()
    ais = await psd2_client_credentials(client, "accounts")
    intent = await client.post("/accounts-psd2/v1/authorizations", json={}, headers=pis_headers(ais))
    response = await create_payment(client, cc, sepa_body(authorizationId=intent.json()["authorizationId"]))
    await refused(client, response, 400, "InvalidValue")
    assert await bundle_size(client, cc, first["authorizationId"]) == 1


@pytest.mark.parametrize("amount, violation", [
    ("12.5", "EuroCents"), ("12.505", "EuroCents"), ("-1.00", "EuroCents"), ("1e3", "EuroCents"),
    ("0.00", "Min"), ("0", "Min"), (12.5, "TypeMismatch"), (None, "Required"), ("", "EuroCents"),
    (" 1.00", "EuroCents"), ("\u0661\u0662.\u0660\u0660", "EuroCents"),  # Arabic-Indic digits
])
async def test_an_amount_that_is_not_a_positive_decimal_with_two_places_is_refused(
        client: httpx.AsyncClient, cc: str, amount: Any, violation: str) -> None:
    body = sepa_body()
    body["amountEUR"] = amount
    if amount is None:
        del body["amountEUR"]
    body = await refused(client, await create_payment(client, cc, body), 400, violation)
    assert body["type"] == "VALIDATION" and body["violations"][0]["path"] == "amountEUR"


async def test_an_amount_without_decimals_is_accepted_as_ops_euro_cents_rule_allows(
        client: httpx.AsyncClient, cc: str) -> None:
    response = await create_payment(client, cc, foreign_body("20"), kind="foreign")
    assert response.status_code == 201 and response.json()["amount"] == "20"


@pytest.mark.parametrize("iban", ["FI6059986920080596", "FI60 5998 6920 0805 95", "fi6059986920080595", "FI", 42,
                                  "XX00"])
async def test_an_iban_that_does_not_check_is_refused(client: httpx.AsyncClient, cc: str, iban: Any) -> None:
    body = sepa_body()
    body["payee"]["iban"] = iban
    body = await refused(client, await create_payment(client, cc, body), 400,
                         "TypeMismatch" if not isinstance(iban, str) else "SepaIban")
    assert body["violations"][0]["path"] == "payee.iban"


async def test_a_payer_iban_that_does_not_check_is_refused(client: httpx.AsyncClient, cc: str) -> None:
    await refused(client, await create_payment(client, cc, sepa_body(payer={"iban": "FI8659986920068682"})), 400,
                  "SepaIban")


@pytest.mark.parametrize("change, violation", [
    ({"payee": {"iban": "FI6059986920080595"}}, "Required"),
    ({"payee": {"iban": "DE89370400440532013000", "name": "Erika"}}, "SepaAddress"),
    ({"message": None}, "MessageOrReference"),
    ({"count": 0}, "Size"), ({"count": "2"}, "TypeMismatch"), ({"colour": "blue"}, "UnrecognizedProperty"),
    ({"executionDate": "2001-01-01"}, "InvalidValue"), ({"executionDate": "tomorrow"}, "TypeMismatch"),
    ({"payee": "FI6059986920080595"}, "TypeMismatch"), ({"message": "x" * 141}, "Size"),
])
async def test_a_sepa_body_breaking_ops_rules_is_refused(client: httpx.AsyncClient, cc: str,
                                                         change: dict[str, Any], violation: str) -> None:
    body = {k: v for k, v in {**sepa_body(), **change}.items() if v is not None}
    await refused(client, await create_payment(client, cc, body), 400, violation)


@pytest.mark.parametrize("change, violation", [
    ({"currency": "XYZ"}, "InvalidValue"), ({"currency": "usd"}, "InvalidValue"), ({"count": 2}, "InvalidValue"),
    ({"payee": {**foreign_body()["payee"], "financialInstitution": {}}}, "CreditorBicOrAddress"),
    ({"payee": {**foreign_body()["payee"], "bankAccount": {"schemeName": "SWIFT", "id": "1"}}}, "InvalidValue"),
    ({"message": ""}, "Required"),
])
async def test_a_foreign_body_breaking_ops_rules_is_refused(client: httpx.AsyncClient, cc: str,
                                                            change: dict[str, Any], violation: str) -> None:
    await refused(client, await create_payment(client, cc, {**foreign_body(), **change}, kind="foreign"), 400,
                  violation)


@pytest.mark.parametrize("raw", [b"", b"[]", b"not json", b"{" * 100 + b"}" * 100, b'"a string"'])
async def test_a_body_that_is_not_a_json_object_is_refused(client: httpx.AsyncClient, cc: str, raw: bytes) -> None:
    response = await client.post(f"{PIS}/sepa-payments", content=raw,
                                 headers={**pis_headers(cc), "x-jws-signature": detached_signature(raw)})
    await refused(client, response, 400, "TypeMismatch")


async def test_foreign_payments_are_not_bundled_with_sepa_ones(client: httpx.AsyncClient, cc: str) -> None:
    first = (await create_payment(client, cc, sepa_body())).json()
    response = await create_payment(client, cc, {**foreign_body(), "authorizationId": first["authorizationId"]},
                                    kind="foreign")
    await refused(client, response, 400, "InvalidValue")
    assert await bundle_size(client, cc, first["authorizationId"]) == 1


async def test_the_same_idempotency_key_and_body_answer_the_same_payment(client: httpx.AsyncClient, cc: str) -> None:
    key = str(uuid.uuid4())
    first = await create_payment(client, cc, sepa_body("3.00"), **{"x-idempotency-key": key})
    again = await create_payment(client, cc, sepa_body("3.00"), **{"x-idempotency-key": key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["paymentId"] == first.json()["paymentId"]
    await verify_response_signature(client, again)
    assert await bundle_size(client, cc, first.json()["authorizationId"]) == 1


async def test_a_reused_idempotency_key_with_another_body_is_409(client: httpx.AsyncClient, cc: str) -> None:
    key = str(uuid.uuid4())
    first = await create_payment(client, cc, sepa_body("3.00"), **{"x-idempotency-key": key})
    response = await create_payment(client, cc, sepa_body("4.00"), **{"x-idempotency-key": key})
    body = await refused(client, response, 409, "DuplicatePayment")
    assert body["type"] == "BUSINESS"
    read = await client.get(f"{PIS}/sepa-payments/{first.json()['paymentId']}", headers=pis_headers(cc))
    assert read.json()["amountEUR"] == "3.00"


async def test_a_missing_idempotency_key_is_refused(client: httpx.AsyncClient, cc: str) -> None:
    raw = stringify(sepa_body())
    headers = {**pis_headers(cc), "x-jws-signature": detached_signature(raw)}
    del headers["x-idempotency-key"]
    await refused(client, await client.post(f"{PIS}/sepa-payments", content=raw, headers=headers), 400, "Required")


async def test_an_unauthorized_payment_cannot_be_submitted(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client)
    cc = tokens["cc"]
    pending = (await create_payment(client, cc, sepa_body())).json()  # another bundle, Unauthorized
    for token in (cc, tokens["access_token"]):  # no PSU has a token for it yet
        response = await client.put(f"{PIS}/sepa-payments/{pending['paymentId']}/submissions/{uuid.uuid4()}",
                                    headers=pis_headers(token))
        body = await refused(client, response, 403, "access_denied")
        assert body["type"] == "SECURITY"
    read = await client.get(f"{PIS}/sepa-payments/{pending['paymentId']}", headers=pis_headers(cc))
    assert read.json()["status"] == "Unauthorized" and "submissions" not in read.json()


async def test_a_revoked_payment_cannot_be_submitted(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client, sepa_body("1.00"), sepa_body("2.00"))
    first = tokens["payments"][0]
    cancelled = await client.delete(f"{PIS}/sepa-payments/{first['paymentId']}",
                                    headers=pis_headers(tokens["access_token"]))
    assert cancelled.json()["status"] == "Cancelled"
    response = await client.put(f"{PIS}/sepa-payments/{first['paymentId']}/submissions/{uuid.uuid4()}",
                                headers=pis_headers(tokens["access_token"]))
    await refused(client, response, 409, "IllegalState")
    listed = await client.get(f"{PIS}/authorizations/{tokens['authorizationId']}/payments",
                              headers=pis_headers(tokens["access_token"]))
    assert [p["status"] for p in listed.json()["payments"]] == ["Cancelled", "Authorized"]


async def test_an_unknown_payment_is_404(client: httpx.AsyncClient, cc: str) -> None:
    response = await client.get(f"{PIS}/sepa-payments/{uuid.uuid4()}", headers=pis_headers(cc))
    await refused(client, response, 404, "not_found")


async def test_a_bad_submission_id_is_refused(client: httpx.AsyncClient) -> None:
    tokens = await pis_authorized(client)
    response = await client.put(f"{PIS}/sepa-payments/{tokens['payments'][0]['paymentId']}/submissions/a%20b",
                                headers=pis_headers(tokens["access_token"]))
    await refused(client, response, 400, "InvalidValue")


async def test_an_expired_token_is_the_gateways_fault(client: httpx.AsyncClient, cc: str) -> None:
    await client.post("/_mock/clock", json={"advance": 3601})
    response = await create_payment(client, cc, sepa_body())
    assert response.status_code == 401
    assert response.json() == {"fault": {"faultstring": "Access Token expired",
                                         "detail": {"errorcode": "keymanagement.service.access_token_expired"}}}
    await verify_response_signature(client, response)


async def test_a_token_without_scope_payments_or_the_api_key_is_refused(client: httpx.AsyncClient) -> None:
    accounts = await psd2_client_credentials(client, "accounts")
    response = await create_payment(client, accounts, sepa_body())
    assert response.status_code == 403 and response.json()["type"] == "SECURITY"
    cc = await psd2_client_credentials(client, "payments")
    response = await create_payment(client, cc, sepa_body(), **{"x-api-key": "wrong"})
    assert response.status_code == 401 and response.json()["fault"]["detail"]["errorcode"] == "oauth.v2.InvalidApiKey"


async def test_scenarios_reach_the_payments_endpoint(client: httpx.AsyncClient, cc: str) -> None:
    response = await create_payment(client, cc, sepa_body(), **{"x-mock-scenario": "signature-refused"})
    assert response.status_code == 400 and response.json()["type"] == "SECURITY"
    assert response.json()["violations"][0]["message"] == "x-jws-signature does not verify over the body"
    outage = [await create_payment(client, cc, sepa_body(), **{"x-mock-scenario": "payments-outage"})
              for _ in range(3)]
    assert [r.status_code for r in outage] == [503, 503, 201]
    assert outage[0].json()["type"] == "TECHNICAL"
    rules = json.loads((await client.get("/_mock/requests", params={"endpoint": "payments"})).text)["requests"]
    assert [e["rule"] for e in rules] == ["signature-refused:0", "payments-outage:0", "payments-outage:0", None]


async def test_two_creates_racing_with_one_idempotency_key_make_one_payment(client: httpx.AsyncClient,
                                                                            cc: str) -> None:
    import asyncio

    await client.post("/_mock/rules", json={"match": {"endpoint": "payments", "method": "POST"}, "delay_ms": 50})
    key = str(uuid.uuid4())
    first, second = await asyncio.gather(
        create_payment(client, cc, sepa_body("3.00"), **{"x-idempotency-key": key}),
        create_payment(client, cc, sepa_body("3.00"), **{"x-idempotency-key": key}))
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    winner = first if first.status_code == 201 else second
    assert await bundle_size(client, cc, winner.json()["authorizationId"]) == 1
