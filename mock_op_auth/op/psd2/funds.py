"""OP's PSD2 confirmation of funds (CoF; DESIGN §8): ``POST /funds-confirmations`` answers whether
the account of an Authorized CoF authorization covers an amount, from the fixture's balance less
what the mock has debited and reserved (payments due later)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from mock_op_auth.config.schema import Psd2Account, Psd2Settings
from mock_op_auth.errors import IllegalStateError, ViolationError
from mock_op_auth.op.psd2.accounts import AccountService
from mock_op_auth.op.psd2.intents import iso
from mock_op_auth.op.psd2.money import cents_text, parse_amount
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import Intent

FIELDS = frozenset({"authorizationId", "amountEUR"})


@dataclass(frozen=True)
class FundsQuestion:
    intent: Intent
    account: Psd2Account
    cents: int


class FundsService:
    def __init__(self, accounts: AccountService, clock: Clock) -> None:
        self.accounts = accounts
        self.clock = clock

    def check(self, body: Any, intent: Intent, settings: Psd2Settings) -> FundsQuestion:
        """Validate ``{authorizationId, amountEUR}`` against the PSU's CoF authorization ``intent``."""
        if not isinstance(body, dict):
            raise ViolationError("TypeMismatch", "the body must be a JSON object")
        if unknown := sorted(set(body) - FIELDS):
            raise ViolationError("UnrecognizedProperty", f"unknown property {unknown[0]}", unknown[0])
        if body.get("authorizationId") is None:
            raise ViolationError("Required", "authorizationId is required", "authorizationId")
        if body["authorizationId"] != intent.id:
            raise ViolationError("InvalidValue", "authorizationId is not the authorization this token was issued on",
                                 "authorizationId")
        if body.get("amountEUR") is None:
            raise ViolationError("Required", "amountEUR is required", "amountEUR")
        cents = parse_amount(body["amountEUR"], "amountEUR")
        account = self.accounts.by_iban(settings, intent.iban)
        if account is None:
            raise IllegalStateError(f"the account {intent.iban} of this authorization is not one of "
                                    f"server.psd2.accounts")
        return FundsQuestion(intent, account, cents)

    def confirm(self, question: FundsQuestion) -> dict[str, Any]:
        """OP's ``FundsConfirmationResponseSchema``."""
        available = self.accounts.balance(question.account) - self.accounts.committed(question.account)
        return {"fundsConfirmationId": str(uuid.uuid4()), "authorizationId": question.intent.id,
                "amountEUR": cents_text(question.cents), "fundsAvailable": available >= question.cents,
                "created": iso(self.clock.now())}
