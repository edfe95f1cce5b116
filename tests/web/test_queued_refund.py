"""Issue 10: a refund never dead-ends. A milestone paid together with another (one sale, "fund all") is
refunded before the sale settles: the refund is queued (the gateway can only void a sale whole until it
settles), the milestone offers nothing else meanwhile, the contract may still be ended, and the refund is
issued when the sale settles — by ``jobs run-due`` or by ``funding.mark_settled``."""
from __future__ import annotations

from datetime import datetime, timedelta

from directcontracts.models import PaymentAttempt, Refund
from directcontracts.services import funding, ledger
from tests.conftest import sales
from tests.web.builders import approve, contract, funded_contract, request_payment
from tests.web.refund_steps import cli, credits, refunds

QUEUED = "Refund pending: it will be issued when the payment settles (usually within a day)."


def two_in_one_sale(logged_in, visitor, outbox, db):
    """Milestones A ($300) and B ($500) funded by one sale; returns (contract id, link, A, B, sale id)."""
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="all")
    a, b = (m.id for m in contract(db, cid).milestones)
    return cid, link, a, b, db.session.scalar(db.select(PaymentAttempt.transaction_id))


def refund(logged_in, cid, mid):
    return logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Not needed any more."},
                          follow_redirects=True)


def soon(minutes=1) -> datetime:
    return datetime.utcnow() + timedelta(minutes=minutes)


def test_fund_all_release_one_refund_the_other_end_and_it_completes_when_the_sale_settles(
        logged_in, visitor, outbox, db, gateway, runner):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)

    r = refund(logged_in, cid, b)
    assert r.status_code == 200 and QUEUED in r.text
    assert [(x.milestone_id, x.status) for x in refunds(db)] == [(b, "queued")]
    assert QUEUED in logged_in.get(f"/contracts/{cid}").text and QUEUED in visitor.get(link).text
    client_page = visitor.get(link).text  # the escrow table says pending, not "being confirmed"
    assert "Refund of $500.00 pending" in client_page and "Refund pending: $500.00 will be refunded" in client_page
    assert "being confirmed" not in client_page
    assert not credits(gateway) and sales(gateway)[0]["status"] == "submitted_for_settlement"
    assert ledger.check() == []  # a queued refund is not money moved: B is still in escrow

    r = logged_in.post(f"/contracts/{cid}/end", follow_redirects=True)
    assert r.status_code == 200 and "completed when the pending refund is issued" in r.text
    c = contract(db, cid)
    assert c.state == "active" and [m.state for m in c.milestones] == ["released", "funded"]

    code, out = cli(runner, "jobs", "run-due", when=soon())
    assert code == 0, out
    assert refunds(db)[0].status == "queued"  # not settled yet: still waiting

    gateway.settle(sale)
    code, out = cli(runner, "jobs", "run-due", when=soon(2))
    assert code == 0, out
    [row] = refunds(db)
    assert (row.status, row.kind) == ("succeeded", "refunded")
    assert [(t["minor"], t["refunded_transaction_id"]) for t in credits(gateway)] == [(50000, sale)]
    c = contract(db, cid)
    assert c.state == "completed" and [m.state for m in c.milestones] == ["released", "refunded"]
    subjects = {(e.to_addr, e.subject) for e in outbox()}
    assert ("carla@client-co.com", "Refund: $500.00 for Milestone 2 — Website redesign") in subjects
    assert (c.member.email, "Refund issued: $500.00 for Milestone 2 — Website redesign") in subjects
    assert QUEUED not in logged_in.get(f"/contracts/{cid}").text
    assert ledger.check() == []

    code, out = cli(runner, "jobs", "run-due", when=soon(5))  # a second run issues nothing more
    assert code == 0, out
    assert len(credits(gateway)) == 1 and len(refunds(db)) == 1


def test_a_queued_refund_is_issued_by_mark_settled(logged_in, visitor, outbox, db, gateway, app):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    assert QUEUED in refund(logged_in, cid, a).text
    gateway.settle(sale)
    with app.test_request_context():
        assert funding.mark_settled(sale) == 1
        assert funding.mark_settled(sale) == 0  # a repeated webhook changes nothing
    assert [(x.milestone_id, x.status) for x in refunds(db)] == [(a, "succeeded")]
    assert db.session.get(PaymentAttempt, refunds(db)[0].attempt_id).settlement == "settled"
    assert [m.state for m in contract(db, cid).milestones] == ["refunded", "funded"]
    assert len(credits(gateway)) == 1


def test_a_queued_refund_is_neither_releasable_nor_refundable_twice(logged_in, visitor, outbox, db, gateway):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    request_payment(logged_in, cid, a)
    assert QUEUED in refund(logged_in, cid, a).text
    page = visitor.get(link).text
    assert QUEUED in page and f"/milestones/{a}/approve" not in page
    r = visitor.post(f"{link}/milestones/{a}/approve", follow_redirects=True)
    assert QUEUED in r.text
    r = refund(logged_in, cid, a)
    assert QUEUED in r.text
    assert f"/milestones/{a}/refund\"" not in logged_in.get(f"/contracts/{cid}").text
    r = visitor.post(f"{link}/milestones/{a}/dispute", {"reason": "quality", "statement": "No."},
                     follow_redirects=True)
    assert [(x.milestone_id, x.status) for x in refunds(db)] == [(a, "queued")]
    assert [m.state for m in contract(db, cid).milestones] == ["submitted", "funded"]
    assert not credits(gateway) and ledger.check() == []


def test_a_whole_unsettled_sale_is_still_voided_at_once(logged_in, visitor, outbox, db, gateway):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="first")
    a = contract(db, cid).milestones[0].id
    r = refund(logged_in, cid, a)
    assert "Refunded. The client has been emailed." in r.text and QUEUED not in r.text
    assert refunds(db)[0].kind == "voided" and sales(gateway)[0]["status"] == "voided"


def test_run_due_looks_up_old_charges_and_the_test_gateway_settles_them_after_its_delay(
        logged_in, visitor, outbox, db, gateway, runner):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    gateway.settle_after = timedelta(0)  # as the demo's sandbox does after TEST_GATEWAY_SETTLE_AFTER
    code, out = cli(runner, "jobs", "run-due", when=soon())
    assert code == 0, out
    attempt = db.session.scalar(db.select(PaymentAttempt))
    assert attempt.settlement == "submitted_for_settlement"  # not looked up yet: too recent, no refund waits
    code, out = cli(runner, "jobs", "run-due", when=soon(4 * 60))
    assert code == 0, out
    db.session.expire_all()
    assert db.session.scalar(db.select(PaymentAttempt)).settlement == "settled"
    # A partial refund of a settled charge is made at once.
    r = refund(logged_in, cid, b)
    assert "Refunded. The client has been emailed." in r.text
    assert refunds(db)[0].status == "succeeded" and len(credits(gateway)) == 1


def test_a_refund_queued_meanwhile_is_issued_once_the_test_gateway_settles_the_sale(
        logged_in, visitor, outbox, db, gateway, runner):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    assert QUEUED in refund(logged_in, cid, b).text
    gateway.settle_after = timedelta(0)
    code, out = cli(runner, "jobs", "run-due", when=soon(2))
    assert code == 0, out
    assert refunds(db)[0].status == "succeeded" and sales(gateway)[0]["status"] == "settled"


def test_settlement_declined_reverses_the_funding_and_fails_the_queued_refund(logged_in, visitor, outbox, db,
                                                                              gateway, app):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    assert QUEUED in refund(logged_in, cid, b).text
    gateway.decline_settlement(sale)
    with app.test_request_context():
        funding.mark_settlement_declined(sale)
        funding.mark_settlement_declined(sale)  # told twice: once
    [row] = refunds(db)
    assert row.status == "failed" and "did not go through after all" in row.message
    c = contract(db, cid)
    assert [m.state for m in c.milestones] == ["pending", "pending"] and c.state == "active"
    assert db.session.scalar(db.select(PaymentAttempt.status)) == "reversed"
    subjects = [e.subject for e in outbox()]
    assert subjects.count("Payment did not go through: Website redesign") == 1
    assert subjects.count("Your payment for Website redesign did not go through") == 1
    assert not credits(gateway)
    money = ledger.contract_money([c])[cid]
    assert (money.in_escrow.minor, money.taken_back.minor, money.owed.minor) == (0, 80000, 0)
    assert ledger.check() == []
    page = visitor.get(link).text
    assert "did not go through" in page and "Fund" in page


def test_settlement_declined_after_a_release_shows_what_the_freelancer_owes(logged_in, visitor, outbox, db,
                                                                            gateway, app):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)
    gateway.decline_settlement(sale)
    with app.test_request_context():
        funding.mark_settlement_declined(sale)
    c = contract(db, cid)
    assert [m.state for m in c.milestones] == ["released", "pending"]
    money = ledger.contract_money([c])[cid]
    # $300 released ($10.20 fee): the freelancer's $289.80 is owed, the fee given back; escrow never negative.
    assert (money.in_escrow.minor, money.owed.minor, money.fees.minor, money.received.minor) == (0, 28980, 0, 0)
    assert ledger.check() == []
    assert "you owe it to the shop" in outbox()[-2].body_text
    assert "$289.80" in logged_in.get(f"/contracts/{cid}").text


def test_a_refund_queued_for_days_is_reported_by_the_ledger_check(logged_in, visitor, outbox, db, gateway):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    assert QUEUED in refund(logged_in, cid, b).text
    assert ledger.check(soon(2 * 24 * 60)) == []
    [doubt] = ledger.check(soon(3 * 24 * 60 + 60))
    assert "has waited 73 hours for its payment to settle" in doubt


def test_a_queued_refund_refused_when_issued_is_failed_and_both_sides_told(logged_in, visitor, outbox, db, gateway,
                                                                          app):
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    assert QUEUED in refund(logged_in, cid, b).text
    gateway.settle(sale)
    with gateway.store.locked() as data:  # the sale was refunded in full by hand in the control panel
        data["transactions"][sale]["refunded_minor"] = 80000
    with app.test_request_context():
        assert funding.mark_settled(sale) == 1
    [row] = refunds(db)
    assert row.status == "failed" and "already been refunded in full" in row.message
    assert [e.subject for e in outbox()][-2:] == ["Refund not made: Milestone 2 — Website redesign"] * 2
    with gateway.store.locked() as data:
        data["transactions"][sale]["refunded_minor"] = 0  # (put back: the books never took it)


def test_the_auto_release_clock_stands_still_while_a_refund_waits(logged_in, visitor, outbox, db, gateway, app):
    from directcontracts.models import Milestone
    cid, link, a, b, sale = two_in_one_sale(logged_in, visitor, outbox, db)
    request_payment(logged_in, cid, a)
    before = db.session.get(Milestone, a).auto_release_at
    assert QUEUED in refund(logged_in, cid, a).text
    with db.session.begin_nested():  # it waited two days for the settlement
        db.session.scalar(db.select(Refund)).created_at -= timedelta(days=2)
    db.session.commit()
    gateway.settle(sale)
    with gateway.store.locked() as data:  # refunded in full by hand meanwhile: the refund is refused
        data["transactions"][sale]["refunded_minor"] = 80000
    with app.test_request_context():
        funding.mark_settled(sale)
    with gateway.store.locked() as data:
        data["transactions"][sale]["refunded_minor"] = 0  # (put back: the books never took it)
    db.session.expire_all()
    m = db.session.get(Milestone, a)
    assert m.state == "submitted" and m.auto_release_at - before >= timedelta(days=2)
