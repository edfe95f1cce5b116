"""`flask jobs run-due` runs every task and item on its own: one that fails is rolled back, named
in the output and the exit status, and everything else still runs."""
from datetime import datetime, timedelta

import pytest

from directcontracts.models import Contract, Journal, Milestone, Refund
from directcontracts.payments.testgateway import REFUND_UNREACHABLE
from directcontracts.services import funding, lifecycle
from tests.web.builders import funded_contract

T0 = datetime(2030, 1, 1, 12, 0)


@pytest.fixture
def funded_all(logged_in, visitor, outbox):
    """Three milestones ($1,000 / $2,000 / $500), all funded by the client (over HTTP)."""
    cid, _link = funded_contract(logged_in, visitor, outbox)
    return cid


def submit(app, db, cid, index, at):
    with app.test_request_context():
        c = db.session.get(Contract, cid)
        lifecycle.request_payment(c, c.milestones[index].id, note="Done.", now=at)
    return db.session.get(Contract, cid).milestones[index].id


def run(runner, when: datetime):
    return runner.invoke(args=["jobs", "run-due", "--now", when.strftime("%Y-%m-%d %H:%M:%S")])


def test_one_failing_item_and_one_failing_task_do_not_stop_the_others(app, runner, db, funded_all, outbox, monkeypatch):
    broken = submit(app, db, funded_all, 0, T0)          # due for auto-release at T0+14d: its release raises
    fine = submit(app, db, funded_all, 1, T0)            # due too: must still be released
    reminded = submit(app, db, funded_all, 2, T0 + timedelta(days=7))  # its 7-day reminder is due at T0+14d
    real_approve = lifecycle.approve

    def approve(contract, milestone_id, **kwargs):
        if milestone_id == broken:
            # Half-done work first: the rollback must undo it.
            db.session.get(Milestone, milestone_id).submit_note = "changed by a failing release"
            raise KeyError("simulated bug")
        return real_approve(contract, milestone_id, **kwargs)

    def reconcile(now=None, failures=None):
        raise RuntimeError("charge reconciliation is broken")

    monkeypatch.setattr(lifecycle, "approve", approve)
    monkeypatch.setattr(funding, "reconcile", reconcile)
    before = len(outbox())

    result = run(runner, T0 + timedelta(days=14))

    assert result.exit_code == 1, result.output
    out = result.output
    assert f"FAILED auto-release of milestone {broken}: KeyError: 'simulated bug'" in out
    assert "FAILED task reconciled: RuntimeError: charge reconciliation is broken" in out
    assert "auto released 1" in out and "reminders 1" in out and "refunds reconciled 0" in out
    assert "emails sent" in out  # the task after the broken one ran
    db.session.expire_all()
    by_id = {m.id: m for m in db.session.get(Contract, funded_all).milestones}
    assert by_id[broken].state == "submitted" and by_id[broken].submit_note == "Done."  # rolled back
    assert by_id[fine].state == "released" and by_id[reminded].state == "submitted"
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind == "release")) == 1
    subjects = [e.subject for e in outbox()[before:]]
    assert any(s.startswith("Reminder: Milestone 3 will be released") for s in subjects)
    assert any(s.startswith("Released: ") for s in subjects)
    assert all(e.sent_at is not None for e in outbox())  # email delivery ran after the failures

    # Fixed: the next run releases the milestone that failed and exits 0.
    monkeypatch.undo()
    result = run(runner, T0 + timedelta(days=14, minutes=1))
    assert result.exit_code == 0, result.output
    assert "auto released 1" in result.output and "FAILED" not in result.output


def test_auto_release_skips_a_milestone_whose_refund_is_being_confirmed(app, runner, db, funded_all, outbox, gateway):
    # The milestone of issue 7: a refund without an answer used to crash every later cron run.
    mid = submit(app, db, funded_all, 0, T0)
    from directcontracts.models import PaymentAttempt
    gateway.settle(db.session.scalar(db.select(PaymentAttempt.transaction_id)))  # a partial refund is made once settled
    gateway.refund_fault = REFUND_UNREACHABLE
    with app.test_request_context(), pytest.raises(lifecycle.RefundUncertain):
        lifecycle.refund(db.session.get(Contract, funded_all), mid, reason="Cancelled.")
    gateway.refund_fault = None
    # Keep the look-up from deciding it (within the grace), so only auto-release and reminders meet it.
    row = db.session.scalar(db.select(Refund))
    row.created_at = T0 + timedelta(days=14)
    db.session.commit()
    for when in (T0 + timedelta(days=7), T0 + timedelta(days=13), T0 + timedelta(days=14, minutes=5)):
        result = run(runner, when)
        assert result.exit_code == 0, result.output
        assert "auto released 0" in result.output and "reminders 0" in result.output
    db.session.expire_all()
    assert db.session.get(Milestone, mid).state == "submitted" and db.session.scalar(db.select(Refund)).status == "unknown"
    assert not [e for e in outbox() if e.subject.startswith("Reminder:")]


def test_one_payment_that_cannot_be_reconciled_does_not_stop_the_others(runner, db, logged_in, visitor, outbox,
                                                                       monkeypatch):
    """Two contracts whose payment answers were lost: one raises while settling, the other is funded."""
    from directcontracts.models import PaymentAttempt
    from tests.web.builders import fund, sent_contract, verify

    ids = []
    for email in ("one@client-co.com", "two@client-co.com"):
        cid, link = sent_contract(logged_in, outbox, amounts=("100",), title=f"Job for {email}")
        verify(visitor, link, outbox)
        assert fund(visitor, link, nonce="fake-timeout-nonce").status_code == 303
        ids.append(cid)
    broken, fine = (db.session.scalar(db.select(PaymentAttempt.id).where(PaymentAttempt.contract_id == c))
                    for c in ids)
    real_settle = funding.settle

    def settle(attempt_id, result, **kwargs):
        if attempt_id == broken:
            raise KeyError("simulated bug")
        return real_settle(attempt_id, result, **kwargs)

    monkeypatch.setattr(funding, "settle", settle)
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 1
    assert f"FAILED payment attempt {broken}: KeyError: 'simulated bug'" in result.output
    assert "succeeded 1, failed 0" in result.output
    db.session.expire_all()
    assert db.session.get(PaymentAttempt, fine).status == "succeeded"
    assert db.session.get(PaymentAttempt, broken).status == "unknown"  # tried again by the next run
    monkeypatch.setattr(funding, "settle", real_settle)
    again = runner.invoke(args=["payments", "reconcile"])
    assert again.exit_code == 0 and "succeeded 1, failed 0" in again.output


def test_a_gateway_down_for_an_hour_makes_the_run_fail_while_it_keeps_retrying(runner, db, logged_in, visitor, outbox,
                                                                             gateway, monkeypatch):
    from directcontracts.domain.payments import GatewayUnavailable
    from directcontracts.models import PaymentAttempt, utcnow
    from tests.web.builders import fund, sent_contract, verify

    cid, link = sent_contract(logged_in, outbox, amounts=("100",))
    verify(visitor, link, outbox)
    assert fund(visitor, link, nonce="fake-timeout-nonce").status_code == 303

    def down(order_id):
        raise GatewayUnavailable("connection refused")

    monkeypatch.setattr(gateway, "find_by_order_id", down)
    at = lambda minutes: (utcnow() + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    soon = runner.invoke(args=["payments", "reconcile", "--now", at(30)])
    assert soon.exit_code == 0 and "still waiting 1" in soon.output, soon.output
    late = runner.invoke(args=["payments", "reconcile", "--now", at(90)])
    assert late.exit_code == 1 and "still waiting 1" in late.output
    assert "GatewayStillUnavailable: the payment processor has not answered about it since" in late.output
    db.session.expire_all()
    assert db.session.scalar(db.select(PaymentAttempt.status)) == "unknown"  # still retried, never guessed
    monkeypatch.undo()
    assert "succeeded 1" in runner.invoke(args=["payments", "reconcile"]).output
