"""A dispute's split through the Braintree adapter (real SDK) on the stand-in, the refund's answer lost:
the dispute stays open until reconciliation finds the refund, then the stand-in's record and the ledger agree."""
from datetime import timedelta

import pytest

from directcontracts.models import Dispute, PaymentAttempt, Refund
from directcontracts.services import disputes, ledger, lifecycle
from tests.payments.conftest import reconcile
from tests.web.builders import contract, funded_contract


def test_a_split_whose_refund_answer_is_lost_closes_once_found(braintree_app, standin, app, runner, logged_in,
                                                               visitor, outbox, db):
    cid, _link = funded_contract(logged_in, visitor, outbox, choice="first")
    mid = contract(db, cid).milestones[0].id
    sale_id = db.session.scalar(db.select(PaymentAttempt)).transaction_id
    standin.settle(sale_id)  # a partial refund needs a settled sale
    with app.test_request_context():
        d = disputes.open_dispute(contract(db, cid), mid, by="client", reason="quality", statement="Half of it.")
        disputes.propose_split(d, by="freelancer", release_text="600")
        standin.refund_fault = "drop_response"
        with pytest.raises(lifecycle.RefundUncertain):
            disputes.accept_split(d, by="client", shown_release_minor=60000)
        standin.refund_fault = None
    d = db.session.get(Dispute, d.id)
    assert d.status == "open" and d.refund_minor == 40000  # decided, being carried out

    out = reconcile(runner, db.session.scalar(db.select(Refund)).created_at + timedelta(minutes=11))
    assert "refunds: posted 1" in out, out
    db.session.expire_all()
    d = db.session.get(Dispute, d.id)
    assert (d.status, d.outcome) == ("closed", "split")
    credits = [t for t in standin.transactions.values() if t["refunded_transaction_id"] == sale_id]
    assert [c["amount"] for c in credits] == ["400.00"]  # the client's part, once
    mm = ledger.milestone_money([cid])[mid]
    assert (mm.released, mm.fees, mm.refunded, mm.held) == (60000, 2040, 40000, 0)
