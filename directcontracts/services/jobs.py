"""Time-driven work for ``flask jobs run-due`` (idempotent; safe every minute from cron).

- auto-release of milestones whose payment request got no answer in time,
- reminders to the client before auto-release (7 days and 1 day before),
- reminders to the freelancer about unfunded milestones past their due date,
- retrying unsent email, and reconciling payments and refunds whose outcome
  is unknown,
- looking up the settlement of charges no webhook reported settled, and
  issuing the refunds queued until their charge settled (``settlements``),
- applying again webhook notifications whose applying failed (``webhooks``).

Nothing here touches a disputed milestone: only ``submitted`` ones release,
and not while a refund of it is being confirmed or a chargeback freezes it. Each reminder is recorded in
a unique row, so it is sent once even when two runners overlap.

Every task, and every milestone or refund within a task, runs on its own: one
that fails with any exception is logged with its id, rolled back and listed in
the run's ``Report.failures``, and the rest of the run goes on, so one bad row
never stops reminders, email or reconciliation for the whole shop.

One run at a time across machines: ``run_due_alone`` takes a PostgreSQL advisory
lock (``pg_try_advisory_lock``) on a connection of its own for the whole run, so
when cron starts ``jobs run-due`` on several app servers at the same minute, one
does the work and the others skip at once (saying so). The work is safe to
overlap anyway (reminders are unique rows, releases lock their rows), but one
runner does not send a reminder while another is halfway through it, and the
gateway is asked once. The lock goes with the connection, so a runner that dies
frees it. SQLite is one machine (and serialises writers): nothing to take.

Once a day the books are compared with the gateway's own records of the last
30 days (``gateway_audit.daily``): in the run whose clock reads
``gateway_audit.DAILY_AT``, as the late-sales audit does, so there is no "last
run" to store; a missed day is covered by the next (or by ``payments
reconcile`` and the owner's "Check now"). The result is kept for the owner's
Reconciliation page; a mismatch is a failure of the run.

Each run sums the ledger days that closed since the last (``ledger_days.roll_up``: once a day there
is one to sum), which the members' totals and the payouts report read instead of every entry.

Each run ends by recording that it finished (``health.record_jobs_run``: ``flask
doctor`` checks it is recent) and, every ``HEALTH_REFRESH_MINUTES``, refreshing
the owner's health panel (``health.refresh_if_stale``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from ..domain.states import ContractState, MilestoneState
from ..extensions import db
from ..models import Contract, Milestone, Refund, Reminder, utcnow
from . import (activity, chargebacks, disputes, funding, health, ledger_days, lifecycle, mailer, refunds, settlements,
               thread, webhooks)
from .isolation import each, isolated
from .errors import InvalidTransition, ServiceError
from .links import freelancer_link, fresh_client_link

log = logging.getLogger(__name__)

#: The advisory lock key of ``jobs run-due`` (any 64-bit number no other code of the database uses: "DCJOBS").
RUN_LOCK_KEY = 0x44434A4F4253

#: Days before auto-release on which the client is reminded, most urgent first.
REMINDER_DAYS = (1, 7)


@dataclass
class Report:
    """What one run did: a count per task that completed, and every failure, naming its item."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _no_refund_in_flight():
    """Milestones whose refund is being confirmed neither release nor promise to."""
    return ~db.select(Refund.id).where(Refund.milestone_id == Milestone.id,
                                       Refund.status.in_(lifecycle.REFUND_IN_FLIGHT_STATUSES)).exists()


def _once(milestone: Milestone, kind: str, key: str) -> bool:
    """Record that a reminder is being sent; False if it already was (by us or a parallel run)."""
    done = db.session.scalar(db.select(Reminder.id).where(
        Reminder.milestone_id == milestone.id, Reminder.kind == kind, Reminder.key == key))
    if done:
        return False
    db.session.add(Reminder(milestone_id=milestone.id, kind=kind, key=key))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def auto_release(now: datetime, failures: list[str]) -> int:
    """Release submitted milestones whose auto-release date has passed; returns how many."""
    ids = db.session.scalars(
        db.select(Milestone.id).where(Milestone.state == MilestoneState.SUBMITTED,
                                      Milestone.auto_release_at.is_not(None), Milestone.auto_release_at <= now,
                                      _no_refund_in_flight(), chargebacks.not_frozen_clause())
    ).all()

    def release(milestone_id: int) -> bool:
        m = db.session.get(Milestone, milestone_id)
        try:
            lifecycle.approve(m.contract, milestone_id, automatic=True, now=now)
        except lifecycle.ReleaseHeld:
            raise  # needs a person or the gateway: a failure of the run, named in its output
        except (ServiceError, InvalidTransition) as exc:  # changed meanwhile (approved, disputed, refunding)
            log.info("auto-release of milestone %s skipped: %s", milestone_id, exc)
            db.session.rollback()
            return False
        return True

    return each(ids, failures, "auto-release of milestone {}", release)


def release_reminders(now: datetime, failures: list[str]) -> int:
    """Remind the client 7 days and 1 day before a milestone is released automatically."""
    ids = db.session.scalars(
        db.select(Milestone.id).where(Milestone.state == MilestoneState.SUBMITTED,
                                      Milestone.auto_release_at.is_not(None), Milestone.auto_release_at > now,
                                      _no_refund_in_flight())
    ).all()

    def remind(milestone_id: int) -> bool:
        m = db.session.get(Milestone, milestone_id)
        due = [d for d in REMINDER_DAYS if now >= m.auto_release_at - timedelta(days=d)]
        if not due:
            return False
        key = m.auto_release_at.isoformat()
        if not _once(m, f"release_{due[0]}d", key):
            return False
        for days in due[1:]:  # the most urgent reminder makes the earlier ones moot
            _once(m, f"release_{days}d", key)
        contract = m.contract
        mailer.queue(contract.client_email, f"Reminder: {m.title} will be released on "
                     f"{m.auto_release_at:%Y-%m-%d} — {contract.title}", "release_reminder",
                     contract=contract, milestone=m, link=fresh_client_link(contract))
        activity.record(contract, "reminder", "system",
                        f"Reminded the client that “{m.title}” is released automatically on "
                        f"{m.auto_release_at:%Y-%m-%d %H:%M} UTC.")
        db.session.commit()
        return True

    return each(ids, failures, "release reminder for milestone {}", remind)


def unfunded_reminders(now: datetime, failures: list[str]) -> int:
    """Tell the freelancer, once, about each active contract's unfunded milestone past its due date."""
    ids = db.session.scalars(
        db.select(Milestone.id).join(Contract).where(
            Contract.state == ContractState.ACTIVE, Milestone.state == MilestoneState.PENDING,
            Milestone.due_date.is_not(None), Milestone.due_date < now.date())
    ).all()

    def remind(milestone_id: int) -> bool:
        m = db.session.get(Milestone, milestone_id)
        if not _once(m, "unfunded_due", m.due_date.isoformat()):
            return False
        contract = m.contract
        activity.notify(contract, f"{activity.milestones_of(contract, m.title)} was due {m.due_date:%Y-%m-%d} "
                                  f"and is not funded yet.")
        mailer.queue(contract.member.email, f"Not funded yet: {m.title} — {contract.title}",
                     "unfunded_due", contract=contract, milestone=m, link=freelancer_link(contract))
        db.session.commit()
        return True

    return each(ids, failures, "unfunded reminder for milestone {}", remind)


def run_due(now: datetime | None = None) -> Report:
    """Do everything that is due at ``now``, each task and item in isolation; returns what was done."""
    now = now or utcnow()
    report = Report()

    def task(name: str, work: Callable[[], int]) -> None:
        counted: list[int] = []
        if isolated(report.failures, f"task {name}", lambda: counted.append(work())):
            report.counts[name] = counted[0]

    def charges() -> int:
        reconciled = funding.reconcile(now, failures=report.failures)
        report.counts["late_sales_adopted"] = reconciled["adopted"]
        report.counts["sales_given_back"] = reconciled["returned"]
        report.counts["sales_unmatched"] = reconciled["unmatched"]
        return reconciled["succeeded"] + reconciled["failed"]

    def refunds_due() -> int:
        reconciled = refunds.reconcile(now, failures=report.failures)
        return reconciled["posted"] + reconciled["failed"]

    task("auto_released", lambda: auto_release(now, report.failures))
    task("reminders", lambda: release_reminders(now, report.failures))
    task("unfunded_reminders", lambda: unfunded_reminders(now, report.failures))
    task("dispute_notices", lambda: disputes.deadlines(now, report.failures))
    task("reconciled", charges)
    task("refunds_reconciled", refunds_due)
    task("webhooks_applied", lambda: webhooks.retry_due(now, report.failures))
    task("settlements_looked_up", lambda: settlements.check(now, report.failures))
    task("queued_refunds_issued", lambda: settlements.issue_due(now, report.failures))
    task("messages_emailed", lambda: thread.email_due(now, report.failures))
    task("emails_sent", lambda: mailer.deliver_pending(limit=500, now=now)["sent"])
    task("ledger_days_summed", lambda: ledger_days.roll_up(now))
    from . import gateway_audit  # the daily comparison with the gateway's records (module doc)
    if (now.hour, now.minute) == gateway_audit.DAILY_AT:
        task("gateway_mismatches", lambda: gateway_audit.daily(now, report.failures))
    # the run is recorded before the health checks, which look for it
    isolated(report.failures, "recording the run", lambda: health.record_jobs_run(len(report.failures), now))
    isolated(report.failures, "health checks", health.refresh_if_stale)
    return report


@contextmanager
def run_lock() -> Iterator[bool]:
    """Hold the one-runner lock while inside; yields False (holding nothing) if another run has it.

    PostgreSQL: a session advisory lock on a dedicated connection, released (and the connection
    closed) on the way out, or by the server if the process dies. Other databases: always True.
    """
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    with db.engine.connect() as conn:
        got = conn.execute(db.text("SELECT pg_try_advisory_lock(:key)"), {"key": RUN_LOCK_KEY}).scalar()
        conn.commit()  # hold no transaction open for the run's length: the lock belongs to the session
        try:
            yield bool(got)
        finally:
            if got:
                conn.execute(db.text("SELECT pg_advisory_unlock(:key)"), {"key": RUN_LOCK_KEY})
                conn.commit()


def run_due_alone(now: datetime | None = None) -> Report | None:
    """``run_due`` unless another run (on any machine sharing the database) is under way: then None."""
    with run_lock() as got:
        if not got:
            return None
        return run_due(now)
