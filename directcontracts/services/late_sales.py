"""Sales the gateway took that escrow did not: adopt them, or give the money back.

A sale normally becomes escrow through ``funding.settle``. Three cases slip
past it, and each would leave a client charged with nothing in escrow:

* the answer is a success, but the contract can no longer take the money
  (declined, withdrawn, ended, completed, revised, or its milestones were paid
  by another payment meanwhile): ``settle`` asks :func:`cannot_take`;
* the sale lands at the gateway after reconciliation gave its attempt up (a
  slow gateway, a lagging search): :func:`sweep` looks the attempt's order id
  up again and *adopts* the sale when its milestones can still take it —
  exactly as a success: funding journal, milestones funded, both sides told;
* a second sale for an attempt that was already paid (given back); a sale
  with no attempt at all is not ours to touch — the daily audit
  (:func:`audit`) logs it for a person.

The sweep is bounded and targeted, never a read of every sale: it looks up
by order id only attempts given up on in the last ``LOOKBACK`` and attempts
paid in the last ``DUPLICATE_LOOKBACK``, each again only after twice the time
it had already waited when last looked at (``RECHECK_MIN`` at least; the
attempt's ``updated_at`` records the look), at most ``SWEEP_BUDGET`` per run.
So an attempt is looked up about ten times in its week, whatever the shop's
volume, and a run makes at most ``2 × SWEEP_BUDGET`` HTTP calls (a search
for the ids, a page of transactions). Only the audit, once a day, reads the
gateway's sales by date (``AUDIT_SPAN``). Each attempt, sale and return is
handled on its own: one that raises is logged, rolled back and named in the
``failures`` list, and the others go on.

Whatever cannot be adopted is given back: voided if unsettled, else refunded
(the gateway's ``refund`` decides). A ``SaleReturn`` row, unique per gateway
transaction, is committed before the gateway is called, and the contract and
attempt rows are locked while deciding, so two reconcilers never adopt one
sale twice nor give it back twice. A void or refund whose answer is lost stays
``returning``; the next reconciliation first asks the gateway whether it went
through (``find_refund``), then tries again.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from ..domain.payments import ChargeResult, GatewayUnavailable, RefundResult
from ..domain.states import ContractState, MilestoneState
from ..extensions import db
from ..models import Contract, Milestone, PaymentAttempt, SaleReturn, utcnow
from ..payments import current_gateway
from . import activity, funding, mailer
from .client_actions import acceptance_of_current
from .links import freelancer_link, fresh_client_link
from .isolation import backoff, isolated, raise_uncollected
from .locks import lock_attempt, lock_contract

log = logging.getLogger(__name__)

#: How far back the gateway's sales are read. A sale lands minutes late, not
#: weeks; a week also covers a reconciler that was down over a long weekend.
LOOKBACK = timedelta(days=7)
#: Paid attempts are looked up for a second sale (a duplicate charge) for this long after paid.
DUPLICATE_LOOKBACK = timedelta(days=1)
#: An attempt looked up is not looked up again sooner than this (nor sooner than the time it had
#: already waited when last looked at: the look-ups back off as it ages).
RECHECK_MIN = timedelta(minutes=5)
#: At most this many attempts are looked up at the gateway per sweep (at most two HTTP calls each).
SWEEP_BUDGET = 10
#: The audit runs in the reconciliation whose clock reads this (hour, minute) UTC — once a day with
#: a cron every minute or every 5 minutes — and reads the sales of the last AUDIT_SPAN by date
#: (two days: a missed run is covered by the next).
AUDIT_AT = (0, 0)
AUDIT_SPAN = timedelta(days=2)
#: A claim on a return older than this belongs to a reconciler that died mid-call.
CLAIM_TIMEOUT = timedelta(minutes=5)
#: A give-back the gateway did not answer (or refused) is retried by the next run, then 2, 4, 8 … minutes
#: apart, up to this.
MAX_RETRY_DELAY = timedelta(hours=6)
#: Attempts reconciliation gave up on (or the gateway refused): a sale for one landed late.
GIVEN_UP = frozenset({"failed", "declined", "rejected"})
#: Our order ids are attempt ids (uuid4). Sales with other order ids are not ours to
#: give back: the merchant account may take other payments too.
_OUR_ORDER_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

_CLOSED = {
    ContractState.DECLINED: "the contract had been declined",
    ContractState.WITHDRAWN: "the contract had been withdrawn",
    ContractState.ENDED: "the contract had been ended",
    ContractState.COMPLETED: "the contract had been completed",
    ContractState.DRAFT: "the contract had been reopened for revision",
    ContractState.CHANGES_REQUESTED: "changes to the contract had been requested",
}


def cannot_take(contract: Contract, attempt: PaymentAttempt, milestones: list[Milestone],
                result: ChargeResult) -> str | None:
    """Why this charge cannot fund the attempt's milestones now, in plain words; None if it can.

    Call with the contract, the attempt and its milestones locked. The
    milestones must all still be pending, unpaid, not held by another payment
    and at the amounts the attempt charged for.
    """
    if contract.state in _CLOSED:
        return _CLOSED[contract.state]
    if contract.state == ContractState.SENT and acceptance_of_current(contract) is None:
        return "the contract had been changed since it was signed"
    if result.amount is not None and result.amount != attempt.amount:
        return f"the amount charged ({result.amount.format()}) was not the amount due ({attempt.amount.format()})"
    by_id = {m.id: m for m in milestones}
    for item in attempt.items:
        m = by_id.get(item.milestone_id)
        if m is None or m.state == MilestoneState.CANCELLED:
            return "a milestone it paid for had been cancelled"
        if m.state != MilestoneState.PENDING:
            return f"“{m.title}” had already been paid by another payment"
        if m.hold_attempt_id not in (None, attempt.id):
            return f"another payment for “{m.title}” was in progress"
        if m.amount_minor != item.amount_minor:
            return f"the amount of “{m.title}” had changed"
    return None


def start_return(contract: Contract | None, attempt: PaymentAttempt | None, milestones: list[Milestone],
                 sale: ChargeResult, reason: str, now: datetime) -> int:
    """Record (not yet commit) that ``sale`` goes back; returns the SaleReturn id.

    An attempt that had not succeeded becomes ``returned`` (no funding journal,
    ever) and lets go of its milestones. The caller commits, then calls
    :func:`give_back` outside the transaction.
    """
    amount = sale.amount or attempt.amount
    row = SaleReturn(transaction_id=sale.transaction_id, order_id=sale.order_id,
                     attempt_id=attempt.id if attempt is not None else None,
                     contract_id=contract.id if contract is not None else None,
                     amount_minor=amount.minor, currency=amount.currency, status="returning",
                     reason=reason, message="", created_at=now, updated_at=now)
    db.session.add(row)
    if attempt is not None and attempt.status not in ("succeeded", "returned"):
        attempt.status, attempt.updated_at = "returned", now
        attempt.message = (f"Your payment went through only after {reason}, so it cannot be held in escrow. "
                           "It is being given back to you automatically; we will email you when it is done.")
        for m in milestones:
            if m.hold_attempt_id == attempt.id:
                m.hold_attempt_id = None
    if contract is not None:
        activity.record(contract, "payment_returning", "system",
                        f"Payment of {amount.format()} (ref {sale.transaction_id}) went through after {reason}: "
                        "it is being given back to the client.")
    db.session.flush()  # the unique transaction id: a second reconciler fails here
    return row.id


def give_back(return_id: int, now: datetime | None = None) -> str | None:
    """Void or refund one recorded sale at the gateway; returns the new status, None if still returning.

    Claims the row first (one caller at a time); calls the gateway outside any
    transaction; when it does not answer or refuses, the row stays
    ``returning`` and is retried after a back-off (``next_attempt_at``: by
    the next run, then 2, 4, 8 … minutes apart, up to ``MAX_RETRY_DELAY``).
    """
    now = now or utcnow()
    claimed = db.session.execute(
        db.update(SaleReturn)
        .where(SaleReturn.id == return_id, SaleReturn.status == "returning",
               db.or_(SaleReturn.claimed_at.is_(None), SaleReturn.claimed_at < now - CLAIM_TIMEOUT))
        .values(claimed_at=now)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return None
    row = db.session.get(SaleReturn, return_id)
    transaction_id, amount, order_id = row.transaction_id, row.amount, _refund_order_id(row)
    db.session.rollback()  # no transaction stays open while the gateway is called
    gw = current_gateway()
    try:
        # A void or refund whose answer was lost may have happened: look before doing it again.
        outcome = gw.find_refund(transaction_id, order_id) or gw.refund(transaction_id, amount, order_id=order_id)
    except GatewayUnavailable as exc:
        log.warning("giving back sale %s: gateway unavailable, will retry: %s", transaction_id, exc)
        _unclaim(return_id, now, f"The payment processor did not answer; will retry. ({exc})")
        return None
    except Exception as exc:  # a bug or an SDK surprise: the return stays returning, retried later
        log.exception("giving back sale %s (return %s): unexpected error calling the gateway, will retry",
                      transaction_id, return_id)
        _unclaim(return_id, now, f"Unexpected error calling the payment processor; will retry. ({type(exc).__name__})")
        return None
    if not outcome.ok:
        log.error("giving back sale %s (%s) refused: %s — check it at the payment processor",
                  transaction_id, amount.format(), outcome.message)
        _unclaim(return_id, now, outcome.message)
        return None
    return _record_return(return_id, outcome, now)


def _refund_order_id(row: SaleReturn) -> str:
    """The order id a refund of this sale carries, so a lost answer can be found (``find_refund``)."""
    return f"return-{row.transaction_id}"


def _unclaim(return_id: int, now: datetime, message: str) -> None:
    """The give-back did not happen this time: let go of the row and back off before the next try."""
    db.session.rollback()
    attempts = (db.session.scalar(db.select(SaleReturn.attempts).where(SaleReturn.id == return_id)) or 0) + 1
    # The first retry is the next run's; then 2, 4, 8 … minutes apart.
    delay = timedelta(0) if attempts == 1 else backoff(attempts, timedelta(minutes=1), MAX_RETRY_DELAY)
    db.session.execute(db.update(SaleReturn).where(SaleReturn.id == return_id, SaleReturn.status == "returning")
                       .values(claimed_at=None, message=message[:1000], attempts=attempts,
                               next_attempt_at=now + delay, updated_at=now))
    db.session.commit()


def _record_return(return_id: int, outcome: RefundResult, now: datetime) -> str:
    """The gateway voided or refunded the sale: record it once and tell both sides."""
    contract_id = db.session.scalar(db.select(SaleReturn.contract_id).where(SaleReturn.id == return_id))
    contract = lock_contract(contract_id)[0] if contract_id is not None else None
    row = db.session.scalar(db.select(SaleReturn).where(SaleReturn.id == return_id).with_for_update()
                            .execution_options(populate_existing=True))
    if row.status != "returning":
        db.session.rollback()
        return row.status
    row.status, row.return_transaction_id = outcome.kind, outcome.transaction_id
    row.message, row.claimed_at, row.updated_at = outcome.message, None, now
    done = ("cancelled before it settled: you are not charged" if outcome.kind == "voided"
            else "refunded to the card or PayPal account you paid with (it can take a few days to appear)")
    attempt = db.session.get(PaymentAttempt, row.attempt_id) if row.attempt_id else None
    if attempt is not None and attempt.status == "returned":
        attempt.message = (f"Your payment went through only after {row.reason}, so it could not be held in "
                           f"escrow. It was {done}.")
        attempt.updated_at = now
    if contract is None:
        log.error("gave back sale %s (order %s, %s): %s; no contract to tell", row.transaction_id, row.order_id,
                  row.amount.format(), outcome.kind)
    else:
        _announce_return(contract, row)
    db.session.commit()
    mailer.deliver_pending()
    return row.status


def _announce_return(contract: Contract, row: SaleReturn) -> None:
    what = "voided (cancelled before it settled)" if row.status == "voided" else "refunded"
    activity.record(contract, f"payment_{row.status}", "system",
                    f"Payment of {row.amount.format()} (ref {row.transaction_id}) {what} automatically: "
                    f"it went through after {row.reason}.")
    activity.notify(contract, f"A payment of {row.amount.format()} by {contract.client_name} for "
                              f"“{contract.title}” went through after {row.reason}; it was {what} automatically.")
    verb = "cancelled" if row.status == "voided" else "refunded"
    mailer.queue(contract.client_email, f"Your payment of {row.amount.format()} for {contract.title} was {verb}",
                 "payment_returned", contract=contract, sale=row, to_client=True, link=fresh_client_link(contract))
    mailer.queue(contract.member.email, f"A late payment was {verb} automatically: {contract.title}",
                 "payment_returned", contract=contract, sale=row, to_client=False, link=freelancer_link(contract))


def retry_returns(now: datetime | None = None, failures: list[str] | None = None) -> int:
    """Give back every sale still ``returning`` whose back-off has passed; returns how many now did.

    Each return on its own: one that raises is logged, rolled back and named in
    ``failures`` (raised, after the others ran, when no list is given).
    """
    now = now or utcnow()
    errors: list[str] = [] if failures is None else failures
    rows = db.session.execute(db.select(SaleReturn.id, SaleReturn.transaction_id)
                              .where(SaleReturn.status == "returning",
                                     db.or_(SaleReturn.next_attempt_at.is_(None), SaleReturn.next_attempt_at <= now))
                              .order_by(SaleReturn.id)).all()
    db.session.rollback()
    done = []
    for return_id, transaction_id in rows:
        isolated(errors, f"giving back sale {transaction_id} (return {return_id})",
                          lambda: done.append(give_back(return_id, now)))
    raise_uncollected(failures, errors)
    return sum(1 for status in done if status is not None)


def sweep(now: datetime | None = None, failures: list[str] | None = None) -> dict[str, int]:
    """Look up the attempts due for it (see the module doc); adopt or give back the sales found.

    Returns counts: ``adopted``, ``returned`` (given back by this run: one
    still being given back is counted by the run that completes it), ``waiting`` (the gateway did not answer: the rest wait for the next
    run), ``unmatched`` (the daily audit's sales of no payment of ours). One
    attempt or sale that raises is named in ``failures`` (raised, after the
    others ran, when no list is given).
    """
    now = now or utcnow()
    errors: list[str] = [] if failures is None else failures
    counts = {"adopted": 0, "returned": 0, "waiting": 0, "unmatched": 0}
    for attempt_id in due_for_lookup(now):
        if counts["waiting"]:
            break  # the gateway is not answering: do not call it for every attempt
        isolated(errors, f"late-sale look-up of payment attempt {attempt_id}",
                          lambda: _look_up(attempt_id, now, counts, errors))
    if (now.hour, now.minute) == AUDIT_AT:
        isolated(errors, "the daily audit of sales", lambda: audit(now, counts))
    raise_uncollected(failures, errors)
    return counts


def due_for_lookup(now: datetime) -> list[str]:
    """Attempts whose order id is due to be looked up at ``now``, longest unlooked first, at most SWEEP_BUDGET.

    Given up on within LOOKBACK (a sale for it may land late), or paid within
    DUPLICATE_LOOKBACK (a second sale would be a duplicate charge). One not
    looked up since it was decided (``updated_at`` not after ``decided_at``)
    is due at once; else when it has waited RECHECK_MIN and at least as long
    as its age at the last look (so the look-ups back off: ~10 per attempt).
    A look stamped later than ``now`` (a run with its clock set forward, as
    ``--now`` does) counts as none.
    """
    A = PaymentAttempt
    rows = db.session.execute(
        db.select(A.id, A.decided_at, A.updated_at).where(
            db.or_(db.and_(A.status.in_(GIVEN_UP), A.decided_at >= now - LOOKBACK),
                   db.and_(A.status.in_(("succeeded", "returned")), A.decided_at >= now - DUPLICATE_LOOKBACK)),
            db.or_(A.updated_at <= A.decided_at, A.updated_at <= now - RECHECK_MIN, A.updated_at > now))
        .order_by(A.updated_at, A.id)
    ).all()
    db.session.rollback()
    due = [attempt_id for attempt_id, decided, looked in rows
           if looked <= decided or looked > now or now - looked >= max(RECHECK_MIN, looked - decided)]
    return due[:SWEEP_BUDGET]


def _look_up(attempt_id: str, now: datetime, counts: dict[str, int], failures: list[str]) -> None:
    """Ask the gateway for the attempt's sale; adopt or give back one escrow does not account for."""
    try:
        sale = current_gateway().find_by_order_id(attempt_id)
    except GatewayUnavailable as exc:
        log.warning("late-sale look-up of %s: gateway unavailable, will retry: %s", attempt_id, exc)
        counts["waiting"] += 1
        return
    # Looked at: the next look-up backs off (see due_for_lookup). Never moves the clock back.
    db.session.execute(db.update(PaymentAttempt)
                       .where(PaymentAttempt.id == attempt_id, PaymentAttempt.updated_at < now)
                       .values(updated_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    # The preferred sale: one that captured money wins (the latest of them), so a late success or a
    # duplicate charged after the attempt's own sale shows here.
    if sale is None or sale.status != "succeeded" or not sale.transaction_id:
        return
    isolated(failures, f"late sale {sale.transaction_id} (payment attempt {attempt_id})",
                      lambda: _decide(attempt_id, sale, now, counts))


def _decide(attempt_id: str, sale: ChargeResult, now: datetime, counts: dict[str, int]) -> None:
    status, transaction_id = db.session.execute(
        db.select(PaymentAttempt.status, PaymentAttempt.transaction_id).where(PaymentAttempt.id == attempt_id)).one()
    known = db.session.scalar(db.select(SaleReturn.id).where(SaleReturn.transaction_id == sale.transaction_id))
    db.session.rollback()  # decided below in its own transaction, under its own locks
    if known is not None or status in ("pending", "unknown"):
        return  # already given back; or still being confirmed, and settle() decides
    if status in ("succeeded", "returned") and transaction_id == sale.transaction_id:
        return  # this is the attempt's own sale, accounted for
    if status in GIVEN_UP:
        outcome = adopt_or_return(attempt_id, sale, now)
    else:
        outcome = _return_stray(attempt_id, sale, "the same payment had already been received", now)
    if outcome == "adopted":
        counts["adopted"] += 1
    elif outcome not in (None, "returning"):
        # Given back by this run. One still ``returning`` (the gateway did not answer, or another reconciler
        # claimed it first) is counted by the ``retry_returns`` that completes it, so never twice.
        counts["returned"] += 1


def audit(now: datetime, counts: dict[str, int]) -> None:
    """Log each sale of the last AUDIT_SPAN that has one of our order ids but no attempt: a person must look.

    Every payment of ours is recorded before the gateway is called, so such a
    sale was taken by something else on this merchant account (or the
    database was restored from an older backup): never an automatic refund.
    Sales with other order ids are the merchant account's other business.
    """
    try:
        sales = current_gateway().search_sales(now - AUDIT_SPAN, now)
    except GatewayUnavailable as exc:
        log.warning("daily audit of sales: gateway unavailable, skipped: %s", exc)
        counts["waiting"] += 1
        return
    taken = [s for s in sales if s.status == "succeeded" and s.transaction_id
             and _OUR_ORDER_ID.match(s.order_id or "")]
    ours = set(db.session.scalars(db.select(PaymentAttempt.id).where(
        PaymentAttempt.id.in_({s.order_id for s in taken})))) if taken else set()
    db.session.rollback()
    for sale in taken:
        if sale.order_id not in ours:
            log.error("sale %s (order %s, %s) matches no payment of this shop: left alone, check it by hand",
                      sale.transaction_id, sale.order_id, sale.amount.format() if sale.amount else "?")
            counts["unmatched"] += 1


def adopt_or_return(attempt_id: str, sale: ChargeResult, now: datetime) -> str | None:
    """A sale landed for an attempt given up on: fund its milestones if they can still take it, else give it back.

    Returns "adopted", the return's status ("voided", "refunded",
    "returning"), or None when another reconciler already decided.
    """
    contract, attempt = lock_attempt(attempt_id)
    already = db.session.scalar(db.select(SaleReturn.id).where(SaleReturn.transaction_id == sale.transaction_id))
    if attempt.status not in GIVEN_UP or already is not None:
        db.session.rollback()
        return None
    milestones = list(db.session.scalars(
        db.select(Milestone).where(Milestone.id.in_([i.milestone_id for i in attempt.items]))
        .order_by(Milestone.position).with_for_update()))
    funding.apply_result(attempt, sale, now)
    reason = cannot_take(contract, attempt, milestones, sale)
    if reason is None:
        activity.record(contract, "payment_found", "system",
                        f"Payment {attempt.id} of {attempt.amount.format()}, given up on earlier, went through at "
                        f"the payment processor after all (ref {sale.transaction_id}).")
        funding.record_funding(contract, attempt, milestones, now)
        db.session.commit()
        mailer.deliver_pending()
        log.info("late sale %s adopted for attempt %s", sale.transaction_id, attempt_id)
        return "adopted"
    return_id = start_return(contract, attempt, milestones, sale, reason, now)
    db.session.commit()
    log.warning("late sale %s of attempt %s cannot be taken (%s): giving it back", sale.transaction_id,
                attempt_id, reason)
    return give_back(return_id, now) or "returning"


def _return_stray(attempt_id: str | None, sale: ChargeResult, reason: str, now: datetime) -> str | None:
    """Give back a sale with no attempt, or a second sale of a paid attempt (a duplicate charge)."""
    attempt = db.session.get(PaymentAttempt, attempt_id) if attempt_id else None
    contract = lock_contract(attempt.contract_id)[0] if attempt is not None else None
    if sale.amount is None:
        log.error("sale %s (order %s) is not accounted for and has no amount: check it by hand",
                  sale.transaction_id, sale.order_id)
        db.session.rollback()
        return None
    try:
        return_id = start_return(contract, attempt, [], sale, reason, now)
        db.session.commit()
    except IntegrityError:  # another reconciler recorded it first
        db.session.rollback()
        return None
    log.warning("sale %s (order %s) is not accounted for (%s): giving it back", sale.transaction_id,
                sale.order_id, reason)
    return give_back(return_id, now) or "returning"
