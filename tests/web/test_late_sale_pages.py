"""What the client sees when a sale lands late: over HTTP, through the CLI's reconciliation."""
from datetime import timedelta

from directcontracts.models import PaymentAttempt
from tests.conftest import sales
from tests.web.builders import contract, fund, sent_contract, verify


def test_late_sale_is_adopted_and_the_payment_page_shows_the_receipt(logged_in, visitor, outbox, db, gateway, app):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    r = fund(visitor, link, nonce="fake-late-nonce")
    assert "We could not confirm your payment yet" in visitor.get(r.location).text
    attempt = db.session.scalar(db.select(PaymentAttempt))
    runner = app.test_cli_runner()
    later = (attempt.created_at + timedelta(minutes=11)).strftime("%Y-%m-%d %H:%M:%S")
    assert "failed 1" in runner.invoke(args=["payments", "reconcile", "--now", later]).output
    assert "Payment not completed" in visitor.get(r.location).text
    gateway.release_late()
    runner.invoke(args=["payments", "reconcile"])
    page = visitor.get(r.location).text
    assert "Receipt" in page and sales(gateway)[0]["id"] in page
    assert contract(db, cid).milestones[0].state == "funded"


def test_success_on_a_contract_closed_meanwhile_shows_the_payment_given_back(logged_in, visitor, outbox, db,
                                                                             gateway, app):
    cid, link = sent_contract(logged_in, outbox)
    verify(visitor, link, outbox)
    r = fund(visitor, link, nonce="fake-timeout-nonce")
    c = contract(db, cid)
    c.state = "ended"  # however it got there, it can no longer take money
    db.session.commit()
    app.test_cli_runner().invoke(args=["payments", "reconcile"])
    page = visitor.get(r.location).text
    assert "Payment given back" in page and "the contract had been ended" in page
    assert "cancelled before it settled: you are not charged" in page and "Receipt" not in page
    assert sales(gateway)[0]["status"] == "voided"
