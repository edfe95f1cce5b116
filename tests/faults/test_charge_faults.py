"""A charge through the Braintree adapter (real SDK) on the stand-in whose answer never comes back.

Slow (held past the read timeout, made later), the answer lost after the sale was made, a 500 after
the sale was made, and a 503 with nothing made. The client sees "being confirmed" (never a 500);
``payments reconcile`` past the grace period finds the sale or declares it not made; the books and
the stand-in then agree. Connection refused is tests/payments/test_braintree_not_reached.py.
"""
from __future__ import annotations

import pytest

from directcontracts.models import Journal, PaymentAttempt
from tests.faults.conftest import books_agree_with, reconcile_past_grace
from tests.web.builders import contract, fund, sent_contract, verify

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("fault, made", [
    ("read_timeout", True), ("drop_response", True), ("server_error", True), ("unavailable", False),
], ids=["slow", "answer-lost", "500-after-sale", "503"])
def test_a_charge_without_an_answer_is_reconciled_to_the_gateways_truth(braintree_app, standin, runner, logged_in,
                                                                         visitor, outbox, db, fault, made):
    cid, link = sent_contract(logged_in, outbox, amounts=("1000",))
    verify(visitor, link, outbox)
    standin.fault = fault
    r = fund(visitor, link)
    standin.fault = None
    assert r.status_code == 303, r.text
    page = visitor.get(r.location)
    assert page.status_code == 200 and "We could not confirm your payment yet" in page.text
    if fault == "read_timeout":
        standin.release_held()  # the gateway makes the sale after the app gave up waiting
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == "unknown" and contract(db, cid).milestones[0].state == "pending"

    out = reconcile_past_grace(runner, attempt.created_at)
    db.session.expire_all()
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.status == ("succeeded" if made else "failed"), out
    assert len(standin.sales_for(attempt.id)) == int(made)
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == int(made)
    assert contract(db, cid).milestones[0].state == ("funded" if made else "pending")
    after = visitor.get(link)
    assert after.status_code == 200 and "being confirmed" not in after.text
    books_agree_with(standin, db)
