"""Funding is atomic and idempotent: twice in a row, and concurrently (SQLite and PostgreSQL)."""
import threading
import time


from directcontracts.extensions import db as _db
from directcontracts.models import Contract, Journal, PaymentAttempt
from directcontracts.services import funding
from directcontracts.services.errors import InvalidTransition
from tests.services.conftest import fund_as_shown
from tests.conftest import sales


def counts(db):
    db.session.expire_all()
    return (db.session.scalar(db.select(db.func.count(PaymentAttempt.id))),
            db.session.scalar(db.select(db.func.count(Journal.id))))


def test_fund_twice_in_a_row_is_once(app, db, accepted_contract, gateway):
    a1 = fund_as_shown(app, accepted_contract, "first", "same-key")
    with app.test_request_context():
        c = db.session.get(Contract, accepted_contract)
        a2 = funding.fund(c, key="same-key", choice="all",
            shown=funding.quotes(c)["all"].encode(), nonce="fake-valid-nonce")
    assert a1.id == a2.id and a2.status == "succeeded"
    assert len(sales(gateway)) == 1 and counts(db) == (1, 1)


def test_settle_twice_posts_one_journal(app, db, accepted_contract, gateway):
    attempt = fund_as_shown(app, accepted_contract, "first", "k", nonce="fake-timeout-nonce")
    with app.test_request_context():
        assert attempt.status == "unknown"
        found = gateway.find_by_order_id(attempt.id)
        funding.settle(attempt.id, found)
        funding.settle(attempt.id, found)
        funding.reconcile()
    assert counts(db) == (1, 1)


class SlowGateway:
    """Wraps the test gateway so a charge takes a while: the second request arrives mid-flight."""

    def __init__(self, inner, delay=1.0):
        self.inner, self.delay, self.calls = inner, delay, 0
        self.name, self.test_mode = inner.name, inner.test_mode

    def charge(self, **kw):
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.charge(**kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def run_concurrently(app, contract_id, calls):
    """Run each (key, choice) in its own thread and app context; returns results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, key, choice):
        with app.test_request_context():
            contract = _db.session.get(Contract, contract_id)
            shown = funding.quotes(contract)[choice].encode()  # what each page showed, before both submit
            _db.session.rollback()
            barrier.wait()
            try:
                attempt = funding.fund(contract, key=key, choice=choice, shown=shown, nonce="fake-valid-nonce")
                results[index] = (attempt.id, attempt.status)
            except Exception as exc:  # noqa: BLE001 - the test inspects it
                results[index] = exc
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=worker, args=(i, k, c)) for i, (k, c) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_same_key_concurrently_charges_once(app, db, accepted_contract, gateway, concurrent):
    slow = SlowGateway(gateway)
    app.extensions["gateway"] = slow
    results = run_concurrently(app, accepted_contract, [("dup-key", "first"), ("dup-key", "first")])
    assert all(isinstance(r, tuple) for r in results), results
    assert results[0][0] == results[1][0]  # both answered with the one attempt
    assert slow.calls == 1 and len(sales(gateway)) == 1 and counts(db) == (1, 1)


def test_two_keys_for_one_milestone_concurrently_charge_once(app, db, accepted_contract, gateway, concurrent):
    slow = SlowGateway(gateway)
    app.extensions["gateway"] = slow
    results = run_concurrently(app, accepted_contract, [("key-a", "first"), ("key-b", "all")])
    ok = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, InvalidTransition)]
    assert len(ok) == 1 and len(refused) == 1, results
    assert slow.calls == 1 and len(sales(gateway)) == 1 and counts(db) == (1, 1)
