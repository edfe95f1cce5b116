"""A refund Braintree keeps without our order id (made by the release before refund order ids, its answer
lost), through the real SDK on the stand-in: the sale's refund-ids list it, reconciliation posts it instead
of declaring it failed, and refunding again makes no second refund."""
from datetime import timedelta

from directcontracts.domain.money import Money
from directcontracts.models import Milestone, PaymentAttempt, Refund
from directcontracts.services import ledger
from tests.payments.conftest import reconcile
from tests.web.builders import contract, funded_contract


def test_sale_refunds_lists_every_refund_of_the_sale_whatever_its_order_id(gw):
    gateway, settle = gw
    usd = lambda minor: Money(minor, "USD")  # noqa: E731
    sale = gateway.charge(order_id="order-1", amount=usd(80000), nonce="fake-valid-nonce")
    other = gateway.charge(order_id="order-2", amount=usd(10000), nonce="fake-valid-nonce")
    assert gateway.sale_refunds(sale.transaction_id) == []
    settle(sale.transaction_id)
    settle(other.transaction_id)
    without = gateway.refund(sale.transaction_id, usd(30000))  # no order id of its own
    with_id = gateway.refund(sale.transaction_id, usd(20000), order_id="refund-7")
    gateway.refund(other.transaction_id, usd(10000), order_id="refund-8")
    listed = gateway.sale_refunds(sale.transaction_id)
    assert [(r.transaction_id, r.amount) for r in listed] == [(without.transaction_id, usd(30000)),
                                                              (with_id.transaction_id, usd(20000))]
    assert listed[0].order_id == "order-1" and listed[1].order_id == "refund-7"
    assert all(r.created_at is not None and r.created_at.tzinfo is None for r in listed)
    assert gateway.sale_refunds("nosuchsale") == []


def test_a_lost_refund_braintree_keeps_without_our_order_id_is_posted_once(braintree_app, standin, runner,
                                                                           logged_in, visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="all")  # one $800 sale
    sale_id = db.session.scalar(db.select(PaymentAttempt)).transaction_id
    standin.settle(sale_id)
    a, b = (m.id for m in contract(db, cid).milestones)

    def credits():
        return [t for t in standin.transactions.values() if t["refunded_transaction_id"] == sale_id]

    # B: refunded (its refund carries its own order id: it is never taken for A's).
    assert logged_in.post(f"/contracts/{cid}/milestones/{b}/refund", {"reason": "Out."}).status_code == 303
    standin.keep_refund_order_ids, standin.refund_fault = False, "drop_response"
    r = logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."})
    standin.keep_refund_order_ids, standin.refund_fault = True, None
    assert r.status_code == 503
    assert [c["amount"] for c in credits()] == ["500.00", "300.00"]
    assert not credits()[1]["order_id"].startswith("refund-")  # not findable by our order id
    db.session.expire_all()
    row = db.session.scalar(db.select(Refund).where(Refund.milestone_id == a))
    assert row.status == "unknown"

    out = reconcile(runner, row.created_at + timedelta(minutes=11))
    assert "refunds: posted 1, failed 0, still waiting 0" in out, out
    db.session.expire_all()
    row = db.session.get(Refund, row.id)
    assert (row.status, row.kind, row.transaction_id) == ("succeeded", "refunded", credits()[1]["id"])
    assert db.session.get(Milestone, a).state == "refunded"
    money = ledger.milestone_money([cid])
    assert (money[a].held, money[b].held) == (0, 0)
    assert ledger.check() == []
    assert len(credits()) == 2


def test_refunding_again_on_braintree_takes_the_refund_made_without_our_order_id(braintree_app, standin, runner,
                                                                                  logged_in, visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="all")
    sale_id = db.session.scalar(db.select(PaymentAttempt)).transaction_id
    standin.settle(sale_id)
    a, b = (m.id for m in contract(db, cid).milestones)
    standin.refund_fault = "unavailable"  # nothing made: declared failed after the grace
    assert logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."}).status_code == 503
    standin.refund_fault = None
    started = db.session.scalar(db.select(Refund)).created_at
    assert "refunds: posted 0, failed 1" in reconcile(runner, started + timedelta(minutes=11))
    assert braintree_app.refund(sale_id, Money(30000, "USD")).ok  # then made without our order id

    r = logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."})
    assert r.status_code == 303, r.text
    credits = [t for t in standin.transactions.values() if t["refunded_transaction_id"] == sale_id]
    assert [c["amount"] for c in credits] == ["300.00"]  # no second refund at Braintree
    db.session.expire_all()
    [row] = db.session.scalars(db.select(Refund)).all()
    assert (row.status, row.transaction_id) == ("succeeded", credits[0]["id"])
    money = ledger.milestone_money([cid])
    assert (money[a].held, money[b].held) == (0, 50000)
