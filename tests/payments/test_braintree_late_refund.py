"""A refund declared not made lands at Braintree later (the real SDK on the stand-in): refunding the
milestone again finds it by its order id and posts it; Braintree never refunds twice."""
from datetime import timedelta

from directcontracts.models import Milestone, PaymentAttempt, Refund
from directcontracts.services import ledger
from tests.payments.conftest import reconcile
from tests.web.builders import approve, contract, funded_contract, request_payment


def test_a_refund_landing_after_it_was_declared_failed_is_not_made_twice(braintree_app, standin, runner, logged_in,
                                                                         visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="all")  # one $800 sale
    sale_id = db.session.scalar(db.select(PaymentAttempt)).transaction_id
    standin.settle(sale_id)
    a, b = (m.id for m in contract(db, cid).milestones)
    standin.refund_fault = "read_timeout"  # Braintree holds the refund; the app gives up waiting
    r = logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."})
    standin.refund_fault = None
    assert r.status_code == 503
    started = db.session.scalar(db.select(Refund)).created_at
    assert "refunds: posted 0, failed 1" in reconcile(runner, started + timedelta(minutes=11))
    standin.release_held()  # ... and makes it 15 minutes late

    def credits():
        return [t for t in standin.transactions.values() if t["refunded_transaction_id"] == sale_id]

    assert [c["amount"] for c in credits()] == ["300.00"]
    r = logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."})
    assert r.status_code == 303, r.text
    assert [c["amount"] for c in credits()] == ["300.00"]  # no second refund at Braintree
    db.session.expire_all()
    [row] = db.session.scalars(db.select(Refund)).all()
    assert (row.status, row.transaction_id) == ("succeeded", credits()[0]["id"])
    assert db.session.get(Milestone, a).state == "refunded"
    money = ledger.milestone_money([cid])
    assert (money[a].held, money[b].held) == (0, 50000)
    # B is released from the $500 Braintree still holds.
    request_payment(logged_in, cid, b)
    approve(visitor, link, b)
    assert ledger.check() == []
