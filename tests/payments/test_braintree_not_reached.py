"""Braintree cannot be reached at all (connection refused): nothing was sent, so nothing was charged.

The payment fails at once ("not charged, try again"), the milestones are free for the retry, and the
books and the gateway agree. A read timeout, by contrast, may have charged: it stays "being confirmed".
"""
from __future__ import annotations

import pytest

from directcontracts.domain.money import Money
from directcontracts.domain.payments import GatewayNotReached, GatewayUnavailable
from directcontracts.models import Journal, PaymentAttempt
from tests.web.builders import contract, fund, sent_contract, verify


@pytest.fixture
def braintree_app(app, make_adapter):
    previous = app.extensions["gateway"]
    app.extensions["gateway"] = make_adapter(read_timeout=5.0)
    yield app.extensions["gateway"]
    app.extensions["gateway"] = previous


def test_a_refused_connection_is_not_reached(adapter, standin):
    standin.stop()
    with pytest.raises(GatewayNotReached):
        adapter.charge(order_id="order-refused", amount=Money(1000, "USD"), nonce="fake-valid-nonce")
    standin.start()


def test_a_read_timeout_is_not_called_not_reached(make_adapter, standin):
    adapter = make_adapter(read_timeout=0.3)
    standin.fault = "read_timeout"
    with pytest.raises(GatewayUnavailable) as raised:
        adapter.charge(order_id="order-slow", amount=Money(1000, "USD"), nonce="fake-valid-nonce")
    assert not isinstance(raised.value, GatewayNotReached)
    standin.release_held()


def test_the_client_is_told_at_once_and_can_retry(braintree_app, standin, logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    port = int(standin.url.rsplit(":", 1)[1])
    visitor.get(f"{link}/fund")  # the page (and its client token) while Braintree still answers
    standin.stop()
    page = fund(visitor, link, nonce="fake-valid-nonce")
    assert page.status_code == 422
    assert "Payment not completed." in page.text
    assert "you have not been charged. Please try again in a minute." in page.text
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == "failed"
    m = contract(db, cid).milestones[0]
    assert (m.state, m.hold_attempt_id) == ("pending", None)  # free for the retry, no 10-minute hold
    assert standin.transactions == {} and db.session.scalar(db.select(db.func.count(Journal.id))) == 0

    standin.start(port)  # Braintree is back: the client tries again from the same page
    page = fund(visitor, link, nonce="fake-valid-nonce", sign=False)
    assert page.status_code == 303, page.text
    db.session.expire_all()
    paid = db.session.scalar(db.select(PaymentAttempt).where(PaymentAttempt.status == "succeeded"))
    [sale] = standin.sales_for(paid.id)
    assert sale["amount"] == "1000.00"
    assert contract(db, cid).milestones[0].state == "funded"
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == 1
