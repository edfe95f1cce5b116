"""Time-driven work for ``flask jobs run-due`` (idempotent; safe every minute from cron).

- auto-release of milestones whose payment request got no answer in time,
- reminders to the client before auto-release (7 days and 1 day before),
- reminders to the freelancer about unfunded milestones past their due date,
- retrying unsent email, and reconciling payments whose outcome is unknown.

Nothing here touches a disputed milestone: only ``submitted`` ones release.
Each reminder is recorded in a unique row, so it is sent once even when two
runners overlap.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from ..domain.states import ContractState, MilestoneState
from ..extensions import db
from ..models import Contract, Milestone, Reminder, utcnow
from . import activity, funding, lifecycle, mailer
from .client_actions import freelancer_link
from .contracts import fresh_client_link
from .errors import ServiceError

log = logging.getLogger(__name__)

#: Days before auto-release on which the client is reminded, most urgent first.
REMINDER_DAYS = (1, 7)


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


def auto_release(now: datetime) -> int:
    ids = db.session.scalars(
        db.select(Milestone.id).where(Milestone.state == MilestoneState.SUBMITTED,
                                      Milestone.auto_release_at.is_not(None), Milestone.auto_release_at <= now)
    ).all()
    released = 0
    for milestone_id in ids:
        m = db.session.get(Milestone, milestone_id)
        try:
            lifecycle.approve(m.contract, milestone_id, automatic=True, now=now)
        except ServiceError as exc:  # changed state meanwhile (approved, disputed): nothing to do
            log.info("auto-release of milestone %s skipped: %s", milestone_id, exc)
            db.session.rollback()
            continue
        released += 1
    return released


def release_reminders(now: datetime) -> int:
    sent = 0
    milestones = db.session.scalars(
        db.select(Milestone).where(Milestone.state == MilestoneState.SUBMITTED,
                                   Milestone.auto_release_at.is_not(None), Milestone.auto_release_at > now)
    ).all()
    for m in milestones:
        due = [d for d in REMINDER_DAYS if now >= m.auto_release_at - timedelta(days=d)]
        if not due:
            continue
        key = m.auto_release_at.isoformat()
        if not _once(m, f"release_{due[0]}d", key):
            continue
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
        sent += 1
    return sent


def unfunded_reminders(now: datetime) -> int:
    sent = 0
    milestones = db.session.scalars(
        db.select(Milestone).join(Contract).where(
            Contract.state == ContractState.ACTIVE, Milestone.state == MilestoneState.PENDING,
            Milestone.due_date.is_not(None), Milestone.due_date < now.date())
    ).all()
    for m in milestones:
        if not _once(m, "unfunded_due", m.due_date.isoformat()):
            continue
        contract = m.contract
        activity.notify(contract, f"“{m.title}” of “{contract.title}” was due {m.due_date:%Y-%m-%d} "
                                  f"and is not funded yet.")
        mailer.queue(contract.member.email, f"Not funded yet: {m.title} — {contract.title}",
                     "unfunded_due", contract=contract, milestone=m, link=freelancer_link(contract))
        db.session.commit()
        sent += 1
    return sent


def run_due(now: datetime | None = None) -> dict[str, int]:
    """Do everything that is due at ``now``; returns what was done."""
    now = now or utcnow()
    counts = {
        "auto_released": auto_release(now),
        "reminders": release_reminders(now),
        "unfunded_reminders": unfunded_reminders(now),
    }
    reconciled = funding.reconcile(now)
    counts["reconciled"] = reconciled["succeeded"] + reconciled["failed"]
    counts["emails_sent"] = mailer.deliver_pending(limit=500, now=now)["sent"]
    return counts
