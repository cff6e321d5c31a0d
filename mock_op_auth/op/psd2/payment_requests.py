"""The bodies of OP's PIS create requests (``SepaPaymentRequest``, ``ForeignPaymentRequest`` of
OP's PIS API), checked field by field as OP's API checks them; each refusal is a violation of
OP's types (``Required``, ``TypeMismatch``, ``SepaIban``, ``EuroCents``, ``SepaAddress``, ...) at
the field's path. The result is the ``Payment`` fields the request sets."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from mock_op_auth.errors import ViolationError
from mock_op_auth.op.psd2.money import check_currency, check_iban, parse_amount

MAX_COUNT = 99
MAX_TEXT = 140
_BIC = re.compile(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?")
SEPA_FIELDS = frozenset({"authorizationId", "amountEUR", "count", "payee", "payer", "message", "reference",
                         "ultimatePayee", "originalPayer", "executionDate"})
FOREIGN_FIELDS = frozenset({"authorizationId", "amount", "currency", "count", "payee", "payer", "message",
                            "detailsOfCharges", "paymentOrder", "exchangeRateReference", "executionDate"})


def _object(body: dict[str, Any], name: str, required: bool = True) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ViolationError("Required", f"{name} is required", name)
        return None
    if not isinstance(value, dict):
        raise ViolationError("TypeMismatch", f"{name} must be an object", name)
    return value


def _text(body: dict[str, Any], name: str, path: str, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    value = body.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise ViolationError("Required", f"{path} is required", path)
        return None
    if not isinstance(value, str):
        raise ViolationError("TypeMismatch", f"{path} must be a string", path)
    if not value.strip():
        raise ViolationError("Required", f"{path} may not be blank", path)
    if len(value) > limit:
        raise ViolationError("Size", f"{path} is longer than {limit} characters", path)
    return value


def _unknown(body: dict[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    if unknown := sorted(set(body) - allowed):
        raise ViolationError("UnrecognizedProperty", f"unknown property {prefix}{unknown[0]}", prefix + unknown[0])


def _common(body: dict[str, Any], today: date) -> dict[str, Any]:
    """Fields SEPA and foreign payments share: payer, count, executionDate."""
    fields: dict[str, Any] = {}
    payer = _object(body, "payer", required=False)
    if payer is not None:
        _unknown(payer, frozenset({"iban"}), "payer.")
        fields["payer_iban"] = check_iban(payer.get("iban"), "payer.iban")
    count = body.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool):
        raise ViolationError("TypeMismatch", "count must be a whole number", "count")
    if not 1 <= count <= MAX_COUNT:
        raise ViolationError("Size", f"count must be between 1 and {MAX_COUNT}", "count")
    fields["count"] = count
    if body.get("executionDate") is not None:
        raw = body["executionDate"]
        try:
            when = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            when = None
        if when is None:
            raise ViolationError("TypeMismatch", "executionDate must be a date, YYYY-MM-DD", "executionDate")
        if not today <= when <= today + timedelta(days=365):
            raise ViolationError("InvalidValue", "executionDate must be today or a day within a year",
                                 "executionDate")
        fields["execution_date"] = raw
    return fields


def sepa_request(body: dict[str, Any], today: date) -> dict[str, Any]:
    """OP's ``SepaPaymentRequest``, checked as OP's API checks it: the payment's fields."""
    _unknown(body, SEPA_FIELDS)
    cents = parse_amount(body.get("amountEUR"), "amountEUR") if "amountEUR" in body else None
    if cents is None:
        raise ViolationError("Required", "amountEUR is required", "amountEUR")
    payee = _object(body, "payee")
    assert payee is not None
    _unknown(payee, frozenset({"iban", "name", "address", "country"}), "payee.")
    iban = check_iban(payee.get("iban"), "payee.iban")
    _text(payee, "name", "payee.name", required=True, limit=70)
    if not iban.startswith("FI"):  # OP: non-domestic payees need an address and a country
        address = payee.get("address")
        if not isinstance(address, list) or not address or len(address) > 4 \
                or any(not isinstance(a, str) or not a.strip() or len(a) > 35 for a in address):
            raise ViolationError("SepaAddress", "payee.address (1-4 lines of at most 35 characters) is "
                                                "required for a payee outside Finland", "payee.address")
        if not isinstance(payee.get("country"), str) or not re.fullmatch(r"[A-Z]{2}", payee["country"]):
            raise ViolationError("Required", "payee.country (ISO 3166 alpha-2) is required for a payee "
                                             "outside Finland", "payee.country")
    message = _text(body, "message", "message")
    reference = _text(body, "reference", "reference", limit=25)
    if message is None and reference is None:
        raise ViolationError("MessageOrReference", "give a message or a reference", "message")
    for name in ("ultimatePayee", "originalPayer"):
        _text(body, name, name, limit=70)
    request = {k: v for k, v in body.items() if k != "authorizationId"}
    return {"request": request, "amount_cents": cents, "currency": "EUR", **_common(body, today)}


def foreign_request(body: dict[str, Any], today: date, rates: dict[str, str]) -> dict[str, Any]:
    """OP's ``ForeignPaymentRequest``, checked as OP's API checks it: the payment's fields."""
    _unknown(body, FOREIGN_FIELDS)
    if "amount" not in body:
        raise ViolationError("Required", "amount is required", "amount")
    cents = parse_amount(body["amount"], "amount")
    currency = check_currency(body.get("currency"), "currency", rates)
    payee = _object(body, "payee")
    assert payee is not None
    _unknown(payee, frozenset({"bankAccount", "name", "foreignAddress", "financialInstitution"}), "payee.")
    _text(payee, "name", "payee.name", required=True, limit=70)
    account = _object(payee, "bankAccount")
    assert account is not None
    _unknown(account, frozenset({"schemeName", "id", "issuer"}), "payee.bankAccount.")
    scheme = account.get("schemeName")
    if scheme == "IBAN":
        check_iban(account.get("id"), "payee.bankAccount.id")
    elif scheme == "BBAN":
        if not isinstance(account.get("id"), str) or not re.fullmatch(r"[0-9]{1,35}", account["id"]):
            raise ViolationError("InvalidValue", "payee.bankAccount.id must be digits only (BBAN), at most 35",
                                 "payee.bankAccount.id")
    else:
        raise ViolationError("InvalidValue", "payee.bankAccount.schemeName must be IBAN or BBAN",
                             "payee.bankAccount.schemeName")
    address = _object(payee, "foreignAddress")
    assert address is not None
    _unknown(address, frozenset({"addressLine1", "addressLine2", "country"}), "payee.foreignAddress.")
    for line in ("addressLine1", "addressLine2"):
        _text(address, line, f"payee.foreignAddress.{line}", limit=35)
    if not isinstance(address.get("country"), str) or not re.fullmatch(r"[A-Z]{2}", address["country"]):
        raise ViolationError("Required", "payee.foreignAddress.country (ISO 3166 alpha-2) is required",
                             "payee.foreignAddress.country")
    bank = _object(payee, "financialInstitution")
    assert bank is not None
    _unknown(bank, frozenset({"bic", "clearingSystemId", "name", "foreignBankAddress"}),
             "payee.financialInstitution.")
    bic = bank.get("bic") or None
    if bic is not None and (not isinstance(bic, str) or not _BIC.fullmatch(bic)):
        raise ViolationError("InvalidValue", "payee.financialInstitution.bic is not a BIC (8 or 11 characters)",
                             "payee.financialInstitution.bic")
    if bic is None and not bank.get("clearingSystemId") and not bank.get("foreignBankAddress"):
        raise ViolationError("CreditorBicOrAddress", "give the payee's bank: a bic, a clearingSystemId or a "
                                                     "foreignBankAddress", "payee.financialInstitution")
    _text(body, "message", "message", required=True)
    for name, allowed in (("detailsOfCharges", ("SHA", "OUR")), ("paymentOrder", ("NORM", "HIGH"))):
        if body.get(name) is not None and body[name] not in allowed:
            raise ViolationError("InvalidValue", f"{name} must be one of {', '.join(allowed)}", name)
    fields = _common(body, today)
    if fields["count"] != 1:
        raise ViolationError("InvalidValue", "a foreign payment is a single payment: count must be 1", "count")
    request = {k: v for k, v in body.items() if k != "authorizationId"}
    return {"request": request, "amount_cents": cents, "currency": currency, **fields}
