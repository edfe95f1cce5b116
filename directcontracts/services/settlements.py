"""Following each charge to settlement, and issuing the refunds that waited for it.

A card sale is *submitted for settlement* when charged and settles later
(Braintree: usually within a day). Until then the gateway can only void the
whole sale, so a partial refund of it (one milestone of a "fund all" payment,
a dispute's split) is queued (``lifecycle.refund``) and issued here once the
charge settles.

The gateway's status of each charge is kept on its ``PaymentAttempt``
(``settlement``). It comes from webhooks (through ``funding.mark_settled`` and
``funding.mark_settlement_declined``, which call ``record``) and, as their
fallback, from ``check``: ``jobs run-due`` looks up charges that stayed
unsettled longer than ``LOOK_UP_AFTER`` (again every ``RECHECK``), and at once
(every ``QUEUED_RECHECK``) those a refund waits for. Then ``issue_due`` issues
every queued refund whose charge settled, through ``lifecycle.issue_queued``
(the same gateway call and posting as any refund), so one whose issue was
interrupted is picked up by the next run.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..domain.payments import GatewayUnavailable
from ..extensions import db
from ..models import PaymentAttempt, Refund, utcnow
from ..payments import current_gateway
from . import lifecycle
from .isolation import each

log = logging.getLogger(__name__)

#: A charge not known to be settled this long after it was made is looked up at the gateway ...
LOOK_UP_AFTER = timedelta(hours=3)
#: ... again this long after each look-up ...
RECHECK = timedelta(hours=1)
#: ... but every run (bounded by this) while a refund waits for it ...
QUEUED_RECHECK = timedelta(minutes=1)
#: ... for this long after it was made (Braintree settles within days, or declines).
FOLLOW_FOR = timedelta(days=30)
#: Look-ups in one run, the longest unasked first.
BUDGET = 50

#: Statuses after which there is nothing more to follow.
FINAL = ("settled", "settlement_confirmed", "settlement_declined", "voided", "failed", "processor_declined",
         "gateway_rejected")


def _queued_for(attempt_id_column):
    return db.select(Refund.id).where(Refund.attempt_id == attempt_id_column, Refund.status == "queued").exists()


def due(now: datetime) -> list[str]:
    """Attempts whose settlement to look up now (bounded), the longest unasked first."""
    unsettled = db.and_(PaymentAttempt.status == "succeeded", PaymentAttempt.transaction_id.is_not(None),
                        db.or_(PaymentAttempt.settlement.is_(None), PaymentAttempt.settlement.not_in(FINAL)),
                        PaymentAttempt.decided_at >= now - FOLLOW_FOR)
    queued = _queued_for(PaymentAttempt.id)
    never_or = lambda delay: db.or_(PaymentAttempt.settlement_checked_at.is_(None),  # noqa: E731
                                    PaymentAttempt.settlement_checked_at <= now - delay)
    return list(db.session.scalars(
        db.select(PaymentAttempt.id).where(unsettled, db.or_(
            db.and_(queued, never_or(QUEUED_RECHECK)),
            db.and_(PaymentAttempt.decided_at <= now - LOOK_UP_AFTER, never_or(RECHECK))))
        .order_by(PaymentAttempt.settlement_checked_at.is_not(None), PaymentAttempt.settlement_checked_at,
                  PaymentAttempt.decided_at).limit(BUDGET)))


def check(now: datetime, failures: list[str]) -> int:
    """Look the due charges' settlement up at the gateway and record it; returns how many changed."""
    ids = due(now)
    db.session.rollback()

    def look_up(attempt_id: str) -> bool:
        transaction_id, before = db.session.execute(db.select(PaymentAttempt.transaction_id,
                                                              PaymentAttempt.settlement)
                                                    .where(PaymentAttempt.id == attempt_id)).one()
        db.session.rollback()  # no transaction stays open across the gateway call
        try:
            status = current_gateway().transaction_status(transaction_id)
        except GatewayUnavailable as exc:
            log.warning("settlement of attempt %s: gateway unavailable, will retry: %s", attempt_id, exc)
            lifecycle.record_settlement(attempt_id, None, now)
            return False
        if status is None:
            log.error("settlement of attempt %s: the gateway has no transaction %s", attempt_id, transaction_id)
        if status in ("settled", "settlement_confirmed", "settlement_declined"):
            record(transaction_id, "settlement_declined" if status == "settlement_declined" else status, now,
                   issue=False)
        else:
            lifecycle.record_settlement(attempt_id, status, now)
        return status is not None and status != before

    return each(ids, failures, "settlement look-up of payment attempt {}", look_up)


def record(transaction_id: str, status: str, now: datetime | None = None, *, issue: bool = True) -> int:
    """Record that charge ``transaction_id`` reached ``status`` (settled or settlement_declined).

    Settled: the refunds queued for it are issued (unless ``issue`` is False: ``issue_due`` does it);
    returns how many. Declined: the money never arrived: its funding is reversed (``chargebacks.reverse``:
    milestones unfunded again, queued refunds failed, what was released owed, both sides told).
    """
    now = now or utcnow()
    attempt_id = db.session.scalar(db.select(PaymentAttempt.id).where(PaymentAttempt.transaction_id == transaction_id))
    if attempt_id is None:
        db.session.rollback()
        log.warning("settlement %s of transaction %s: no payment of ours", status, transaction_id)
        return 0
    lifecycle.record_settlement(attempt_id, status, now)
    if status == "settlement_declined":
        from . import chargebacks  # it builds on funding, as this module does

        chargebacks.reverse(attempt_id, now)
        return 0
    if not issue or status not in lifecycle.REFUNDABLE_SETTLEMENTS:
        return 0
    queued = list(db.session.scalars(db.select(Refund.id).where(Refund.attempt_id == attempt_id,
                                                                Refund.status == "queued").order_by(Refund.id)))
    db.session.rollback()
    return sum(lifecycle.issue_queued(refund_id) is not None for refund_id in queued)


def issue_due(now: datetime, failures: list[str]) -> int:
    """Issue every queued refund whose charge has settled; returns how many were issued."""
    ids = list(db.session.scalars(
        db.select(Refund.id).join(PaymentAttempt, PaymentAttempt.id == Refund.attempt_id)
        .where(Refund.status == "queued", PaymentAttempt.settlement.in_(lifecycle.REFUNDABLE_SETTLEMENTS))
        .order_by(Refund.id)))
    db.session.rollback()
    return each(ids, failures, "issuing queued refund {}", lambda refund_id: lifecycle.issue_queued(refund_id)
                is not None)
