"""What the client sees when a sale lands late: over HTTP, through the CLI's reconciliation."""
from datetime import timedelta

from directcontracts.models import Contract, PaymentAttempt, SaleReturn, utcnow
from tests.conftest import sales
from tests.web.builders import contract, fund, sent_contract, verify


def test_late_sale_is_adopted_and_the_payment_page_shows_the_receipt(logged_in, visitor, outbox, db, gateway, runner):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    r = fund(visitor, link, nonce="fake-late-nonce")
    assert "We could not confirm your payment yet" in visitor.get(r.location).text
    attempt = db.session.scalar(db.select(PaymentAttempt))
    later = (attempt.created_at + timedelta(minutes=11)).strftime("%Y-%m-%d %H:%M:%S")
    assert "failed 1" in runner.invoke(args=["payments", "reconcile", "--now", later]).output
    assert "Payment not completed" in visitor.get(r.location).text
    gateway.release_late()
    runner.invoke(args=["payments", "reconcile"])
    page = visitor.get(r.location).text
    assert "Receipt" in page and sales(gateway)[0]["id"] in page
    assert contract(db, cid).milestones[0].state == "funded"


def test_success_on_a_contract_closed_meanwhile_shows_the_payment_given_back(logged_in, visitor, outbox, db,
                                                                             gateway, runner):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    r = fund(visitor, link, nonce="fake-timeout-nonce")
    c = contract(db, cid)
    c.state = "ended"  # however it got there, it can no longer take money
    db.session.commit()
    runner.invoke(args=["payments", "reconcile"])
    page = visitor.get(r.location).text
    assert "Payment given back" in page and "the contract had been ended" in page
    assert "cancelled before it settled: you are not charged" in page and "Receipt" not in page
    assert sales(gateway)[0]["status"] == "voided"


def test_unexpected_error_giving_back_during_the_clients_payment_still_shows_a_page(logged_in, visitor, outbox, db,
                                                                                   gateway, runner):
    """The contract closes while the charge is in flight, and the void meets an SDK surprise: the client's
    request still ends on their payment page (no 500); reconciliation gives the sale back later."""
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    real_charge = gateway.charge

    def charge_while_the_contract_ends(**kwargs):
        with db.engine.begin() as conn:  # the freelancer ends it meanwhile, in another transaction
            conn.execute(db.update(Contract).where(Contract.id == cid).values(state="ended"))
        return real_charge(**kwargs)

    def surprise(*args, **kwargs):
        raise ValueError("an SDK surprise")

    gateway.charge, gateway.find_refund = charge_while_the_contract_ends, surprise
    r = fund(visitor, link)
    assert r.status_code == 303, r.text
    page = visitor.get(r.location)
    assert page.status_code == 200 and "Payment given back" in page.text
    assert "being given back to you automatically" in page.text
    db.session.expire_all()
    assert db.session.scalar(db.select(SaleReturn.status)) == "returning"
    assert sales(gateway)[0]["status"] == "submitted_for_settlement"
    del gateway.charge, gateway.find_refund
    later = (utcnow() + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")  # past any back-off
    result = runner.invoke(args=["payments", "reconcile", "--now", later])
    assert result.exit_code == 0, result.output
    assert sales(gateway)[0]["status"] == "voided"
    page = visitor.get(r.location).text
    assert "cancelled before it settled: you are not charged" in page and "Receipt" not in page
