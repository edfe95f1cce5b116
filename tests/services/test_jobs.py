"""`flask jobs run-due` with a fixed --now: auto-release, reminders once, nothing for the wrong states."""
from datetime import date, datetime, timedelta

import pytest

from directcontracts.models import Contract, Journal, Milestone, Reminder
from directcontracts.services import disputes, lifecycle
from tests.services.conftest import fund_as_shown


@pytest.fixture
def funded_all(app, db, accepted_contract):
    fund_as_shown(app, accepted_contract, "all", "k-all")
    return accepted_contract


T0 = datetime(2030, 1, 1, 12, 0)


def submit(app, db, cid, index, at=T0):
    with app.test_request_context():
        c = db.session.get(Contract, cid)
        lifecycle.request_payment(c, c.milestones[index].id, note="Done.", now=at)


def run(runner, when: datetime) -> str:
    result = runner.invoke(args=["jobs", "run-due", "--now", when.strftime("%Y-%m-%d %H:%M:%S")])
    assert result.exit_code == 0, result.output
    return result.output


def states(db, cid):
    db.session.expire_all()
    return [m.state for m in db.session.get(Contract, cid).milestones]


def test_auto_release_on_day_14_not_13(app, runner, db, funded_all, outbox):
    submit(app, db, funded_all, 0)
    assert "auto released 0" in run(runner, T0 + timedelta(days=13, hours=23))
    assert states(db, funded_all)[0] == "submitted"
    out = run(runner, T0 + timedelta(days=14))
    assert "auto released 1" in out
    assert states(db, funded_all)[0] == "released"
    assert db.session.scalar(db.select(db.func.count(Journal.id)).where(Journal.kind == "release")) == 1
    assert any(e.subject.startswith("Released: $966.00") for e in outbox())
    assert "auto released 0" in run(runner, T0 + timedelta(days=15))  # idempotent
    from directcontracts.models import TimelineEvent
    assert db.session.scalar(db.select(TimelineEvent).where(TimelineEvent.kind == "auto_released")).actor == "system"


def test_reminders_once_each(app, runner, db, funded_all, outbox):
    submit(app, db, funded_all, 0)
    reminders = lambda: [e for e in outbox() if e.subject.startswith("Reminder:")]  # noqa: E731
    assert "reminders 0" in run(runner, T0 + timedelta(days=6, hours=23))
    assert "reminders 1" in run(runner, T0 + timedelta(days=7))
    assert "reminders 0" in run(runner, T0 + timedelta(days=7, hours=1))
    assert "reminders 1" in run(runner, T0 + timedelta(days=13))
    assert "reminders 0" in run(runner, T0 + timedelta(days=13, hours=12))
    assert len(reminders()) == 2 and "will be released on 2030-01-15" in reminders()[0].subject


def test_a_late_first_run_sends_only_the_most_urgent_reminder(app, runner, db, funded_all, outbox):
    submit(app, db, funded_all, 0)
    assert "reminders 1" in run(runner, T0 + timedelta(days=13, hours=1))
    assert "reminders 0" in run(runner, T0 + timedelta(days=13, hours=2))
    assert db.session.scalar(db.select(db.func.count(Reminder.id))) == 2  # 1-day sent, 7-day marked moot


def test_nothing_for_changes_requested_or_disputed(app, runner, db, funded_all, outbox):
    submit(app, db, funded_all, 0)
    submit(app, db, funded_all, 1)
    with app.test_request_context():
        c = db.session.get(Contract, funded_all)
        lifecycle.client_request_changes(c, c.milestones[0].id, message="Not yet.")
        c = db.session.get(Contract, funded_all)
        disputes.open_dispute(c, c.milestones[1].id, by="client", reason="quality", statement="Not right yet.",
                              now=T0)
    out = run(runner, T0 + timedelta(days=30))
    assert "auto released 0" in out and "reminders 0" in out
    assert states(db, funded_all)[:2] == ["funded", "disputed"]


def test_freelancer_reminded_once_about_unfunded_due_milestones(app, runner, db, accepted_contract, outbox):
    fund_as_shown(app, accepted_contract, "first", "k-first")
    m = db.session.get(Contract, accepted_contract).milestones[1]
    m.due_date = date(2030, 1, 10)
    db.session.commit()
    assert "unfunded reminders 0" in run(runner, datetime(2030, 1, 10, 23, 0))
    assert "unfunded reminders 1" in run(runner, datetime(2030, 1, 11, 0, 1))
    assert "unfunded reminders 0" in run(runner, datetime(2030, 1, 12))
    assert outbox()[-1].subject == "Not funded yet: Milestone 2 — Website redesign"


def test_run_due_retries_mail_and_reconciles(app, runner, db, accepted_contract, outbox, gateway):
    attempt = fund_as_shown(app, accepted_contract, "first", "k-lost", nonce="fake-timeout-nonce")
    assert attempt.status == "unknown"
    out = run(runner, attempt.created_at + timedelta(minutes=3))
    assert "reconciled 1" in out
    db.session.expire_all()
    assert db.session.get(Milestone, db.session.get(Contract, accepted_contract).milestones[0].id).state == "funded"
