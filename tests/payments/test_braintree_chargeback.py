"""A chargeback played end to end through the Braintree adapter (real SDK) on the stand-in, with webhooks
signed as Braintree signs them: opened (frozen; freelancer and owner told), the owner's evidence reaches the
gateway, lost (posted from escrow and from what was released), and the books agree with the stand-in."""
from __future__ import annotations

from datetime import timedelta

from directcontracts.models import Chargeback, Journal, PaymentAttempt, WebhookNotification
from directcontracts.services import chargebacks, ledger
from tests.web.builders import approve, contract, funded_contract, post_webhook, request_payment


def post(app, signed):
    return post_webhook(app.test_client(), signed)


def test_a_chargeback_end_to_end_with_signed_webhooks(braintree_app, standin, app, logged_in, visitor, outbox, db):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    a, b = (m.id for m in contract(db, cid).milestones)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)  # $300 released ($10.20 fee), $500 still in escrow
    sale = db.session.scalar(db.select(PaymentAttempt.transaction_id))
    standin.settle(sale)
    assert post(app, standin.webhook("transaction_settled", transaction_id=sale)).status_code == 200

    dispute_id = standin.open_dispute(sale, reason="product_not_received")
    r = post(app, standin.webhook("dispute_opened", dispute_id=dispute_id))
    assert r.status_code == 200 and r.text == "applied\n"
    db.session.expire_all()
    cb = db.session.scalar(db.select(Chargeback))
    assert (cb.status, cb.amount_minor, cb.reason, cb.contract_id) == ("open", 80000, "product_not_received", cid)
    assert cb.reply_by is not None
    assert any(e.subject == "Chargeback opened: $800.00 — Website redesign" for e in outbox())
    r = logged_in.post(f"/contracts/{cid}/milestones/{b}/refund", {"reason": "Sorry."}, follow_redirects=True)
    assert "is reviewing a chargeback" in r.text  # frozen: nothing moves
    assert not [t for t in standin.transactions.values() if t["type"] == "credit"]

    with app.test_request_context():
        chargebacks.add_evidence(db.session.get(Chargeback, cb.id), "Delivered on 3 May; the client approved it.")
        chargebacks.finalize(db.session.get(Chargeback, cb.id))
    assert [e["comments"] for e in standin.disputes[dispute_id]["evidence"]] == [
        "Delivered on 3 May; the client approved it."]

    standin.set_dispute_status(dispute_id, "lost")
    assert post(app, standin.webhook("dispute_lost", dispute_id=dispute_id)).status_code == 200
    assert post(app, standin.webhook("dispute_lost", dispute_id=dispute_id,
                                     timestamp=None)).status_code == 200  # delivered again: once
    db.session.expire_all()
    assert db.session.get(Chargeback, cb.id).status == "lost"
    assert [m.state for m in contract(db, cid).milestones] == ["released", "charged_back"]
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind == "chargeback")) == 1
    money = ledger.contract_money([contract(db, cid)])[cid]
    assert (money.in_escrow.minor, money.taken_back.minor, money.owed.minor) == (0, 80000, 28980)
    assert ledger.check() == []
    kinds = [n.kind for n in db.session.scalars(db.select(WebhookNotification).order_by(WebhookNotification.id))]
    assert kinds[:3] == ["transaction_settled", "dispute_opened", "dispute_lost"]


def test_a_forged_braintree_signature_is_refused(braintree_app, standin, app, db):
    signature, payload = standin.webhook("check")
    forged = signature.split("|")[0] + "|" + "0" * 40
    assert post(app, (forged, payload)).status_code == 403
    assert post(app, (signature, payload)).status_code == 200
    assert [n.kind for n in db.session.scalars(db.select(WebhookNotification))] == ["check"]


def test_settlement_declined_through_braintree_reverses_the_funding(braintree_app, standin, app, logged_in, visitor,
                                                                    outbox, db, runner):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300",))
    sale = db.session.scalar(db.select(PaymentAttempt.transaction_id))
    standin.decline_settlement(sale)
    # No webhook: the jobs' look-up finds it (the fallback), a few hours on.
    when = db.session.scalar(db.select(PaymentAttempt.decided_at)) + timedelta(hours=4)
    result = runner.invoke(args=["jobs", "run-due", "--now", when.strftime("%Y-%m-%d %H:%M:%S")])
    assert "settlements looked up 1" in result.output, result.output
    db.session.expire_all()
    assert [m.state for m in contract(db, cid).milestones] == ["pending"]
    assert db.session.scalar(db.select(PaymentAttempt.status)) == "reversed"
    assert ledger.check() == []
