"""Issue 10: POST /webhooks/braintree — verified, stored raw once, applied in any order; chargebacks freeze,
lift, or post to the ledger; a payment whose settlement is declined is reversed; a queued refund goes out
when the settlement webhook arrives."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from babel.dates import format_date

from directcontracts.models import Chargeback, Journal, WebhookNotification
from directcontracts.services import chargebacks, ledger, payouts
from tests.conftest import race
from tests.web.builders import approve, contract, funded_contract, post_webhook, request_payment, sale_of
from tests.web.refund_steps import cli, credits, refunds

FROZEN = "is reviewing a chargeback"


@pytest.fixture
def hook(app):
    """POST a signed notification the way Braintree does (form fields; no CSRF token, no session)."""
    http = app.test_client()

    return lambda signed: post_webhook(http, signed)


def notifications(db) -> list[WebhookNotification]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(WebhookNotification).order_by(WebhookNotification.id)))


def the_chargeback(db) -> Chargeback:
    db.session.expire_all()
    return db.session.scalar(db.select(Chargeback))


def states(db, cid) -> list[str]:
    db.session.expire_all()
    return [m.state for m in contract(db, cid).milestones]


def later(minutes=2) -> datetime:
    return datetime.utcnow() + timedelta(minutes=minutes)


# ---- the endpoint --------------------------------------------------------------

def test_check_notification_is_answered_and_stored(hook, gateway, db):
    r = hook(gateway.sample_webhook("check"))
    assert r.status_code == 200 and r.text == "applied\n"
    [row] = notifications(db)
    assert (row.kind, row.status, row.message) == ("check", "applied", "applied: check answered")
    assert '"kind": "check"' in row.payload  # kept raw


def test_forged_signature_and_tampered_payload_are_refused_and_change_nothing(hook, gateway, db, logged_in,
                                                                             visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300",))
    signature, payload = gateway.dispute(sale_of(db))
    assert hook(("0" * 64, payload)).status_code == 403
    assert hook((signature, payload.replace('"fraud"', '"duplicate"'))).status_code == 403
    assert hook((signature, "")).status_code == 400
    assert hook(("", payload)).status_code == 400
    assert notifications(db) == [] and the_chargeback(db) is None
    assert states(db, cid) == ["funded"]


def test_the_webhook_is_the_only_post_without_csrf(app):
    """Every other POST route is CSRF-protected: the app refuses a form without a token."""
    from directcontracts.extensions import csrf

    assert csrf._exempt_views == {"directcontracts.web.webhooks.braintree"}
    assert app.test_client().post("/login", data={"email": "a@b.c", "password": "x" * 12}).status_code == 400


def test_a_duplicate_delivery_is_stored_and_applied_once(hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300",))
    signed = gateway.dispute(sale_of(db))
    assert hook(signed).status_code == 200
    before = len(outbox())
    assert hook(signed).status_code == 200
    assert len(notifications(db)) == 1 and len(outbox()) == before


def test_an_unknown_kind_is_stored_and_ignored(hook, gateway, db):
    r = hook(gateway.sample_webhook("subscription_went_past_due", None))
    assert r.status_code == 200 and notifications(db)[0].status == "ignored"


# ---- settlement ------------------------------------------------------------------

def test_fund_all_release_one_refund_the_other_end_then_the_settled_webhook_completes_it(
        hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    a, b = (m.id for m in contract(db, cid).milestones)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)
    logged_in.post(f"/contracts/{cid}/milestones/{b}/refund", {"reason": "Not needed."})
    logged_in.post(f"/contracts/{cid}/end")
    assert refunds(db)[0].status == "queued" and contract(db, cid).state == "active"
    sale = sale_of(db)
    gateway.settle(sale)
    assert hook(gateway.sample_webhook("transaction_settled", sale)).status_code == 200
    assert notifications(db)[0].message == "applied: settled, 1 queued refund(s) issued"
    assert refunds(db)[0].status == "succeeded" and [c["minor"] for c in credits(gateway)] == [50000]
    assert contract(db, cid).state == "completed" and states(db, cid) == ["released", "refunded"]
    assert ledger.check() == []


def test_settlement_declined_webhook_reverses_the_funding(hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    sale = sale_of(db)
    gateway.decline_settlement(sale)
    assert hook(gateway.sample_webhook("transaction_settlement_declined", sale)).status_code == 200
    assert states(db, cid) == ["pending", "pending"]
    page = visitor.get(link).text
    assert "did not go through" in page
    assert "Your payment of $800.00 for “Milestone 1” and “Milestone 2” did not go through after all" in page
    assert ledger.check() == []


# ---- chargebacks -----------------------------------------------------------------

def test_a_chargeback_freezes_the_milestones_tells_freelancer_and_owner_and_lifts_when_won(
        hook, gateway, db, logged_in, visitor, outbox, make_member, login_as, app):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    a, b = (m.id for m in contract(db, cid).milestones)
    request_payment(logged_in, cid, a)
    sale = sale_of(db)
    assert hook(gateway.dispute(sale, reason="product_not_received")).status_code == 200
    cb = the_chargeback(db)
    assert (cb.status, cb.amount_minor, cb.reason, cb.contract_id) == ("open", 80000, "product_not_received", cid)
    [mail] = [e for e in outbox() if e.subject.startswith("Chargeback opened")]
    assert "$800.00" in mail.body_text and "the work was not delivered" in mail.body_text
    assert f"must answer the bank by {format_date(cb.reply_by, 'medium', locale='en_US')}." in mail.body_text
    assert "The money of “Milestone 1”, “Milestone 2” is frozen in escrow" in mail.body_text
    page = logged_in.get(f"/contracts/{cid}").text
    assert FROZEN in page and "Request payment" not in page
    assert FROZEN in visitor.get(link).text
    # Nothing moves meanwhile, whoever asks: the client's approval, the freelancer's refund, the auto-release.
    r = visitor.post(f"{link}/milestones/{a}/approve", follow_redirects=True)
    assert FROZEN in r.text
    r = logged_in.post(f"/contracts/{cid}/milestones/{b}/refund", {"reason": "Sorry."}, follow_redirects=True)
    assert FROZEN in r.text
    runner = app.test_cli_runner()
    code, out = cli(runner, "jobs", "run-due", when=later(60 * 24 * 30))
    assert code == 0, out
    assert states(db, cid) == ["submitted", "funded"] and refunds(db) == [] and not credits(gateway)

    assert hook(gateway.dispute(sale, "won")).status_code == 200
    assert the_chargeback(db).status == "won"
    assert FROZEN not in logged_in.get(f"/contracts/{cid}").text
    approve(visitor, link, a)
    assert states(db, cid) == ["released", "funded"]
    assert ledger.check() == []


def test_a_chargeback_lost_while_in_escrow_gives_the_money_back_from_escrow(hook, gateway, db, logged_in,
                                                                          visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    sale = sale_of(db)
    gateway.settle(sale)
    hook(gateway.dispute(sale))
    assert hook(gateway.dispute(sale, "lost")).status_code == 200
    assert states(db, cid) == ["charged_back", "charged_back"]
    c = contract(db, cid)
    assert c.state == "completed"
    money = ledger.contract_money([c])[cid]
    assert (money.in_escrow.minor, money.taken_back.minor, money.owed.minor) == (0, 80000, 0)
    [journal] = db.session.scalars(db.select(Journal).where(Journal.kind == "chargeback"))
    assert journal.chargeback_id == the_chargeback(db).id
    assert ledger.check() == []
    assert "Charged back" in logged_in.get(f"/contracts/{cid}").text
    page = visitor.get(link).text  # the client's money, step by step
    assert "Your bank opened a chargeback of $800.00" in page
    assert "Your bank gave you back $800.00 for “Milestone 1” and “Milestone 2” (a chargeback)." in page


def test_a_chargeback_lost_after_release_is_owed_by_the_freelancer_never_a_negative_escrow(
        hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300", "500"))
    a, b = (m.id for m in contract(db, cid).milestones)
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)
    sale = sale_of(db)
    gateway.settle(sale)
    hook(gateway.dispute(sale, "accepted"))  # accepted at once: never frozen, posted once
    assert states(db, cid) == ["released", "charged_back"]
    money = ledger.contract_money([contract(db, cid)])[cid]
    # $500 from escrow, $300 from the release: the freelancer's $289.80 owed, the $10.20 fee given back.
    assert (money.in_escrow.minor, money.owed.minor, money.fees.minor, money.received.minor) == (0, 28980, 0, 0)
    assert ledger.check() == []
    owed_mail = [e for e in outbox() if e.subject.startswith("Chargeback accepted")]
    assert owed_mail and "$289.80" in owed_mail[-1].body_text and "you owe it to the shop" in owed_mail[-1].body_text
    assert "Fran Freelancer" not in owed_mail[-1].body_text  # told in the second person, once
    [row] = payouts.report()
    assert (row.released.minor, row.fees.minor, row.taken_back.minor, row.net.minor) == (30000, 1020, 28980, 0)
    page = logged_in.get(f"/contracts/{cid}").text  # what was released, then what was taken back of it
    assert "Released $300.00: fee $10.20, you received $289.80." in page
    assert "All this release was taken back for the client: you owe the shop $289.80" in page


def test_out_of_order_a_loss_before_its_opening_ends_lost_and_the_opening_changes_nothing(
        hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300",))
    sale = sale_of(db)
    opened = gateway.dispute(sale)
    lost = gateway.dispute(sale, "lost")
    assert hook(lost).status_code == 200
    assert hook(opened).status_code == 200
    assert the_chargeback(db).status == "lost" and states(db, cid) == ["charged_back"]
    assert [n.message for n in notifications(db)] == ["applied: lost", "ignored: already lost"]
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind == "chargeback")) == 1
    assert ledger.check() == []


def test_a_notification_whose_applying_fails_is_kept_and_applied_by_the_jobs(
        hook, gateway, db, logged_in, visitor, outbox, monkeypatch, app):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300",))
    real = chargebacks.apply

    def broken(event, now=None):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(chargebacks, "apply", broken)
    assert hook(gateway.dispute(sale_of(db))).status_code == 200  # stored: the gateway need not resend
    [row] = notifications(db)
    assert row.status == "received" and "database hiccup" in row.message
    monkeypatch.setattr(chargebacks, "apply", real)
    code, out = cli(app.test_cli_runner(), "jobs", "run-due", when=later())
    assert code == 0 and "webhooks applied 1" in out, out
    assert notifications(db)[0].status == "applied" and the_chargeback(db).status == "open"


def test_two_deliveries_of_opening_and_loss_at_once_post_one_chargeback(concurrent, app, gateway, db, logged_in,
                                                                       visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300",))
    sale = sale_of(db)
    opened, lost = gateway.dispute(sale), gateway.dispute(sale, "lost")
    db.session.remove()

    def deliver(signed):
        return lambda: app.test_client().post("/webhooks/braintree", data={"bt_signature": signed[0],
                                                                           "bt_payload": signed[1]}).status_code

    results = race(app, deliver(lost), deliver(opened), deliver(lost))
    assert results == [200, 200, 200]
    code, out = cli(app.test_cli_runner(), "jobs", "run-due", when=later())  # whatever lost a race
    assert code == 0, out
    assert the_chargeback(db).status == "lost" and states(db, cid) == ["charged_back"]
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind == "chargeback")) == 1
    assert ledger.check() == []


# ---- found by the deployment review ------------------------------------------------

def test_a_refund_queued_before_a_lost_chargeback_is_not_made_when_the_sale_settles(hook, gateway, db, logged_in,
                                                                                    visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("200", "100"))
    a, b = (m.id for m in contract(db, cid).milestones)
    logged_in.post(f"/contracts/{cid}/milestones/{b}/refund", {"reason": "Not needed."})
    assert refunds(db)[0].status == "queued"
    sale = sale_of(db)
    hook(gateway.dispute(sale))
    hook(gateway.dispute(sale, "lost"))
    [row] = refunds(db)
    assert row.status == "failed" and "there is nothing left to refund" in row.message
    gateway.settle(sale)
    hook(gateway.sample_webhook("transaction_settled", sale))
    assert not credits(gateway)  # the client got $300 back from their bank, not $400
    assert states(db, cid) == ["charged_back", "charged_back"] and contract(db, cid).state == "completed"
    subjects = [e.subject for e in outbox()]
    assert subjects.index("Chargeback lost: $300.00 — Website redesign") < subjects.index(
        "Completed: Website redesign")
    assert ledger.check() == []


def test_a_partial_chargeback_takes_a_whole_milestone_when_one_matches(hook, gateway, db, logged_in, visitor,
                                                                      outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("700", "300"))
    a, b = (m.id for m in contract(db, cid).milestones)
    sale = sale_of(db)
    gateway.settle(sale)
    hook(gateway.dispute(sale, amount_minor=30000))
    hook(gateway.dispute(sale, "lost"))
    assert states(db, cid) == ["funded", "charged_back"]  # not $300 of the $700 one
    request_payment(logged_in, cid, a)
    approve(visitor, link, a)  # the rest goes on as usual
    assert states(db, cid) == ["released", "charged_back"] and ledger.check() == []


@pytest.mark.corrupts_ledger  # on purpose: the bank took part of the only milestone; a person settles the rest
def test_a_chargeback_of_part_of_the_only_milestone_leaves_it_for_the_owner(hook, gateway, db, logged_in, visitor,
                                                                           outbox, app):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("700",))
    sale = sale_of(db)
    gateway.settle(sale)
    hook(gateway.dispute(sale, amount_minor=30000))
    hook(gateway.dispute(sale, "lost"))
    assert states(db, cid) == ["charged_back"]  # nothing more is offered, requested or auto-released on it
    assert "Request payment" not in logged_in.get(f"/contracts/{cid}").text
    code, out = cli(app.test_cli_runner(), "jobs", "run-due", when=later(60 * 24 * 40))
    assert code == 0, out
    [m] = contract(db, cid).milestones
    assert ledger.check() == [f"milestone {m.id} is charged_back but a chargeback left 40000 in escrow: the shop "
                              f"owner has to settle it by hand", f"contract {cid} is completed but escrow holds 40000"]


def test_no_payment_request_on_a_frozen_milestone(hook, gateway, db, logged_in, visitor, outbox):
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300",))
    [m] = contract(db, cid).milestones
    hook(gateway.dispute(sale_of(db)))
    r = request_payment(logged_in, cid, m.id, expect=303)
    assert FROZEN in logged_in.get(r.headers["Location"]).text
    assert states(db, cid) == ["funded"] and not [e for e in outbox() if e.subject.startswith("Payment requested")]


def test_a_settlement_of_a_sale_of_no_payment_of_ours_is_ignored(hook, gateway, db):
    r = hook(gateway.sample_webhook("transaction_settled", "not-ours"))
    assert r.status_code == 200 and notifications(db)[0].message == "ignored: sale not-ours is no payment of ours"


def test_a_body_too_large_for_a_notification_is_refused_unread(app):
    r = app.test_client().post("/webhooks/braintree", data={"bt_signature": "x", "bt_payload": "a" * 300_000})
    assert r.status_code == 413


def test_a_contract_locked_for_long_does_not_hold_the_gateway_waiting(concurrent, app, hook, gateway, db, logged_in,
                                                                     visitor, outbox):
    """PostgreSQL: the webhook waits for the contract's row lock at most LOCK_WAIT_MS, answers 200 with the
    notification kept, and the jobs apply it once the lock is gone (SQLite serialises writers instead)."""
    import time

    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and lock_timeout are PostgreSQL's")
    cid, link = funded_contract(logged_in, visitor, outbox, amounts=("300",))
    signed = gateway.dispute(sale_of(db))
    db.session.remove()
    with db.engine.connect() as other:
        other.execute(db.text("SELECT id FROM contract WHERE id = :id FOR UPDATE"), {"id": cid})
        started = time.monotonic()
        r = hook(signed)
        waited = time.monotonic() - started
        other.rollback()
    assert r.status_code == 200 and r.text == "received\n" and waited < 10
    assert "LockNotAvailable" in notifications(db)[0].message or "lock timeout" in notifications(db)[0].message
    code, out = cli(app.test_cli_runner(), "jobs", "run-due", when=later())
    assert code == 0 and "webhooks applied 1" in out, out
    assert the_chargeback(db).status == "open"
