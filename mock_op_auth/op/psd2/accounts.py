"""The PSUs' accounts (DESIGN §8, ``server.psd2.accounts``): what AIS lists (accounts, balances,
transactions, cards in OP's AIS shapes), what a submitted payment debits and what CoF checks.

A fixture account's ``balance`` is its balance before the mock executes anything. Each payment the
mock executes is a debit in the account's ``Ledger`` (in the store) with the time it is due; the
balance now is the fixture balance less the debits due by the mock clock, so a scheduled or
recurring payment lowers it when the clock reaches its date, and a reset restores it.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from mock_op_auth.config.schema import Config, Psd2Account, Psd2Card, Psd2Settings
from mock_op_auth.errors import NotFoundError, ViolationError
from mock_op_auth.op.psd2.money import cents_text, fixture_cents
from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import MAX_LEDGER_ENTRIES, Ledger, Store

TOKEN_PREFIX = "offset:"


def account_id(account: Psd2Account) -> str:
    """OP's ``accountId``: the fixture's ``id``, else a UUID derived from the IBAN (stable across runs)."""
    return account.id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"mock-op-auth:account:{account.iban}"))


def card_id(card: Psd2Card) -> str:
    return card.id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"mock-op-auth:card:{card.number}"))


def day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    continuation: str | None


def page_of(items: list[dict[str, Any]], token: str | None, size: int) -> Page:
    """One page of ``items`` from ``token`` (a ``continuationToken`` this server handed out)."""
    offset = 0
    if token:
        try:
            decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            offset = int(decoded.removeprefix(TOKEN_PREFIX)) if decoded.startswith(TOKEN_PREFIX) else -1
        except (binascii.Error, UnicodeDecodeError, ValueError):
            offset = -1
        if offset < 0 or offset > len(items):
            raise ViolationError("InvalidValue", "continuationToken is not one this server handed out",
                                 "continuationToken")
    end = offset + size
    following = None
    if end < len(items):
        following = base64.urlsafe_b64encode(f"{TOKEN_PREFIX}{end}".encode()).rstrip(b"=").decode("ascii")
    return Page(items[offset:end], following)


class AccountService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    # --- which accounts ---

    @staticmethod
    def accounts_for(settings: Psd2Settings, user: str | None) -> list[Psd2Account]:
        """The accounts a PSU holds: theirs, and those the fixture gives no ``user`` (everyone's)."""
        return [a for a in settings.accounts if a.user is None or a.user == user]

    def account(self, settings: Psd2Settings, user: str | None, wanted: str) -> Psd2Account:
        found = next((a for a in self.accounts_for(settings, user) if account_id(a) == wanted), None)
        if found is None:
            raise NotFoundError(f"no account {wanted[:64]}")
        return found

    def card(self, settings: Psd2Settings, user: str | None, wanted: str) -> Psd2Card:
        for account in self.accounts_for(settings, user):
            for card in account.cards:
                if card_id(card) == wanted:
                    return card
        raise NotFoundError(f"no card {wanted[:64]}")

    @staticmethod
    def by_iban(settings: Psd2Settings, iban: str | None) -> Psd2Account | None:
        return next((a for a in settings.accounts if a.iban == iban), None)

    # --- balances and debits ---

    def balance(self, account: Psd2Account) -> int:
        """The balance now, in cents: the fixture's, less the debits due by the mock clock."""
        ledger = self.store.get_ledger(account.iban)
        if ledger is None:
            return fixture_cents(account.balance)
        now = self.clock.now()
        due = sum(e["cents"] for e in ledger.entries if e["due"] <= now)
        return fixture_cents(account.balance) - ledger.carried_cents - due

    def committed(self, account: Psd2Account) -> int:
        """Cents already promised to payments not yet due (scheduled, recurring, in processing)."""
        ledger = self.store.get_ledger(account.iban)
        now = self.clock.now()
        return sum(e["cents"] for e in ledger.entries if e["due"] > now) if ledger else 0

    def debit(self, account: Psd2Account, entries: list[dict[str, Any]]) -> None:
        """Add debits (``{payment_id, due, cents, name, iban, message, archive_id, description}``)."""
        ledger = self.store.get_ledger(account.iban) or Ledger(account.iban)
        kept = [*ledger.entries, *entries]
        carried = ledger.carried_cents
        while len(kept) > MAX_LEDGER_ENTRIES:
            carried += kept.pop(0)["cents"]
        self.store.put_ledger(Ledger(account.iban, tuple(kept), carried))

    def cancel_debits(self, account: Psd2Account, payment_id: str) -> int:
        """Drop a payment's debits that are not due yet (a cancelled scheduled payment); returns how many."""
        ledger = self.store.get_ledger(account.iban)
        if ledger is None:
            return 0
        now = self.clock.now()
        kept = tuple(e for e in ledger.entries if e["payment_id"] != payment_id or e["due"] <= now)
        self.store.put_ledger(replace(ledger, entries=kept))
        return len(ledger.entries) - len(kept)

    # --- OP's AIS shapes ---

    def account_body(self, account: Psd2Account, config: Config) -> dict[str, Any]:
        """OP's ``Account`` (AIS v1): amounts as strings."""
        balance = cents_text(self.balance(account))
        holder = config.users.get(account.user) if account.user else None
        owner = str(holder.claims.get("name") or account.user) if holder else "Account holder"
        return {"accountId": account_id(account), "productName": account.name, "identifierSchema": "IBAN",
                "identifier": account.iban, "servicerSchema": "BIC", "servicer": account.bic, "owner": owner,
                "netBalance": balance, "grossBalance": balance, "currency": account.currency}

    def transactions(self, account: Psd2Account, window: tuple[str | None, str | None]) -> list[dict[str, Any]]:
        """The account's transactions, newest first: the fixture's and the mock's own debits due by
        now, within an AIS consent's ``transactionFrom``/``transactionTo`` (inclusive dates)."""
        rows: list[tuple[str, int, dict[str, Any]]] = []
        for index, tx in enumerate(account.transactions):
            when = tx.date.isoformat()
            body: dict[str, Any] = {"archiveId": tx.archive_id or f"{tx.date:%Y%m%d}/593100/{10000 + index:05d}"}
            if tx.message:
                body["message"] = tx.message
            if tx.reference:
                body["reference"] = tx.reference
            body.update({"amount": tx.amount, "currency": account.currency, "bookingDate": when, "valueDate": when,
                         "paymentDate": when})
            if tx.name:
                body["recipient" if fixture_cents(tx.amount) < 0 else "payer"] = {"name": tx.name}
            if tx.description:
                body["proprietaryTransactionDescription"] = tx.description
            rows.append((when, -index, body))
        ledger = self.store.get_ledger(account.iban)
        now = self.clock.now()
        for index, entry in enumerate(ledger.entries if ledger else ()):
            if entry["due"] > now:
                continue
            when = day(entry["due"])
            body = {"archiveId": entry["archive_id"]}
            if entry.get("message"):
                body["message"] = entry["message"]
            body.update({"amount": cents_text(-entry["cents"]), "currency": account.currency, "bookingDate": when,
                         "valueDate": when, "paymentDate": when,
                         "recipient": {"name": entry.get("name") or "", "identifier": entry.get("iban") or ""},
                         "proprietaryTransactionDescription": entry.get("description") or "TILISIIRTO"})
            rows.append((when, 1_000_000 + index, body))  # the mock's debits after the fixture's on the same day
        start, end = window
        rows = [r for r in rows if (start is None or r[0] >= start[:10]) and (end is None or r[0] <= end[:10])]
        rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return [body for _, _, body in rows]

    @staticmethod
    def card_body(card: Psd2Card) -> dict[str, Any]:
        return {"cardId": card_id(card), "productName": card.name, "cardNumber": card.number}

    @staticmethod
    def card_transactions(card: Psd2Card) -> list[dict[str, Any]]:
        rows = sorted(card.transactions, key=lambda t: t.date, reverse=True)
        return [{"description": t.description, "amount": t.amount, "currency": t.currency,
                 "postingDate": t.date.isoformat()} for t in rows]


def today(clock: Clock) -> date:
    return datetime.fromtimestamp(clock.now(), UTC).date()
