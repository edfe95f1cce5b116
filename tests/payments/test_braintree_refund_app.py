"""Refunds through the whole app on the Braintree adapter (real SDK) whose answer is lost, slow or
never comes: after reconciliation the stand-in's record and the app's ledger agree."""
from datetime import timedelta

import pytest

from directcontracts.models import Journal, PaymentAttempt, Refund
from tests.payments.conftest import reconcile
from tests.web.builders import contract, funded_contract


def refund_journals(db) -> list[Journal]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Journal).where(Journal.kind == "refund")))


@pytest.mark.parametrize("fault, made", [
    ("drop_response", True), ("server_error", True), ("read_timeout", True), ("unavailable", False),
])
@pytest.mark.parametrize("settled", [False, True], ids=["void", "refund"])
def test_lost_refund_is_reconciled_to_the_gateways_truth(braintree_app, standin, runner, logged_in, visitor, outbox,
                                                          db, fault, made, settled):
    # Milestone 1 has a sale of its own: a void before settlement, a refund after.
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    mid = contract(db, cid).milestones[0].id
    sale_id = db.session.scalar(db.select(PaymentAttempt)).transaction_id
    if settled:
        standin.settle(sale_id)
    standin.refund_fault = fault
    r = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Project cancelled."})
    standin.refund_fault = None
    assert r.status_code == 503 and "We could not confirm the refund" in r.text
    if fault == "read_timeout":
        standin.release_held()  # the gateway makes it after the app gave up
    assert "A refund of this milestone is being confirmed" in logged_in.get(f"/contracts/{cid}").text

    started = db.session.scalar(db.select(Refund)).created_at
    out = reconcile(runner, started + timedelta(minutes=11))
    assert (f"refunds: posted {int(made)}, failed {int(not made)}") in out, out

    sale = standin.transactions[sale_id]
    credits = [t for t in standin.transactions.values() if t["refunded_transaction_id"] == sale_id]
    gone_back = sale["status"] == "voided" or bool(credits)
    assert gone_back is made
    journals = refund_journals(db)
    assert bool(journals) is gone_back  # the gateway's record and the ledger agree
    assert contract(db, cid).milestones[0].state == ("refunded" if made else "funded")
    if made:
        row = db.session.scalar(db.select(Refund))
        assert (row.status, row.kind) == ("succeeded", "refunded" if settled else "voided")
        if settled:
            assert [c["order_id"] for c in credits] == [f"refund-{row.id}-{row.created_at:%Y%m%d%H%M%S%f}"]
            assert row.transaction_id == credits[0]["id"]
    else:
        assert db.session.scalar(db.select(Refund)).status == "failed"
        # The member refunds again, and this time the answer comes.
        again = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Project cancelled."})
        assert again.status_code == 303
        assert len(refund_journals(db)) == 1 and contract(db, cid).milestones[0].state == "refunded"


def test_reconciliation_waits_while_braintree_is_down(braintree_app, standin, app, runner, logged_in, visitor, outbox,
                                                       db, make_adapter):
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    mid = contract(db, cid).milestones[0].id
    standin.refund_fault = "drop_response"
    assert logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Cancelled."}).status_code == 503
    standin.refund_fault = None
    started = db.session.scalar(db.select(Refund)).created_at
    app.extensions["gateway"] = make_adapter(environment="http://127.0.0.1:9")  # nothing answers there
    out = reconcile(runner, started + timedelta(hours=2))
    assert "refunds: posted 0, failed 0, still waiting 1" in out  # never "failed" without a look-up
    app.extensions["gateway"] = braintree_app
    out = reconcile(runner, started + timedelta(hours=2, minutes=5))
    assert "refunds: posted 1" in out and len(refund_journals(db)) == 1
