"""Refunds whose outcome is unknown: reconciled with the gateway like charges.

A refund call that times out (or loses its answer, or finds the gateway down)
leaves its ``Refund`` row ``unknown``; a process that died mid-call leaves it
``pending``. While such a row exists the milestone keeps its state but offers
and accepts nothing else (no approve, no changes, no auto-release, no second
refund), and both portals say the refund is being confirmed.

``reconcile`` asks the gateway what happened (``lifecycle.find_refund``: the
sale voided, a refund carrying the row's order id, or else a refund of the
sale of the row's amount, made since the row, carrying no order id of ours and
held by no other refund — so a refund whose order id the gateway did not
keep, like every refund made by the release before refund order ids, is found
and never declared failed and made twice):

- found → posted exactly as an answered refund is (``lifecycle.post_refund``):
  milestone refunded, refund journal, client emailed, freelancer notified;
- not found once ``NOT_FOUND_GRACE`` has passed (by a look-up made after it)
  → failed: the row is kept as ``failed`` (its order id with it) and the
  member may refund again, the milestone is back to normal with its
  auto-release clock resumed, both sides told;
- gateway unreachable, or not found within the grace → left for a later run.

Look-ups back off (``checks``, ``next_check_at``): a refund the gateway keeps
not answering about is asked about less and less often, and one still in
flight after ``ledger.STUCK_AFTER`` is reported by ``ledger.check`` and by
``payments reconcile`` for a person to check in Braintree.

A refund declared failed may still land at the gateway (a slow gateway):
``lifecycle.refund`` looks each failed order id of the milestone up before
refunding it again, and reconciliation keeps looking failed refunds up for
``RECHECK_FAILED`` (backing off, at most ``RECHECK_BUDGET`` a run). One found
is posted as a refund that went through after all, both sides told; if the
milestone was refunded or released meanwhile, the books cannot take it and
it is reported instead (``lifecycle.post_refund``).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..domain.money import Money
from ..domain.payments import GatewayUnavailable
from ..domain.states import MilestoneState
from ..extensions import db
from ..models import Contract, Milestone, Refund, utcnow
from . import activity, lifecycle, mailer, memo, presence
from .isolation import backoff, isolated
from .locks import lock_refund

log = logging.getLogger(__name__)

IN_FLIGHT = lifecycle.REFUND_IN_FLIGHT_STATUSES
#: A ``pending`` refund older than this lost its process mid-call: reconcile it.
STALE_PENDING = timedelta(minutes=2)
#: Give the gateway this long to show a void or refund before deciding it was never made.
NOT_FOUND_GRACE = timedelta(minutes=10)
#: A failed refund is looked up again at the gateway for this long after it was declared failed ...
RECHECK_FAILED = timedelta(days=7)
#: ... first this long after, then twice as long each time, up to MAX_RECHECK_DELAY ...
FIRST_RECHECK = timedelta(minutes=10)
MAX_RECHECK_DELAY = timedelta(hours=6)
#: ... at most this many in one run (the oldest due first).
RECHECK_BUDGET = 50
#: An in-flight refund the gateway has no answer about yet is looked up again after 1, 2, 4 … minutes, up to this.
MAX_IN_FLIGHT_DELAY = timedelta(hours=1)


@memo.per_request
def in_flight_amounts(contract: Contract) -> dict[int, tuple[int, str]]:
    """This contract's refunds queued or being confirmed: milestone id → (amount, refund status)."""
    if presence.none(contract, "refunds"):
        return {}
    rows = db.session.execute(
        db.select(Refund.milestone_id, Refund.amount_minor, Refund.status)
        .join(Milestone, Milestone.id == Refund.milestone_id)
        .where(Milestone.contract_id == contract.id, Refund.status.in_(IN_FLIGHT)))
    return {milestone_id: (amount, status) for milestone_id, amount, status in rows}


def in_flight(contract: Contract) -> dict[int, str]:
    """This contract's milestones whose refund is queued or being confirmed: milestone id → refund status."""
    return {milestone_id: status for milestone_id, (_, status) in in_flight_amounts(contract).items()}


def refused(refund_id: int, message: str, now: datetime | None = None) -> None:
    """A queued refund, issued once its payment settled, was refused by the gateway: nothing moved.

    The row is kept ``failed`` (nothing to look up: the refusal is certain); both sides are told, and
    the member may refund again (a dispute's decision opens the dispute again).
    """
    now = now or utcnow()
    db.session.rollback()
    contract, m, row = lock_refund(refund_id)
    if row.status != "pending":
        db.session.rollback()
        return
    row.status, row.failed_at, row.next_check_at = "failed", now, None
    row.message = f"Refused by the payment processor: {message}"[:2000]
    amount = Money(row.amount_minor, contract.currency)
    if row.dispute_id is not None:
        from .disputes import refund_failed
        refund_failed(row, amount)
    else:
        activity.record(contract, "refund_failed", "system",
                        f"The pending refund of “{m.title}” ({amount.format()}) was refused by the payment "
                        f"processor when the payment settled: {message} Nothing went back to the client and the "
                        f"money is still in escrow. It can be refunded again.")
        activity.notify(contract, f"The pending refund of {activity.milestones_of(contract, m.title)} was refused by the "
                                  f"payment processor; {amount.format()} is still in escrow.")
        lifecycle.email_both(contract, f"Refund not made: {m.title} — {contract.title}", "refund_refused",
                             milestone=m, amount=amount, why=message)
    db.session.commit()
    mailer.deliver_pending()


def due(now: datetime) -> list[int]:
    """Refunds to look up at ``now``: in flight, oldest first; then failed ones due for a re-check (bounded)."""
    not_backed_off = db.or_(Refund.next_check_at.is_(None), Refund.next_check_at <= now)
    in_flight_ids = list(db.session.scalars(
        db.select(Refund.id).where(db.or_(
            Refund.status == "unknown",
            db.and_(Refund.status == "pending", Refund.created_at < now - STALE_PENDING)), not_backed_off)
        .order_by(Refund.created_at, Refund.id)))
    failed_ids = list(db.session.scalars(
        db.select(Refund.id).where(Refund.status == "failed", Refund.failed_at >= now - RECHECK_FAILED,
                                   Refund.next_check_at.is_not(None), Refund.next_check_at <= now)
        .order_by(Refund.next_check_at, Refund.id).limit(RECHECK_BUDGET)))
    return in_flight_ids + failed_ids


def reconcile(now: datetime | None = None, *, failures: list[str] | None = None) -> dict[str, int]:
    """Settle every refund left unknown (or stuck pending) by asking the gateway.

    Each refund is handled on its own: one that raises is logged with its id,
    rolled back, counted under ``errors`` and named in ``failures`` (if given),
    and the others still run. Returns counts: posted (``late``: of which
    refunds declared failed earlier), failed, waiting, errors.
    """
    now = now or utcnow()
    counts = {"posted": 0, "late": 0, "failed": 0, "waiting": 0, "errors": 0}
    failures = [] if failures is None else failures
    for refund_id in due(now):
        outcomes: list[str | None] = []
        if not isolated(failures, f"refund reconciliation, refund {refund_id}",
                        lambda: outcomes.append(reconcile_one(refund_id, now))):
            counts["errors"] += 1
            continue
        outcome = outcomes[0]
        if outcome == "late":
            counts["posted"] += 1
        if outcome:
            counts[outcome] += 1
    return counts


def reconcile_one(refund_id: int, now: datetime) -> str | None:
    """Look one refund up at the gateway and record the truth.

    Returns "posted", "failed", "waiting" (in flight, no answer yet), "late"
    (a failed refund found made after all, and posted), or None (nothing to
    do, or a failed refund still not found / not postable).
    """
    db.session.expire_all()
    row = db.session.get(Refund, refund_id)
    if row is None or (row.status not in IN_FLIGHT and row.status != "failed"):
        return None
    status, checks, created_at = row.status, row.checks, row.created_at
    [key] = lifecycle.refund_keys(Refund.id == refund_id)
    db.session.rollback()  # no transaction stays open across the gateway call
    try:
        found = lifecycle.find_refund(key)
    except GatewayUnavailable as exc:
        log.warning("reconcile refund %s: gateway unavailable, will retry: %s", refund_id, exc)
        _back_off(refund_id, status, checks, now)
        return "waiting" if status in IN_FLIGHT else None
    if found is not None:
        lifecycle.post_refund(refund_id, found, reconciled=True)
        db.session.expire_all()
        if db.session.scalar(db.select(Refund.status).where(Refund.id == refund_id)) != "succeeded":
            return None  # a failed refund found, but the books cannot take it (reported) or not yet
        log.info("reconciled refund %s: %s %s", refund_id, found.kind, found.transaction_id)
        return "late" if status == "failed" else "posted"
    # Only a look-up made after the grace may declare it failed: a slow gateway may still make it.
    if status == "failed" or created_at > now - NOT_FOUND_GRACE:
        _back_off(refund_id, status, checks, now)
        return "waiting" if status in IN_FLIGHT else None
    fail(refund_id, now)
    log.info("reconciled refund %s: not made at the gateway", refund_id)
    return "failed"


def _back_off(refund_id: int, status: str, checks: int, now: datetime) -> None:
    """A look-up that changed nothing: the next one waits longer (only if the row is still as it was read)."""
    if status == "failed":
        delay = backoff(checks + 2, FIRST_RECHECK, MAX_RECHECK_DELAY)  # fail() waited FIRST_RECHECK: now 2×, 4× …
    else:
        delay = backoff(checks + 1, timedelta(minutes=1), MAX_IN_FLIGHT_DELAY)
    db.session.rollback()
    db.session.execute(db.update(Refund).where(Refund.id == refund_id, Refund.status == status)
                       .values(checks=Refund.checks + 1, next_check_at=now + delay)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def fail(refund_id: int, now: datetime) -> None:
    """The gateway has not made this refund: mark it failed so the member may retry; tell both sides.

    The row stays (``failed``), and is looked up again for RECHECK_FAILED in case it lands late.
    """
    contract, m, row = lock_refund(refund_id)
    if row is None or row.status not in IN_FLIGHT:
        db.session.rollback()
        return
    amount = Money(row.amount_minor, contract.currency)
    if m.state == MilestoneState.SUBMITTED and m.auto_release_at is not None:
        # The clock was stopped while the refund was in flight: resume it with the time that was left.
        m.auto_release_at += max(now - row.created_at, timedelta(0))
    row.status, row.failed_at, row.checks, row.next_check_at = "failed", now, 0, now + FIRST_RECHECK
    row.message = "Not found at the payment processor after the grace period."
    if row.dispute_id is not None:  # a dispute's decision: the dispute opens again, and everyone is told so
        from .disputes import refund_failed  # disputes builds on lifecycle, which this module builds on
        refund_failed(row, amount)
    else:
        _tell_not_made(contract, m, amount)
    db.session.commit()
    mailer.deliver_pending()


def _tell_not_made(contract, m, amount: Money) -> None:
    activity.record(contract, "refund_failed", "system",
                    f"The refund of “{m.title}” ({amount.format()}) was not made by the payment processor: "
                    f"nothing went back to the client and the money is still in escrow. It can be refunded again.")
    activity.notify(contract, f"The refund of {activity.milestones_of(contract, m.title)} did not go through; "
                              f"{amount.format()} is still in escrow. You can refund it again.")
    lifecycle.email_both(contract, f"Refund not made: {m.title} — {contract.title}", "refund_failed",
                         milestone=m, amount=amount)
