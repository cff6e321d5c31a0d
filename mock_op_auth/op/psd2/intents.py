"""PSD2 intents (op-auth.md §4.3, §8): the ``authorizations`` a PSU approves, and whose revocation
revokes every grant issued on them, so their tokens die at the resource stub, introspection and
refresh alike. Three kinds share them: AIS consents, PIS payment bundles (``payments.py``) and CoF
authorizations. Statuses: Unauthorized → (Authorizing →) Authorized | Rejected, then Revoked, or
Expired by the mock clock."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from mock_op_auth.config.schema import Psd2Settings
from mock_op_auth.errors import InvalidRequestError, NotFoundError
from mock_op_auth.op.psd2.money import check_iban
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import Intent, IntentKind, Store

INTENT_FIELDS = frozenset({"expires", "transactionFrom", "transactionTo"})
TRANSACTION_HISTORY_DAYS = 730  # how far back transactionFrom may reach (op-auth.md §2.4)
FUNDS_INTENT_FIELDS = frozenset({"expires", "iban"})
LIVE = ("Unauthorized", "Authorizing", "Authorized")  # statuses the clock can expire


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any, name: str) -> float:
    """An ISO 8601 date or date-time (UTC when no offset is given) as epoch seconds."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(f"{name} is not an ISO 8601 date-time: {value[:40]}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class IntentService:
    """PSD2 intents: created Unauthorized, Authorized by the PSU, Rejected, Revoked, or Expired by the clock."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def current(self, intent_id: str) -> Intent | None:
        """The intent as it stands by the mock clock: a live one past ``expires`` is ``Expired``."""
        intent = self.store.get_intent(intent_id)
        if intent is not None and intent.status in LIVE and intent.expires_at <= self.clock.now():
            return replace(intent, status="Expired")
        return intent

    def get(self, intent_id: str, client_id: str, kind: IntentKind = "accounts") -> Intent:
        """A ``kind`` intent of ``client_id`` as it stands; 404 for any other (another API's, another client's)."""
        intent = self.current(intent_id)
        if intent is None or intent.client_id != client_id or intent.kind != kind:
            raise NotFoundError(f"no authorization {intent_id[:64]}")
        return intent

    def new_funds(self, client_id: str, body: Any, settings: Psd2Settings) -> Intent:
        """Check a CoF POST /authorizations body (``{iban?, expires?}``) and build the intent."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise InvalidRequestError("the body must be a JSON object")
        if unknown := sorted(set(body) - FUNDS_INTENT_FIELDS):
            raise InvalidRequestError(f"unknown fields: {', '.join(unknown)}")
        now = self.clock.now()
        ttl = settings.funds_intent_ttl
        expires = parse_time(body["expires"], "expires") if "expires" in body else now + ttl
        if expires <= now:
            raise InvalidRequestError("expires is in the past")
        if expires > now + ttl:
            raise InvalidRequestError(f"expires is more than {ttl // 86400} days ahead")
        iban = check_iban(body["iban"], "iban") if body.get("iban") is not None else None
        return Intent(id=str(uuid.uuid4()), client_id=client_id, status="Unauthorized", created_at=now,
                      expires_at=expires, kind="fundsconfirmations", iban=iban)

    def new(self, client_id: str, body: Any, settings: Psd2Settings) -> Intent:
        """Check a POST /authorizations body and build the intent (stored by ``put``)."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise InvalidRequestError("the body must be a JSON object")
        if unknown := sorted(set(body) - INTENT_FIELDS):
            raise InvalidRequestError(f"unknown fields: {', '.join(unknown)}")
        now = self.clock.now()
        expires = parse_time(body["expires"], "expires") if "expires" in body else now + settings.intent_ttl
        if expires <= now:
            raise InvalidRequestError("expires is in the past")
        if expires > now + settings.intent_ttl:
            raise InvalidRequestError(f"expires is more than {settings.intent_ttl // 86400} days ahead")
        window = {k: body[k] for k in ("transactionFrom", "transactionTo") if k in body}
        times = {name: parse_time(value, name) for name, value in window.items()}
        earliest = (now // 86400 - TRANSACTION_HISTORY_DAYS) * 86400  # whole days: a date reads as its midnight
        if "transactionFrom" in times and times["transactionFrom"] < earliest:
            raise InvalidRequestError(f"transactionFrom is more than {TRANSACTION_HISTORY_DAYS} days in the past")
        if len(times) == 2 and times["transactionTo"] < times["transactionFrom"]:
            raise InvalidRequestError("transactionTo is before transactionFrom")
        return Intent(id=str(uuid.uuid4()), client_id=client_id, status="Unauthorized", created_at=now,
                      expires_at=expires, transaction_from=window.get("transactionFrom"),
                      transaction_to=window.get("transactionTo"))

    def set_status(self, intent: Intent, status: str, **changes: Any) -> Intent:
        updated = replace(intent, status=status, modified_at=self.clock.now(), **changes)  # type: ignore[arg-type]
        self.store.put_intent(updated)
        return updated

    def revoke(self, intent: Intent) -> Intent:
        """Revoke an intent and every grant issued on it (their access and refresh tokens too)."""
        for grant_id in intent.grant_ids:
            self.store.revoke_grant(grant_id)
        return self.set_status(intent, "Revoked") if intent.status != "Revoked" else intent

    def link_grant(self, intent_id: str, grant_id: str) -> None:
        """Remember a grant issued on an intent, so revoking the intent revokes it."""
        intent = self.store.link_grant(intent_id, grant_id)
        if intent is not None and intent.status == "Revoked":
            self.store.revoke_grant(grant_id)


def intent_body(intent: Intent) -> dict[str, Any]:
    """OP's ``Authorization`` object (op-auth.md §4.3)."""
    body: dict[str, Any] = {"authorizationId": intent.id, "created": iso(intent.created_at)}
    if intent.modified_at is not None:
        body["modified"] = iso(intent.modified_at)
    if intent.authorized_at is not None:
        body["authorized"] = iso(intent.authorized_at)
    body["expires"] = iso(intent.expires_at)
    if intent.transaction_from is not None:
        body["transactionFrom"] = intent.transaction_from
    if intent.transaction_to is not None:
        body["transactionTo"] = intent.transaction_to
    if intent.iban is not None:
        body["iban"] = intent.iban
    body["status"] = intent.status
    return body
