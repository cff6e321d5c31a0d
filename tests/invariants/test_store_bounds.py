"""MemoryStore stays bounded and forgets expired rows without a scan per write."""

from __future__ import annotations

from mock_op_auth.state.clock import Clock
from mock_op_auth.state.store import AccessToken, MemoryStore


def token(key: str, expires_at: float) -> AccessToken:
    return AccessToken(key=key, client_id="c", subject="c", scope=("a",), issued_at=0, expires_at=expires_at,
                       audience="aud", issuer="iss")


def test_expired_tokens_are_dropped_as_new_ones_arrive() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    for i in range(5000):
        store.put_access(token(f"t{i}", clock.now() + 1))
        if i % 100 == 99:
            clock.advance(2)
    assert store.sizes()["access_tokens"] <= 200
    assert store.get_access("t0") is None


def test_tokens_that_expire_out_of_order_are_swept_too() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    store.put_access(token("long", clock.now() + 10_000))
    for i in range(3000):
        store.put_access(token(f"t{i}", clock.now() + (1 if i % 2 else 10_000)))
    clock.advance(5)
    for i in range(8000):  # a sweep runs at least once per len(table) inserts
        store.put_access(token(f"u{i}", clock.now() + 1_000_000))
    assert store.get_access("t1") is None  # behind a long-lived row at the front, still swept
    assert store.get_access("t0") is not None and store.get_access("long") is not None


def test_a_full_store_drops_its_oldest_rows() -> None:
    clock = Clock()
    store = MemoryStore(clock, limit=100)
    for i in range(1000):
        store.put_access(token(f"t{i}", clock.now() + 3600))
    assert store.sizes()["access_tokens"] == 100
    assert store.get_access("t899") is None and store.get_access("t900") is not None


def test_markers_are_bounded_and_expire() -> None:
    """DPoP proof jtis and nonces: a flood of them never grows the store past its bound."""
    from mock_op_auth.state.store import MAX_MARKERS

    clock = Clock()
    store = MemoryStore(clock)
    for i in range(MAX_MARKERS + 500):
        assert store.add_marker(f"m{i}", clock.now() + 300)
    assert len(store._tables["marker"]) == MAX_MARKERS  # the oldest made room
    assert not store.has_marker("m0") and store.has_marker(f"m{MAX_MARKERS + 499}")
    clock.advance(301)
    store.add_marker("late", clock.now() + 300)
    assert not store.has_marker(f"m{MAX_MARKERS}")


def test_device_codes_are_bounded() -> None:
    from mock_op_auth.state.store import MAX_DEVICE_CODES, DeviceCode

    clock = Clock()
    store = MemoryStore(clock)
    for i in range(MAX_DEVICE_CODES + 10):
        store.put_device(DeviceCode(f"d{i}", f"U{i}", "c", (), clock.now() + 600, 5))
    assert len(store._tables["device"]) == MAX_DEVICE_CODES and len(store._tables["user_code"]) == MAX_DEVICE_CODES
    assert store.get_device("d0") is None and store.find_device(f"U{MAX_DEVICE_CODES + 9}") is not None


def test_an_account_ledger_stays_bounded_and_keeps_the_balance() -> None:
    from mock_op_auth.config.schema import Psd2Account
    from mock_op_auth.op.psd2.accounts import AccountService
    from mock_op_auth.state.store import MAX_LEDGER_ENTRIES

    clock = Clock()
    store = MemoryStore(clock)
    accounts = AccountService(store, clock)
    account = Psd2Account(iban="FI8659986920068681", balance="100000.00")
    for i in range(MAX_LEDGER_ENTRIES + 50):
        accounts.debit(account, [{"payment_id": f"p{i}", "due": clock.now() - 1, "cents": 1, "archive_id": str(i)}])
    ledger = store.get_ledger(account.iban)
    assert ledger is not None and len(ledger.entries) == MAX_LEDGER_ENTRIES and ledger.carried_cents == 50
    assert accounts.balance(account) == 10_000_000 - MAX_LEDGER_ENTRIES - 50


def test_payments_and_idempotency_keys_are_bounded_and_expire() -> None:
    from mock_op_auth.state.store import IdempotencyKey, Payment

    clock = Clock()
    store = MemoryStore(clock, limit=100)
    for i in range(500):
        store.put_payment(Payment(id=f"p{i}", authorization_id="a", client_id="c", kind="sepa", request={},
                                  amount_cents=1, currency="EUR", created_at=clock.now(), expires_at=clock.now() + 60))
        store.put_idempotency(IdempotencyKey(f"c\nk{i}", "d", f"p{i}", clock.now() + 60))
    assert store.get_payment("p399") is None and store.get_payment("p499") is not None
    assert len(store.recent_payments(1000)) == 100
    clock.advance(61)
    assert store.get_idempotency("c\nk499") is None
