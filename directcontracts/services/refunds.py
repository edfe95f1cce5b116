"""Refunds whose outcome is unknown: reconciled with the gateway like charges.

A refund call that times out (or loses its answer, or finds the gateway down)
leaves its ``Refund`` row ``unknown``; a process that died mid-call leaves it
``pending``. While such a row exists the milestone keeps its state but offers
and accepts nothing else (no approve, no changes, no auto-release, no second
refund), and both portals say the refund is being confirmed.

``reconcile`` asks the gateway what happened (``find_refund``: the sale voided,
or a refund carrying the row's order id):

- found → posted exactly as an answered refund is (``lifecycle.post_refund``):
  milestone refunded, refund journal, client emailed, freelancer notified;
- not found once ``NOT_FOUND_GRACE`` has passed (by a look-up made after it)
  → failed: the row is removed so the member may refund again, the milestone
  is back to normal with its auto-release clock resumed, both sides told;
- gateway unreachable → left for the next run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..domain.money import Money
from ..domain.payments import GatewayUnavailable
from ..domain.states import MilestoneAction, MilestoneState, allowed_milestone_actions
from ..extensions import db
from ..models import Contract, Milestone, PaymentAttempt, Refund, utcnow
from . import activity, lifecycle, mailer
from .client_actions import freelancer_link
from .contracts import fresh_client_link
from .funding import gateway
from .locks import lock_contract

log = logging.getLogger(__name__)

IN_FLIGHT = ("pending", "unknown")
#: A ``pending`` refund older than this lost its process mid-call: reconcile it.
STALE_PENDING = timedelta(minutes=2)
#: Give the gateway this long to show a void or refund before deciding it was never made.
NOT_FOUND_GRACE = timedelta(minutes=10)


def in_flight(contract: Contract) -> set[int]:
    """Ids of this contract's milestones whose refund is being confirmed."""
    return set(db.session.scalars(
        db.select(Refund.milestone_id).join(Milestone, Milestone.id == Refund.milestone_id)
        .where(Milestone.contract_id == contract.id, Refund.status.in_(IN_FLIGHT))))


def milestone_actions(contract: Contract, role: str) -> Callable[[Milestone], list[MilestoneAction]]:
    """What ``role`` may do with each milestone: the domain's table, nothing while a refund is in flight."""
    refunding = in_flight(contract)
    return lambda m: [] if m.id in refunding else allowed_milestone_actions(m.state, role)


def due(now: datetime) -> list[int]:
    """Refunds to reconcile at ``now``, oldest first."""
    return list(db.session.scalars(
        db.select(Refund.id).where(db.or_(
            Refund.status == "unknown",
            db.and_(Refund.status == "pending", Refund.created_at < now - STALE_PENDING)))
        .order_by(Refund.created_at, Refund.id)))


def reconcile(now: datetime | None = None, *, failures: list[str] | None = None) -> dict[str, int]:
    """Settle every refund left unknown (or stuck pending) by asking the gateway.

    Each refund is handled on its own: one that raises is logged with its id,
    rolled back, counted under ``errors`` and named in ``failures`` (if given),
    and the others still run. Returns counts: posted, failed, waiting, errors.
    """
    now = now or utcnow()
    counts = {"posted": 0, "failed": 0, "waiting": 0, "errors": 0}
    for refund_id in due(now):
        try:
            outcome = reconcile_one(refund_id, now)
        except Exception as exc:  # one broken refund must not stop the others (nor the cron run)
            db.session.rollback()
            log.exception("reconciling refund %s failed", refund_id)
            counts["errors"] += 1
            if failures is not None:
                failures.append(f"refund reconciliation, refund {refund_id}: {type(exc).__name__}: {exc}")
            continue
        if outcome:
            counts[outcome] += 1
    return counts


def reconcile_one(refund_id: int, now: datetime) -> str | None:
    """Look one refund up at the gateway and record the truth: "posted", "failed", "waiting" (None: gone)."""
    db.session.expire_all()
    row = db.session.get(Refund, refund_id)
    if row is None or row.status not in IN_FLIGHT:
        return None
    transaction_id = db.session.get(PaymentAttempt, row.attempt_id).transaction_id
    order_id, created_at = lifecycle.refund_order_id(row), row.created_at
    db.session.rollback()  # no transaction stays open across the gateway call
    try:
        found = gateway().find_refund(transaction_id, order_id)
    except GatewayUnavailable as exc:
        log.warning("reconcile refund %s: gateway unavailable, will retry: %s", refund_id, exc)
        return "waiting"
    if found is not None:
        lifecycle.post_refund(refund_id, found, reconciled=True)
        log.info("reconciled refund %s: %s %s", refund_id, found.kind, found.transaction_id)
        return "posted"
    # Only a look-up made after the grace may declare it failed: a slow gateway may still make it.
    if created_at > now - NOT_FOUND_GRACE:
        return "waiting"
    fail(refund_id, now)
    log.info("reconciled refund %s: not made at the gateway", refund_id)
    return "failed"


def fail(refund_id: int, now: datetime) -> None:
    """The gateway never made this refund: remove it so the member may retry; tell both sides."""
    milestone_id = db.session.scalar(db.select(Refund.milestone_id).where(Refund.id == refund_id))
    contract_id = db.session.scalar(db.select(Milestone.contract_id).where(Milestone.id == milestone_id))
    contract, m = lock_contract(contract_id, milestone_id)
    row = db.session.get(Refund, refund_id)
    if row is None or row.status not in IN_FLIGHT:
        db.session.rollback()
        return
    amount = Money(row.amount_minor, contract.currency)
    if m.state == MilestoneState.SUBMITTED and m.auto_release_at is not None:
        # The clock was stopped while the refund was in flight: resume it with the time that was left.
        m.auto_release_at += max(now - row.created_at, timedelta(0))
    db.session.delete(row)
    activity.record(contract, "refund_failed", "system",
                    f"The refund of “{m.title}” ({amount.format()}) was not made by the payment processor: "
                    f"nothing went back to the client and the money is still in escrow. It can be refunded again.")
    activity.notify(contract, f"The refund of “{m.title}” of “{contract.title}” did not go through; "
                              f"{amount.format()} is still in escrow. You can refund it again.")
    mailer.queue(contract.member.email, f"Refund not made: {m.title} — {contract.title}", "refund_failed",
                 contract=contract, milestone=m, amount=amount, for_member=True, link=freelancer_link(contract))
    mailer.queue(contract.client_email, f"Refund not made: {m.title} — {contract.title}", "refund_failed",
                 contract=contract, milestone=m, amount=amount, for_member=False, link=fresh_client_link(contract))
    db.session.commit()
    mailer.deliver_pending()
