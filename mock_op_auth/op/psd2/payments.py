"""OP's PSD2 payment initiation (PIS V2: op-auth.md §4.3, §8; DESIGN §8), SEPA and foreign.

A payment is created Unauthorized in a bundle (an intent of kind ``payments``, its
``authorizationId``); more payments join the bundle while it is Unauthorized. The PSU authorizes
the bundle in the PSD2 code flow (it is Authorizing, locked, while the login page is open) or the
exemption flow, or rejects it. Each Authorized payment is then submitted: Accepted until its
occurrences are due (a scheduled date, a recurring series, a foreign payment's day of processing),
then Debited by the mock clock; SubmissionPending when the payment system is "unavailable" (a
scenario, or OP's ``x-sandbox-scenario: PaymentSystemUnavailable``) until it is submitted again.
An Unauthorized payment can be revoked (Revoked); an Authorized one, or a scheduled one not yet
executed, cancelled by the PSU's token (Cancelled).

A payment's status is its own once it has one (``Payment.state``), else its bundle's.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from mock_op_auth.config.schema import Psd2Settings
from mock_op_auth.errors import (
    AccessDeniedError,
    DuplicatePaymentError,
    IllegalStateError,
    InsufficientFundsError,
    InvalidRequestError,
    NotFoundError,
    PaymentFailedError,
    ViolationError,
)
from mock_op_auth.op.psd2.accounts import AccountService
from mock_op_auth.op.psd2.intents import IntentService, iso
from mock_op_auth.op.psd2.money import cents_text, convert, fixture_cents
from mock_op_auth.op.psd2.payment_requests import foreign_request, sepa_request
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import IdempotencyKey, Intent, Payment, Store

PAYMENT_RETENTION = 30 * 86400  # a payment answers GET this long after its last occurrence
IDEMPOTENCY_TTL = 86400
AUTHORIZED_TTL = 365 * 86400  # an authorized bundle's payments may be submitted for a year
FOREIGN_PROCESSING = 86400  # a foreign payment is Accepted for a day before it is Debited
MAX_BUNDLE = 100
SANDBOX_SCENARIOS = ("PaymentSystemUnavailable", "InsufficientFunds", "PaymentFail")
_SUBMISSION_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")


@dataclass(frozen=True)
class Creator:
    """Who creates a payment: the client, and the PSU when the token is a PSU's (the exemption flow)."""

    client_id: str
    subject: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class NewPayment:
    """A checked create request: the payment to store and its bundle, or the one it replays."""

    payment: Payment
    bundle: Intent
    idempotency: IdempotencyKey | None
    replay: bool = False


@dataclass(frozen=True)
class Submission:
    """A checked submission: ``replay`` when the same submission id asks again."""

    payment: Payment
    bundle: Intent
    submission_id: str
    replay: bool = False


def canonical_digest(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


class PaymentService:
    def __init__(self, store: Store, clock: Clock, intents: IntentService, accounts: AccountService) -> None:
        self.store = store
        self.clock = clock
        self.intents = intents
        self.accounts = accounts

    # --- creation ---

    def check_create(self, kind: str, creator: Creator, body: Any, idempotency_key: str | None,
                     settings: Psd2Settings) -> NewPayment:
        """Validate a create request; stores nothing. Raises the violation OP would answer."""
        if not idempotency_key:
            raise ViolationError("Required", "x-idempotency-key is required", "x-idempotency-key")
        if len(idempotency_key) > 128:
            raise ViolationError("Size", "x-idempotency-key is longer than 128 characters", "x-idempotency-key")
        if not isinstance(body, dict):
            raise ViolationError("TypeMismatch", "the body must be a JSON object")
        key = f"{creator.client_id}\n{idempotency_key}"
        digest = canonical_digest(body)
        earlier = self.store.get_idempotency(key)
        if earlier is not None:
            return self._replay(earlier, digest)
        today = datetime.fromtimestamp(self.clock.now(), UTC).date()
        fields = sepa_request(body, today) if kind == "sepa" else foreign_request(body, today, settings.exchange_rates)
        bundle = self._bundle_for(body.get("authorizationId"), creator, kind)
        now = self.clock.now()
        payment = Payment(id=str(uuid.uuid4()), authorization_id=bundle.id, client_id=creator.client_id,
                          kind="sepa" if kind == "sepa" else "foreign", created_at=now,
                          expires_at=now + PAYMENT_RETENTION, **fields)
        return NewPayment(payment, bundle, IdempotencyKey(key, digest, payment.id, now + IDEMPOTENCY_TTL))

    def _replay(self, earlier: IdempotencyKey, digest: str) -> NewPayment:
        """OP: the same key and body answer the original payment while it is still Unauthorized."""
        payment = self.store.get_payment(earlier.payment_id)
        bundle = self.intents.current(payment.authorization_id) if payment else None
        if payment is None or bundle is None:
            raise DuplicatePaymentError("the x-idempotency-key was used for a payment that is gone",
                                        "x-idempotency-key")
        if earlier.digest != digest:
            raise DuplicatePaymentError("the x-idempotency-key was already used with another body",
                                        "x-idempotency-key")
        status = self.status(payment, bundle)
        if status != "Unauthorized":
            raise DuplicatePaymentError(f"the payment of this x-idempotency-key is already {status}",
                                        "x-idempotency-key")
        return NewPayment(payment, bundle, None, replay=True)

    def _bundle_for(self, authorization_id: Any, creator: Creator, kind: str) -> Intent:
        """The bundle a payment joins (``authorizationId``), or a new one."""
        now = self.clock.now()
        if authorization_id is None:
            return Intent(id=str(uuid.uuid4()), client_id=creator.client_id, status="Unauthorized", created_at=now,
                          expires_at=now, kind="payments", subject=creator.subject, user=creator.user)
        if not isinstance(authorization_id, str):
            raise ViolationError("TypeMismatch", "authorizationId must be a string", "authorizationId")
        bundle = self.intents.current(authorization_id)
        if bundle is None or bundle.client_id != creator.client_id or bundle.kind != "payments":
            raise ViolationError("InvalidValue", f"unknown authorizationId {authorization_id[:64]}", "authorizationId")
        if bundle.status == "Expired":
            raise ViolationError("InvalidValue", f"the authorization {bundle.id} has expired", "authorizationId")
        if bundle.status != "Unauthorized":
            raise IllegalStateError(f"the authorization {bundle.id} is {bundle.status}: no payments can be added to "
                                    f"it", "authorizationId")
        members = [self.store.get_payment(p) for p in bundle.payment_ids]
        if any(m is not None and m.kind != ("sepa" if kind == "sepa" else "foreign") for m in members):
            raise ViolationError("InvalidValue", "foreign payments cannot be bundled with SEPA payments",
                                 "authorizationId")
        if len(bundle.payment_ids) >= MAX_BUNDLE:
            raise IllegalStateError(f"a bundle holds at most {MAX_BUNDLE} payments", "authorizationId")
        return bundle

    def create(self, new: NewPayment, settings: Psd2Settings) -> Payment:
        """Store a checked payment (and its new bundle); a replay changes nothing."""
        if new.replay:
            return new.payment
        if new.idempotency is not None and self.store.get_idempotency(new.idempotency.key) is not None:
            raise DuplicatePaymentError("the x-idempotency-key was taken by a request that came first",
                                        "x-idempotency-key")  # while a scenario delayed this one
        bundle = self.intents.current(new.bundle.id) or new.bundle
        if bundle.payment_ids and bundle.status != "Unauthorized":  # it moved on since the check
            raise IllegalStateError(f"the authorization {bundle.id} is {bundle.status}: no payments can be added "
                                    f"to it", "authorizationId")
        now = self.clock.now()
        if not bundle.payment_ids:
            bundle = replace(bundle, expires_at=now + settings.payment_ttl)
        self.store.put_payment(new.payment)
        self.store.put_intent(replace(bundle, payment_ids=(*bundle.payment_ids, new.payment.id), modified_at=now))
        if new.idempotency is not None:
            self.store.put_idempotency(new.idempotency)
        return new.payment

    # --- reading ---

    def bundle(self, authorization_id: str, client_id: str) -> Intent:
        return self.intents.get(authorization_id, client_id, "payments")

    def payments_of(self, bundle: Intent) -> list[Payment]:
        return [p for p in (self.store.get_payment(i) for i in bundle.payment_ids) if p is not None]

    def get(self, payment_id: str, client_id: str) -> tuple[Payment, Intent]:
        payment = self.store.get_payment(payment_id)
        bundle = self.intents.current(payment.authorization_id) if payment is not None else None
        if payment is None or bundle is None or payment.client_id != client_id:
            raise NotFoundError(f"no payment {payment_id[:64]}")
        return payment, bundle

    def status(self, payment: Payment, bundle: Intent) -> str:
        """The payment's status now (OP's PIS V2 statuses; Expired for a bundle nobody authorized in time)."""
        if payment.state is None:
            return bundle.status
        if payment.state == "Accepted":
            return "Debited" if payment.due and max(payment.due) <= self.clock.now() else "Accepted"
        return payment.state

    def body(self, payment: Payment, bundle: Intent) -> dict[str, Any]:
        """OP's ``SepaPaymentDetails`` / ``ForeignPaymentDetails``."""
        request = payment.request
        body: dict[str, Any] = {"authorizationId": payment.authorization_id, "paymentId": payment.id}
        if payment.kind == "sepa":
            body["paymentType"] = "SepaPayment"
            body.update({k: request[k] for k in ("amountEUR", "payee") if k in request})
            body["count"] = payment.count
        else:
            body["paymentType"] = "ForeignPayment"
            body.update({k: request[k] for k in ("amount", "currency", "payee") if k in request})
            body["count"] = 1
        if payment.payer_iban is not None:
            body["payer"] = {"iban": payment.payer_iban}
        for name in ("message", "reference", "ultimatePayee", "originalPayer", "exchangeRateReference",
                     "executionDate"):
            if request.get(name) is not None:
                body[name] = request[name]
        if payment.kind == "sepa":
            body.update({"detailsOfCharges": "SHA", "paymentOrder": "SEPA"})
        else:
            body.update({"detailsOfCharges": request.get("detailsOfCharges") or "SHA",
                         "paymentOrder": request.get("paymentOrder") or "NORM"})
        modified = max(t for t in (payment.modified_at, bundle.modified_at, payment.created_at) if t is not None)
        body.update({"created": iso(payment.created_at), "modified": iso(modified),
                     "status": self.status(payment, bundle)})
        if payment.submission_id is not None:
            body["submissions"] = [self.submission_body(payment, bundle)]
        return body

    def submission_body(self, payment: Payment, bundle: Intent) -> dict[str, Any]:
        body: dict[str, Any] = {"paymentId": payment.id, "submissionId": payment.submission_id}
        if payment.archive_id is not None:
            body["archiveId"] = payment.archive_id
        body["created"] = iso(payment.submitted_at or payment.created_at)
        body["status"] = self.status(payment, bundle)
        return body

    def bundle_body(self, bundle: Intent, include_payments: bool) -> dict[str, Any]:
        """OP's ``Authorization`` (bundle)."""
        body: dict[str, Any] = {"authorizationId": bundle.id, "created": iso(bundle.created_at),
                                "modified": iso(bundle.modified_at or bundle.created_at)}
        if bundle.authorized_at is not None:
            body["authorized"] = iso(bundle.authorized_at)
        body["status"] = bundle.status
        if include_payments:
            payments = self.payments_of(bundle)
            body["sepaPayments"] = [self.body(p, bundle) for p in payments if p.kind == "sepa"]
            body["foreignPayments"] = [self.body(p, bundle) for p in payments if p.kind == "foreign"]
        return body

    def details(self, bundle: Intent) -> dict[str, str]:
        """What the PSU sees on the login page: each payment's payee, amount and message."""
        shown: dict[str, str] = {}
        payments = [p for p in self.payments_of(bundle) if p.state is None]
        for index, payment in enumerate(payments, start=1):
            request = payment.request
            payee = request.get("payee") or {}
            account = payee.get("iban") or (payee.get("bankAccount") or {}).get("id") or ""
            amount = request.get("amountEUR") or request.get("amount") or ""
            prefix = f"Payment {index}: " if len(payments) > 1 else ""
            shown[f"{prefix}Payee"] = f"{payee.get('name', '')} ({account})"
            shown[f"{prefix}Amount"] = f"{amount} {payment.currency}" + (
                f", {payment.count} times" if payment.count > 1 else "")
            if request.get("message") or request.get("reference"):
                shown[f"{prefix}Message"] = str(request.get("message") or request.get("reference"))
            if payment.payer_iban:
                shown[f"{prefix}From account"] = payment.payer_iban
            if request.get("executionDate"):
                shown[f"{prefix}Date"] = str(request["executionDate"])
        return shown

    # --- authorization ---

    def start_authorizing(self, bundle: Intent) -> None:
        """The PSU opened the login page: the bundle is Authorizing and takes no more payments."""
        if bundle.status == "Unauthorized":
            self.intents.set_status(bundle, "Authorizing")

    def check_authorizable(self, bundle: Intent) -> None:
        if not any(p.state is None for p in self.payments_of(bundle)):
            raise InvalidRequestError("the authorization has no payments left to authorize")

    def authorize(self, bundle: Intent, subject: str, user: str | None, acr: str, settings: Psd2Settings) -> Intent:
        """The PSU authorized the bundle: payments without a payer are debited from their first account."""
        held = self.accounts.accounts_for(settings, user)
        default_payer = held[0].iban if held else None
        now = self.clock.now()
        for payment in self.payments_of(bundle):
            if payment.state is None and payment.payer_iban is None and default_payer is not None:
                self.store.put_payment(replace(payment, payer_iban=default_payer, modified_at=now))
        return self.intents.set_status(bundle, "Authorized", authorized_at=now, subject=subject, user=user, acr=acr,
                                       expires_at=now + AUTHORIZED_TTL)

    def exemption_problem(self, bundle: Intent, settings: Psd2Settings) -> str | None:
        """Why the exemption flow may not authorize ``bundle`` (None: it may): it must be Unauthorized,
        made with a PSU's token, and every payment at most ``server.psd2.exemption_limit`` EUR."""
        if bundle.status != "Unauthorized":
            return f"the authorization is {bundle.status}, not Unauthorized"
        if bundle.subject is None:
            return "the exemption flow authorizes payments created with the PSU's access token"
        limit = fixture_cents(settings.exemption_limit)
        for payment in self.payments_of(bundle):
            if payment.state is None and \
                    convert(payment.amount_cents, payment.currency, "EUR", settings.exchange_rates) > limit:
                return f"a payment over {settings.exemption_limit} EUR needs strong customer authentication"
        return None

    # --- submission ---

    def check_submit(self, payment: Payment, bundle: Intent, submission_id: str) -> Submission:
        if not _SUBMISSION_ID.fullmatch(submission_id):
            raise ViolationError("InvalidValue", "the submission id is 1-64 letters, digits or -._~", "submissionId")
        status = self.status(payment, bundle)
        if payment.submission_id == submission_id and status in ("Accepted", "Debited"):
            return Submission(payment, bundle, submission_id, replay=True)
        if status not in ("Authorized", "SubmissionPending"):
            raise IllegalStateError(f"the payment is {status}, not Authorized: it cannot be submitted")
        return Submission(payment, bundle, submission_id)

    def submit(self, sub: Submission, settings: Psd2Settings, forced: str | None,
               sandbox_scenario: str | None) -> Payment:
        """Execute a checked submission: debits due now or later, or SubmissionPending."""
        payment = self.store.get_payment(sub.payment.id) or sub.payment
        if sub.replay:
            return payment
        now = self.clock.now()
        if self.status(payment, self.intents.current(payment.authorization_id) or sub.bundle) \
                not in ("Authorized", "SubmissionPending"):
            raise IllegalStateError("the payment is no longer Authorized")
        if sandbox_scenario == "PaymentFail":
            raise PaymentFailedError("the payment failed (x-sandbox-scenario PaymentFail)")
        if forced == "SubmissionPending" or sandbox_scenario == "PaymentSystemUnavailable":
            pending = replace(payment, state="SubmissionPending", submission_id=sub.submission_id, submitted_at=now,
                              modified_at=now)
            self.store.put_payment(pending)
            return pending
        account = self.accounts.by_iban(settings, payment.payer_iban)
        debit = convert(payment.amount_cents, payment.currency, account.currency if account else payment.currency,
                        settings.exchange_rates)
        start = max(now, _midnight(date.fromisoformat(payment.execution_date))) if payment.execution_date else now
        if payment.kind == "foreign" or forced == "Accepted":
            start = max(start, now + FOREIGN_PROCESSING)
        if forced == "Debited":
            start = now
        due = tuple(start + k * settings.recurring_interval for k in range(payment.count))
        if sandbox_scenario == "InsufficientFunds" or (
                account is not None and due[0] <= now
                and self.accounts.balance(account) - self.accounts.committed(account) < debit):
            raise InsufficientFundsError(f"the payer account has insufficient funds for {cents_text(debit)} "
                                         f"{account.currency if account else payment.currency}", "payer.iban")
        archive_id = f"{datetime.fromtimestamp(now, UTC):%Y%m%d}/593100/{secrets.randbelow(10**8):08d}"
        done = replace(payment, state="Accepted", submission_id=sub.submission_id, submitted_at=now, modified_at=now,
                       archive_id=archive_id, due=due, debit_cents=debit,
                       expires_at=max(payment.expires_at, due[-1] + PAYMENT_RETENTION))
        if account is not None:
            payee = payment.request.get("payee") or {}
            self.accounts.debit(account, [{
                "payment_id": payment.id, "due": when, "cents": debit, "name": payee.get("name"),
                "iban": payee.get("iban") or (payee.get("bankAccount") or {}).get("id"),
                "message": payment.request.get("message") or payment.request.get("reference"),
                "archive_id": archive_id if k == 0 else f"{archive_id}-{k + 1}",
                "description": "TILISIIRTO" if payment.kind == "sepa" else "ULKOMAAN MAKSU",
            } for k, when in enumerate(due)])
        self.store.put_payment(done)
        return done

    # --- revocation and cancellation ---

    def check_delete(self, payment: Payment, bundle: Intent, by_psu: bool) -> str:
        """The status a DELETE leaves: Revoked (an Unauthorized payment), or Cancelled (an Authorized
        one, or one accepted for a later date, by the PSU's token)."""
        status = self.status(payment, bundle)
        if status == "Unauthorized":
            return "Revoked"
        if status in ("Authorized", "Accepted") and by_psu:
            return "Cancelled"
        if status in ("Authorized", "Accepted"):
            raise IllegalStateError(f"the payment is {status}: only the PSU can cancel it (call with the PSU's "
                                    f"token of authorization {bundle.id})")
        raise IllegalStateError(f"the payment is {status}: it cannot be revoked or cancelled")

    def delete(self, payment: Payment, state: str, settings: Psd2Settings) -> Payment:
        now = self.clock.now()
        current = self.store.get_payment(payment.id) or payment
        account = self.accounts.by_iban(settings, current.payer_iban)
        if state == "Cancelled" and account is not None:
            self.accounts.cancel_debits(account, current.id)
        done = replace(current, state=state, modified_at=now)  # type: ignore[arg-type]
        self.store.put_payment(done)
        return done


def check_sandbox_scenario(value: str | None) -> str | None:
    """OP's ``x-sandbox-scenario`` on a submission (the mock honours three of OP's values)."""
    if value is None:
        return None
    if value not in SANDBOX_SCENARIOS:
        raise ViolationError("InvalidValue", f"x-sandbox-scenario must be one of {', '.join(SANDBOX_SCENARIOS)}",
                             "x-sandbox-scenario")
    return value


def psu_of(token_intent: Intent | None, bundle: Intent) -> bool:
    """Whether a token was issued on this very bundle (the PSU's token for it)."""
    return token_intent is not None and token_intent.id == bundle.id


def require_psu(token_intent: Intent | None, bundle: Intent) -> None:
    if not psu_of(token_intent, bundle):
        raise AccessDeniedError(f"submit with the PSU's access token of authorization {bundle.id} "
                                f"(the code flow's or the exemption's)")
