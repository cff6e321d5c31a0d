"""Amounts, currencies and account numbers as OP's PSD2 APIs check them (PIS V1.1 violations:
``EuroCents``, ``Min``, ``SepaIban``, ``TypeMismatch``). Money is kept in integer cents."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from mock_op_auth.config.schema import IBAN_PATTERN, iban_checks
from mock_op_auth.errors import ViolationError

# OP's EuroCents rule: "none or exactly two decimals (i.e. cents)"; at most a billion euros.
_AMOUNT = re.compile(r"[0-9]{1,10}(\.[0-9]{2})?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def parse_amount(value: Any, path: str) -> int:
    """A request's amount (a JSON string such as ``"12.50"``) in cents; a violation otherwise."""
    if not isinstance(value, str):
        raise ViolationError("TypeMismatch", f'{path} must be a string such as "12.50"', path)
    if not _AMOUNT.fullmatch(value):
        raise ViolationError("EuroCents", f"{path} must be a positive amount with two decimals (or none), "
                                          f'such as "12.50"', path)
    cents = int(Decimal(value) * 100)
    if cents <= 0:
        raise ViolationError("Min", f"{path} must be greater than zero", path)
    return cents


def fixture_cents(text: str) -> int:
    """A fixture amount (``"-42.50"``, checked at load time) in cents."""
    return int(Decimal(text) * 100)


def cents_text(cents: int) -> str:
    """Cents as OP writes a monetary amount: ``-4250`` → ``"-42.50"``."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def check_iban(value: Any, path: str) -> str:
    """An IBAN without formatting spaces whose check digits hold (ISO 13616)."""
    if not isinstance(value, str):
        raise ViolationError("TypeMismatch", f"{path} must be a string", path)
    if not IBAN_PATTERN.fullmatch(value) or not iban_checks(value):
        raise ViolationError("SepaIban", f"{path} is not a valid IBAN (no spaces, check digits must hold): "
                                         f"{value[:40]}", path)
    return value


def check_currency(value: Any, path: str, rates: dict[str, str]) -> str:
    """An ISO 4217 code the mock can convert (EUR, or one of ``server.psd2.exchange_rates``)."""
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ViolationError("InvalidValue", f"{path} must be an ISO 4217 currency code such as USD", path)
    if value != "EUR" and value not in rates:
        raise ViolationError("InvalidValue", f"the mock has no exchange rate for {value}; add it to "
                                             f"server.psd2.exchange_rates", path)
    return value


def convert(cents: int, source: str, target: str, rates: dict[str, str]) -> int:
    """``cents`` of ``source`` in ``target`` through EUR (``rates``: units per EUR), rounded to the cent."""
    if source == target:
        return cents
    eur = Decimal(cents) / Decimal(rates[source]) if source != "EUR" else Decimal(cents)
    result = eur * Decimal(rates[target]) if target != "EUR" else eur
    return int(result.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
