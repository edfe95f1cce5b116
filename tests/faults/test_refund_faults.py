"""A refund asked while Braintree is down (connection refused), through the real SDK on the stand-in.

The other refund faults (slow, answer lost, 500 after the refund, 503) are
tests/payments/test_braintree_refund_app.py; see tests/faults/README.md.
"""
from __future__ import annotations

import pytest

from directcontracts.models import Journal, PaymentAttempt, Refund
from tests.faults.conftest import books_agree_with, reconcile_past_grace
from tests.web.builders import contract, funded_contract

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("settled", [False, True], ids=["void", "refund"])
def test_a_refund_while_the_gateway_is_down_is_not_made_and_can_be_asked_again(braintree_app, standin, runner,
                                                                                logged_in, visitor, outbox, db,
                                                                                settled):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("1000",), choice="first")
    mid = contract(db, cid).milestones[0].id
    sale_id = db.session.scalar(db.select(PaymentAttempt)).transaction_id
    if settled:
        standin.settle(sale_id)
    port = int(standin.url.rsplit(":", 1)[1])
    standin.stop()  # connection refused
    r = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Project cancelled."})
    standin.start(port)
    assert r.status_code == 503 and "We could not confirm the refund" in r.text
    assert "A refund of this milestone is being confirmed" in logged_in.get(f"/contracts/{cid}").text

    out = reconcile_past_grace(runner, db.session.scalar(db.select(Refund)).created_at)
    assert "refunds: posted 0, failed 1" in out, out
    assert standin.transactions[sale_id]["status"] == ("settled" if settled else "submitted_for_settlement")
    assert contract(db, cid).milestones[0].state == "funded"
    books_agree_with(standin, db)

    again = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Project cancelled."})
    assert again.status_code == 303, again.text
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind == "refund")) == 1
    assert contract(db, cid).milestones[0].state == "refunded"
    books_agree_with(standin, db)
