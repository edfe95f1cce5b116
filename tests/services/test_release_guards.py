"""A release never pays out money escrow does not hold.

Approve and refund of one milestone at once: exactly one wins — on SQLite as on PostgreSQL.

SQLite has no row locks; ``lock_contract`` takes its database write lock
instead. Without that, both went through on SQLite: the freelancer paid and
the client refunded the same money.
"""
import threading
import time

from directcontracts.models import Contract, Journal
from directcontracts.services import funding, lifecycle
from directcontracts.services.errors import InvalidTransition
from tests.conftest import sales


def first_milestone_submitted(app, db, contract_id) -> int:
    """Fund the first milestone and request its payment (through the services); returns its id."""
    with app.test_request_context():
        c = db.session.get(Contract, contract_id)
        funding.fund(c, key="k-first", choice="first", shown=funding.quotes(c)["first"].encode(),
                     nonce="fake-valid-nonce")
        c = db.session.get(Contract, contract_id)
        mid = c.milestones[0].id
        lifecycle.request_payment(c, mid, note="Done.")
    return mid


def test_approve_and_refund_of_one_milestone_never_both_happen(app, db, accepted_contract, gateway, monkeypatch):
    mid = first_milestone_submitted(app, db, accepted_contract)
    real_preview = lifecycle.release_preview

    def slow_preview(contract, m):  # the release has passed its checks and holds the lock a while
        time.sleep(0.5)
        return real_preview(contract, m)

    monkeypatch.setattr(lifecycle, "release_preview", slow_preview)
    out = {}

    def run(name, work, delay):
        time.sleep(delay)
        with app.test_request_context():
            try:
                work(db.session.get(Contract, accepted_contract))
                out[name] = "done"
            except InvalidTransition as exc:
                out[name] = f"refused: {exc}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=("approve", lambda c: lifecycle.approve(c, mid), 0)),
               threading.Thread(target=run, args=("refund", lambda c: lifecycle.refund(c, mid, reason="Cancelled."),
                                                  0.1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert out["approve"] == "done" and out["refund"].startswith("refused"), out
    db.session.expire_all()
    kinds = sorted(db.session.scalars(db.select(Journal.kind)))
    assert kinds == ["funding", "release"]
    assert [(s["status"], s["refunded_minor"]) for s in sales(gateway)] == [("submitted_for_settlement", 0)]


def test_a_milestone_whose_amount_disagrees_with_escrow_is_not_released(app, db, accepted_contract):
    """A hand edit (or a bug) made the milestone worth more than its escrow: release nothing, name it."""
    from directcontracts.models import Milestone
    from directcontracts.services.ledger import check

    mid = first_milestone_submitted(app, db, accepted_contract)
    db.session.execute(db.update(Milestone).where(Milestone.id == mid).values(amount_minor=Milestone.amount_minor + 1))
    db.session.commit()
    with app.test_request_context():
        try:
            lifecycle.approve(db.session.get(Contract, accepted_contract), mid)
        except InvalidTransition as exc:
            assert "does not match its amount; nothing was released" in str(exc)
        else:
            raise AssertionError("released a milestone its escrow does not cover")
    db.session.expire_all()
    assert sorted(db.session.scalars(db.select(Journal.kind))) == ["funding"]
    assert any("holds 100000, not its amount 100001" in p for p in check())
    db.session.execute(db.update(Milestone).where(Milestone.id == mid).values(amount_minor=100000))
    db.session.commit()  # put it back for the after-test checks


def test_an_auto_release_held_back_by_escrow_fails_the_cron_run(app, runner, db, accepted_contract):
    from datetime import timedelta

    from directcontracts.models import Milestone, utcnow

    mid = first_milestone_submitted(app, db, accepted_contract)
    db.session.execute(db.update(Milestone).where(Milestone.id == mid).values(amount_minor=Milestone.amount_minor + 1))
    db.session.commit()
    when = (utcnow() + timedelta(days=15)).strftime("%Y-%m-%d %H:%M:%S")
    result = runner.invoke(args=["jobs", "run-due", "--now", when])
    assert result.exit_code == 1
    assert f"FAILED auto-release of milestone {mid}: ReleaseHeld: The escrow for “Milestone 1” does not match" \
        in result.output
    db.session.execute(db.update(Milestone).where(Milestone.id == mid).values(amount_minor=100000))
    db.session.commit()  # put it back for the after-test checks
