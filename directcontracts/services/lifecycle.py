"""A funded contract's life: request payment, approve and release, changes, refunds, ending.

Every money-moving use case takes row locks (contract, then milestone) so
two processes cannot release or refund one milestone twice, and so the
cumulative fee is computed from a stable "released so far". Repeating a
release is harmless: the second call finds the milestone released and
changes nothing.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from ..domain import ledger as rules
from ..domain.fees import fee_for_release
from ..domain.money import Money
from ..domain.payments import GatewayUnavailable, RefundResult
from ..domain.rules import DELIVERABLE_URL, DELIVERY_NOTE, MILESTONE_CHANGES, REFUND_REASON
from ..domain.states import (
    ESCROW_STATES, SETTLED_STATES, ContractAction, ContractState, MilestoneAction, MilestoneState,
    contract_transition, milestone_transition,
)
from ..extensions import db
from ..models import Contract, Milestone, PaymentAttempt, PaymentItem, Refund, ShopSettings, utcnow
from ..payments import current_gateway
from . import activity, chargebacks, mailer
from . import ledger as ledger_svc
from .errors import InvalidTransition, ServiceError, ValidationFailed, clean_text
from .links import freelancer_link, fresh_client_link
from .locks import lock_contract, lock_refund, lock_without_payment

log = logging.getLogger(__name__)


class ReleaseHeld(InvalidTransition):
    """A release that must wait for a person or the gateway (escrow disagrees, a refund to look up).

    Unlike other refusals it is a failure of an automatic run, never a quiet skip.
    """


class RefundFailed(ServiceError):
    """The gateway refused the refund; nothing changed. The message says why."""


class RefundUncertain(ServiceError):
    """The gateway did not answer; the refund is marked ``unknown`` until reconciled (services.refunds)."""


#: What either side is told about a milestone while its refund is being confirmed.
REFUND_IN_FLIGHT = "A refund of this milestone is being confirmed with the payment processor."


#: What either side is told about a milestone whose refund waits for its payment to settle.
REFUND_QUEUED = "Refund pending: it will be issued when the payment settles (usually within a day)."


#: A refund in these states is waiting for its charge to settle (``queued``), or being made or confirmed:
#: the milestone offers nothing else meanwhile.
REFUND_IN_FLIGHT_STATUSES = ("queued", "pending", "unknown")

#: A charge's gateway statuses from which Braintree makes a partial refund (before them, only a void of
#: the whole sale is possible: a partial refund is queued until the charge gets there).
REFUNDABLE_SETTLEMENTS = ("settling", "settled", "settlement_confirmed")


def refund_order_id(row: Refund) -> str:
    """The order id a refund is made, and later searched, with.

    The row's creation time makes it unique even where SQLite reuses the id
    of a deleted row (a refused refund's) for the next attempt.
    """
    return f"refund-{row.id}-{row.created_at:%Y%m%d%H%M%S%f}"


#: Braintree keeps a transaction's time to the second, and its clock and ours may differ a little: a
#: refund of the sale this much older than a ``Refund`` row may still be that row's.
CREDIT_CLOCK_SLACK = timedelta(seconds=2)
#: Order ids of our other records (a refund's ``refund_order_id``, a give-back's): a gateway refund
#: carrying one belongs to that record and is found by it, never taken for another refund.
_OTHER_RECORDS_ORDER_ID = re.compile(r"refund-\d+-\d{20}|return-.+")
#: The message of a refund found among the sale's refunds rather than by its order id.
FOUND_BY_AMOUNT = "Found among the payment's refunds at the payment processor (it carries no order id of ours)."


@dataclass(frozen=True)
class RefundKey:
    """What the gateway is asked about one refund, read before the call (no transaction stays open across it)."""

    id: int
    sale_id: str
    order_id: str
    amount: Money
    created_at: datetime


def refund_keys(*where) -> list[RefundKey]:
    """The look-up keys of the refunds matching ``where``, oldest first."""
    rows = db.session.execute(
        db.select(Refund, PaymentAttempt.transaction_id, PaymentAttempt.currency)
        .join(PaymentAttempt, PaymentAttempt.id == Refund.attempt_id).where(*where).order_by(Refund.id)).all()
    return [RefundKey(row.id, sale_id, refund_order_id(row), Money(row.amount_minor, currency), row.created_at)
            for row, sale_id, currency in rows]


def find_refund(key: RefundKey) -> RefundResult | None:
    """What the gateway made of this refund: the sale's void, its refund by order id — or, failing those,
    a refund of the sale that carries no order id of ours and that no other refund of ours holds.

    The last is how a refund is found whose order id the gateway did not keep: every refund made by the
    release before refund order ids (a row still ``unknown`` or ``pending`` at the upgrade), or one
    made by hand in the control panel. Among the sale's refunds (``sale_refunds``) one counts if it is
    of this refund's amount, was created at or after the row (to the second, ``CREDIT_CLOCK_SLACK``),
    carries no order id of another record of ours, and is not the transaction of another ``Refund``
    row; the earliest such is taken. Every refund of the sale then backs at most one refund of ours, so
    what the gateway kept of the sale and what the books hold for it still agree.

    Raises GatewayUnavailable. Call with no transaction open; none is left open.
    """
    gw = current_gateway()
    found = gw.find_refund(key.sale_id, key.order_id)
    if found is not None:
        return found
    since = key.created_at.replace(microsecond=0) - CREDIT_CLOCK_SLACK
    candidates = [r for r in gw.sale_refunds(key.sale_id)
                  if r.amount == key.amount and r.created_at is not None and r.created_at >= since
                  and (r.order_id == key.order_id or not _OTHER_RECORDS_ORDER_ID.fullmatch(r.order_id or ""))]
    if not candidates:
        return None
    taken = set(db.session.scalars(db.select(Refund.transaction_id).where(
        Refund.id != key.id, Refund.transaction_id.in_([r.transaction_id for r in candidates]))))
    db.session.rollback()
    free = [r for r in candidates if r.transaction_id not in taken]
    if not free:
        return None
    credit = min(free, key=lambda r: r.created_at)
    log.warning("refund %s: not found by its order id %s, but sale %s has a refund of its amount without one "
                "(%s, order id %r, created %s): taken as this refund", key.id, key.order_id, key.sale_id,
                credit.transaction_id, credit.order_id, credit.created_at)
    return RefundResult(ok=True, kind="refunded", transaction_id=credit.transaction_id, message=FOUND_BY_AMOUNT)


def _landed_late(keys: list[RefundKey]) -> tuple[RefundKey, RefundResult] | None:
    """The first of these refunds declared failed that the gateway made after all, with its answer.

    Asked before a new refund or a release of their milestone. Raises
    GatewayUnavailable when one of them cannot be looked up.
    """
    for key in keys:
        landed = find_refund(key)
        if landed is not None and landed.ok:
            return key, landed
    return None


def _post_if_landed_late(keys: list[RefundKey], what: str, *, refusal: Exception,
                         replacing: int | None = None) -> Milestone | None:
    """Post the first of these failed refunds that landed after all (see ``_landed_late``); None if none did.

    ``what`` names the operation in the log. When the gateway cannot be
    asked, ``refusal`` is raised (and ``replacing``, the pending refund that
    was about to be asked for, is dropped): nothing may move on a doubt.
    """
    db.session.rollback()  # no transaction stays open across the gateway calls
    try:
        found = _landed_late(keys)
    except GatewayUnavailable as exc:
        log.warning("%s: could not look up an earlier refund: %s", what, exc)
        if replacing is not None:
            _drop_pending(replacing)
        raise refusal from None
    if found is None:
        return None
    key, landed = found
    log.warning("%s: earlier refund %s landed late (%s %s); posting it instead", what, key.id, landed.kind,
                landed.transaction_id)
    return post_refund(key.id, landed, reconciled=True, replacing=replacing)


def refund_in_flight(milestone_id: int) -> bool:
    """True while a refund of this milestone is queued, pending or unknown (a finished one changes its state)."""
    return db.session.scalar(db.select(Refund.id).where(
        Refund.milestone_id == milestone_id, Refund.status.in_(REFUND_IN_FLIGHT_STATUSES))) is not None


def refund_queued(milestone_id: int) -> bool:
    """True while a refund of this milestone waits for its payment to settle."""
    return db.session.scalar(db.select(Refund.id).where(
        Refund.milestone_id == milestone_id, Refund.status == "queued")) is not None


def in_flight_message(status: str | None) -> str:
    """What both sides are told about a milestone whose refund is in this state."""
    return REFUND_QUEUED if status == "queued" else REFUND_IN_FLIGHT


@dataclass(frozen=True)
class ReleasePreview:
    gross: Money
    fee: Money
    net: Money


def release_preview(contract: Contract, milestone: Milestone,
                    money: ledger_svc.ContractMoney | None = None) -> ReleasePreview:
    """What releasing this milestone now would pay the freelancer, and its fee (``money``: the contract's
    totals, when the caller has them already)."""
    money = money or ledger_svc.contract_money([contract])[contract.id]
    fee = fee_for_release(milestone.amount, money.released - money.clawed, money.fees, contract.fee_bps)
    return ReleasePreview(gross=milestone.amount, fee=fee, net=milestone.amount - fee)


# ---- freelancer ------------------------------------------------------------

def request_payment(contract: Contract, milestone_id: int, *, note: str, url: str = "",
                    now: datetime | None = None) -> Milestone:
    """The freelancer says the work is done: funded → submitted; the auto-release clock starts."""
    note = clean_text(note, "note", DELIVERY_NOTE)
    url = (url or "").strip()
    if url and not url.startswith(("https://", "http://")):
        raise ValidationFailed({"url": "Enter a link starting with https:// (or leave it empty)."})
    url = clean_text(url, "url", DELIVERABLE_URL)
    now = now or utcnow()
    contract, m = lock_contract(contract.id, milestone_id)
    m.state = milestone_transition(m.state, MilestoneAction.SUBMIT)
    chargebacks.check_not_frozen(m.id)
    if refund_in_flight(m.id):
        raise InvalidTransition(in_flight_message("queued" if refund_queued(m.id) else None))
    days = ShopSettings.get().auto_release_days
    m.submitted_at, m.submit_note, m.deliverable_url = now, note, url
    m.auto_release_at = now + timedelta(days=days)
    activity.record(contract, "payment_requested", "freelancer",
                    f"Requested payment for “{m.title}” ({m.amount.format()}): {note}")
    from . import thread  # (imported here: this function is the thread's, the module another's)
    thread.add(contract, "freelancer", f"Requested payment for “{m.title}”: {note}" + (f" {url}" if url else ""),
               kind="payment_request", milestone=m, told=True)
    mailer.queue(contract.client_email, f"Payment requested: {m.title} — {contract.title}",
                 "payment_requested", contract=contract, milestone=m, link=fresh_client_link(contract),
                 days=days)
    db.session.commit()
    mailer.deliver_pending()
    return m


def _attempt_item(milestone: Milestone) -> tuple[PaymentAttempt, PaymentItem]:
    row = db.session.execute(
        db.select(PaymentAttempt, PaymentItem).join(PaymentItem, PaymentItem.attempt_id == PaymentAttempt.id)
        .where(PaymentItem.milestone_id == milestone.id, PaymentAttempt.status == "succeeded")
    ).first()
    if row is None:
        raise InvalidTransition("This milestone has no payment to refund.")
    return row[0], row[1]


def refund(contract: Contract, milestone_id: int, *, reason: str, amount_minor: int | None = None,
           dispute_id: int | None = None) -> Milestone:
    """Give a funded (not released) milestone's money back to the client's payment method.

    The gateway voids the sale (unsettled, whole sale) or refunds this
    milestone's share, under a stable order id (``refund_order_id``). A
    refusal changes nothing (RefundFailed); no answer leaves the refund
    ``unknown`` until ``services.refunds.reconcile`` finds out what the
    gateway did (RefundUncertain); until then the milestone shows the refund
    being confirmed and refuses every other action.

    An earlier refund of this milestone declared ``failed`` may have landed
    at the gateway after all: each is looked up first (``find_refund``: by
    its order id, else among the sale's refunds without one), and one found
    is posted instead of refunding again. If the gateway cannot be
    asked, nothing is refunded (RefundFailed: try again later).

    ``dispute_id``: the refund carries out that dispute's decision, giving
    back ``amount_minor`` (all, or the client's part of a split); posting it
    posts the whole decision (``disputes.finish_with_refund``).

    A partial refund of a charge that has not settled (the gateway can only
    void a sale whole until then) is *queued* instead: nothing is asked of
    the gateway, the milestone shows the refund pending and offers nothing
    else, and ``issue_queued`` makes it once the charge settles
    (``services.settlements``). The gateway is asked first whether the charge
    settled meanwhile; if it cannot be asked, the refund is queued too.
    """
    reason = clean_text(reason, "reason", REFUND_REASON)
    contract, m = lock_contract(contract.id, milestone_id)
    chargebacks.check_not_frozen(m.id)
    attempt, item = _attempt_item(m)
    amount_minor = item.amount_minor if dispute_id is None else amount_minor
    milestone_transition(m.state, _refund_action(dispute_id, amount_minor, m))
    if refund_queued(m.id):
        raise InvalidTransition(REFUND_QUEUED)
    # Only a whole sale can be cancelled before it settles: a part of one waits for the settlement.
    may_wait = amount_minor != attempt.amount_minor and attempt.settlement not in REFUNDABLE_SETTLEMENTS
    row = Refund(milestone_id=m.id, attempt_id=attempt.id, amount_minor=amount_minor, reason=reason,
                 dispute_id=dispute_id)
    db.session.add(row)
    try:
        db.session.commit()  # the unique milestone id makes a second refund impossible
    except IntegrityError:
        db.session.rollback()
        raise InvalidTransition("A refund of this milestone is already in progress or done.") from None
    refund_id, transaction_id, order_id = row.id, attempt.transaction_id, refund_order_id(row)
    amount = Money(amount_minor, contract.currency)
    contract_id, milestone_id, title, attempt_id = contract.id, m.id, m.title, attempt.id
    earlier = refund_keys(Refund.milestone_id == milestone_id, Refund.status == "failed")
    posted = _post_if_landed_late(
        earlier, f"refund {refund_id} of milestone {milestone_id}", replacing=refund_id,
        refusal=RefundFailed("An earlier refund of this milestone was not confirmed by the payment processor, "
                             "and the processor cannot be asked about it right now. Nothing was refunded, "
                             "so the client cannot be refunded twice: try again in a few minutes."))
    if posted is not None:
        return posted
    if may_wait and _unsettled(attempt_id, transaction_id):
        return _queue(refund_id)
    return _ask_gateway(refund_id, transaction_id, amount, order_id, attempt_id, contract_id, milestone_id, title)


#: A charge's gateway statuses before settlement: a partial refund of it waits (is queued).
UNSETTLED = ("authorizing", "authorized", "submitted_for_settlement", "settlement_pending")


def _unsettled(attempt_id: str, transaction_id: str) -> bool:
    """Ask the gateway whether this charge is still on its way to settlement; record what it says.

    True also when the gateway cannot be asked (the refund then waits: nothing moves on a doubt).
    Any other status (settled, or one the gateway will explain when refused) lets the refund be asked for.
    """
    db.session.rollback()  # no transaction stays open across the gateway call
    try:
        status = current_gateway().transaction_status(transaction_id)
    except GatewayUnavailable as exc:
        log.warning("attempt %s: could not look its settlement up: %s", attempt_id, exc)
        return True
    record_settlement(attempt_id, status)
    return status in UNSETTLED


def record_settlement(attempt_id: str, status: str | None, now: datetime | None = None) -> None:
    """Keep the gateway's status of a charge on its attempt (committed); None (not found) changes nothing."""
    values = {"settlement_checked_at": now or utcnow()}
    if status:
        values["settlement"] = status[:30]
    db.session.execute(db.update(PaymentAttempt).where(PaymentAttempt.id == attempt_id).values(**values)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _queue(refund_id: int) -> Milestone:
    """The charge has not settled: the refund waits for it (``queued``), nothing asked of the gateway."""
    contract, m, row = lock_refund(refund_id)
    if row is None or row.status != "pending":
        db.session.rollback()
        return m
    row.status = "queued"
    amount = Money(row.amount_minor, contract.currency)
    activity.record(contract, "refund_queued", "system",
                    f"Refund of “{m.title}” ({amount.format()}) queued: the client's payment has not settled "
                    f"yet, so it can only be cancelled whole. The refund is issued automatically when the payment "
                    f"settles (usually within a day). Reason: {row.reason}")
    db.session.commit()
    return m


def issue_queued(refund_id: int) -> Milestone | None:
    """Make a queued refund now that its charge settled, exactly as ``refund`` makes one.

    Returns None if it is no longer queued (issued by a parallel run). Raises
    nothing when the gateway refuses (the refund is then ``failed`` and both
    sides are told) or does not answer (``unknown``, reconciled later).
    """
    db.session.rollback()
    contract, m, row = lock_refund(refund_id)
    if row is None or row.status != "queued" or m.id in chargebacks.frozen_milestones(contract):
        db.session.rollback()  # (a chargeback's freeze: issued once it lifts)
        return None
    if m.state not in ESCROW_STATES:  # its money left escrow another way (a lost chargeback): nothing to refund
        chargebacks.drop_queued(contract, m, now=utcnow())
        db.session.commit()
        return None
    attempt = db.session.get(PaymentAttempt, row.attempt_id)
    now = utcnow()
    if m.state == MilestoneState.SUBMITTED and m.auto_release_at is not None:
        # The clock stood still while the refund waited: should the refund not be made, it resumes
        # with the time that was left.
        m.auto_release_at += max(now - row.created_at, timedelta(0))
    # Pending from now: reconciliation counts its grace from the moment the gateway is asked.
    row.status, row.created_at = "pending", now
    db.session.flush()
    args = (row.id, attempt.transaction_id, Money(row.amount_minor, contract.currency), refund_order_id(row),
            attempt.id, contract.id, m.id, m.title)
    db.session.commit()
    return _ask_gateway(*args, queued=True)


def _ask_gateway(refund_id: int, transaction_id: str, amount: Money, order_id: str, attempt_id: str,
                 contract_id: int, milestone_id: int, title: str, *, queued: bool = False) -> Milestone:
    """Call the gateway for a ``pending`` refund and record its answer (see ``refund``).

    ``queued``: a refund issued after waiting for its charge to settle; a refusal then marks it failed
    (both sides told) rather than refusing a person's request.
    """
    gw = current_gateway()
    try:
        result = gw.refund(transaction_id, amount, order_id=order_id)
    except Exception as exc:  # no answer (or an SDK surprise): the refund may or may not have been made
        if isinstance(exc, GatewayUnavailable):
            log.warning("refund %s of attempt %s: gateway unavailable: %s", refund_id, attempt_id, exc)
        else:
            log.exception("refund %s of attempt %s: unexpected error calling the gateway", refund_id, attempt_id)
        db.session.rollback()
        # Only a refund still pending becomes unknown: a call that outlived STALE_PENDING may find it
        # already posted (or failed) by reconciliation, and that answer must stand.
        marked = db.session.execute(
            db.update(Refund).where(Refund.id == refund_id, Refund.status == "pending").values(status="unknown")
            .execution_options(synchronize_session=False)).rowcount
        if marked != 1:
            db.session.rollback()
            db.session.expire_all()
            settled = db.session.get(Refund, refund_id)
            if settled is not None and settled.status == "succeeded":
                return db.session.get(Milestone, milestone_id)
            raise RefundUncertain("We could not confirm the refund with the payment processor. It is checked "
                                  "with the processor, and you will be notified of the outcome.") from None
        activity.record(db.session.get(Contract, contract_id), "refund_unknown", "system",
                        f"Refund of “{title}” could not be confirmed yet; it is being checked with the "
                        f"payment processor (order {order_id}).")
        db.session.commit()
        raise RefundUncertain("We could not confirm the refund with the payment processor. Nothing is "
                              "shown as refunded yet: it is checked with the processor within minutes, "
                              "and you will be notified of the outcome.") from None
    if not result.ok:
        log.info("refund %s of attempt %s refused: %s", refund_id, attempt_id, result.message)
        if queued:
            from .refunds import refused  # refunds builds on this module
            refused(refund_id, result.message or "The payment processor refused the refund.")
            return db.session.get(Milestone, milestone_id)
        _drop_pending(refund_id)
        raise RefundFailed(result.message or "The payment processor refused the refund.")
    return post_refund(refund_id, result, queued=queued)


def _refund_action(dispute_id: int | None, amount_minor: int, m: Milestone) -> MilestoneAction:
    """A plain refund, or a dispute's decision: all back to the client, or a split."""
    if dispute_id is None:
        return MilestoneAction.REFUND
    return MilestoneAction.RESOLVE_REFUND if amount_minor == m.amount_minor else MilestoneAction.RESOLVE_SPLIT


def _drop_pending(refund_id: int) -> None:
    """Remove a refund that certainly was not made (refused, or never asked for) — if it is still pending."""
    db.session.rollback()
    db.session.execute(db.delete(Refund).where(Refund.id == refund_id, Refund.status == "pending")
                       .execution_options(synchronize_session=False))
    db.session.commit()


def post_refund(refund_id: int, result: RefundResult, *, reconciled: bool = False,
                replacing: int | None = None, queued: bool = False) -> Milestone:
    """Record a refund the gateway made: milestone refunded, refund journal, client emailed.

    Idempotent under the row locks: a refund already posted is left alone.
    ``reconciled``: found later by reconciliation (the timeline says so and the
    freelancer, who was told it was being checked, is notified).

    A ``failed`` refund found at the gateway after all (it landed late) is
    posted the same way, and both sides are told it went through after all —
    unless the milestone was refunded by another refund or released
    meanwhile: then the books cannot take it; the row keeps what the gateway
    made, the member is told, and ``ledger.check`` reports it for a person.
    ``replacing``: a pending refund of the same milestone, not yet asked of
    the gateway, that this one makes unnecessary (it is removed).
    ``queued``: a refund that waited for its payment to settle (both sides are emailed).
    """
    contract, m, row = lock_refund(refund_id)
    if row.status == "succeeded":
        db.session.rollback()
        return m
    if replacing is not None:
        db.session.execute(db.delete(Refund).where(Refund.id == replacing, Refund.status == "pending")
                           .execution_options(synchronize_session=False))
    late = row.status == "failed"
    if late and not _can_post_late(contract, m, row, result):
        db.session.commit()
        mailer.deliver_pending()
        return m
    if result.kind == "refunded" and db.session.scalar(db.select(Refund.id).where(
            Refund.id != refund_id, Refund.transaction_id == result.transaction_id)) is not None:
        # One refund at the gateway backs one refund of ours: another took this one meanwhile (two
        # processes matching one refund without an order id). Nothing is posted; the next look-up decides.
        log.error("refund %s: gateway refund %s is already another refund's; not posted", refund_id,
                  result.transaction_id)
        db.session.commit()  # the replaced pending row goes: nothing was asked of the gateway for it
        raise InvalidTransition("The payment processor's refund was matched to another refund meanwhile; "
                                "nothing was changed. Try again in a minute.")
    row.status, row.kind, row.transaction_id, row.message = "succeeded", result.kind, result.transaction_id, result.message
    row.next_check_at = None
    m.state = milestone_transition(m.state, _refund_action(row.dispute_id, row.amount_minor, m))
    m.settled_at, m.auto_release_at = utcnow(), None
    amount = Money(row.amount_minor, contract.currency)
    ledger_svc.post("refund", contract, rules.refund(m.id, row.amount_minor),
                    memo=f"{result.kind} {result.transaction_id}")
    if row.dispute_id is not None:
        from .disputes import finish_with_refund  # disputes builds on this module
        finish_with_refund(contract, m, row, result.transaction_id)
    elif late:
        _tell_landed_late(contract, m, row, amount, result)
    else:
        _tell_refunded(contract, m, row, amount, result, reconciled, queued)
    maybe_complete(contract)
    db.session.commit()
    mailer.deliver_pending()
    return m


def _tell_landed_late(contract: Contract, m: Milestone, row: Refund, amount: Money, result: RefundResult) -> None:
    """A refund reported as not made went through after all: the timeline, the member, both sides by email."""
    activity.record(contract, "refunded", "system",
                    f"The refund of “{m.title}” reported as not made went through at the payment processor "
                    f"after all: {amount.format()} back to the client ({result.kind}, ref "
                    f"{result.transaction_id}). It is not refunded again. Reason: {row.reason}")
    activity.notify(contract, f"The refund of {activity.milestones_of(contract, m.title)} went through after all: "
                              f"{amount.format()} is back with the client.")
    email_both(contract, f"Refund went through after all: {amount.format()} for {m.title} — {contract.title}",
               "refund_late", milestone=m, amount=amount, reason=row.reason, ref=result.transaction_id)


def email_both(contract: Contract, subject: str, template: str, **context) -> None:
    """The same news to the freelancer (``for_member``, their page's link) and the client (a fresh link)."""
    for to, for_member, link in ((contract.member.email, True, freelancer_link(contract)),
                                 (contract.client_email, False, fresh_client_link(contract))):
        mailer.queue(to, subject, template, contract=contract, for_member=for_member, link=link, **context)


def _tell_refunded(contract: Contract, m: Milestone, row: Refund, amount: Money, result: RefundResult,
                   reconciled: bool, queued: bool = False) -> None:
    """A refund made (confirmed now, or found by reconciliation): the timeline, the client by email.

    A queued refund, issued once the payment settled: both sides by email.
    """
    if queued:
        activity.record(contract, "refunded", "system",
                        f"The payment settled and the pending refund of “{m.title}” was issued: {amount.format()} "
                        f"back to the client ({result.kind}, ref {result.transaction_id}). Reason: {row.reason}")
        activity.notify(contract, f"The pending refund of {activity.milestones_of(contract, m.title)} was issued: "
                                  f"{amount.format()} is back with the client.")
        mailer.queue(contract.member.email, f"Refund issued: {amount.format()} for {m.title} — {contract.title}",
                     "refunded", contract=contract, milestone=m, amount=amount, reason=row.reason,
                     for_member=True, link=freelancer_link(contract))
    elif reconciled:
        activity.record(contract, "refunded", "system",
                        f"The payment processor confirmed the refund of “{m.title}”: {amount.format()} back to "
                        f"the client ({result.kind}, ref {result.transaction_id}). Reason: {row.reason}")
        activity.notify(contract, f"The refund of {activity.milestones_of(contract, m.title)} went through: "
                                  f"{amount.format()} is back with the client.")
    else:
        activity.record(contract, "refunded", "freelancer",
                        f"Refunded “{m.title}”: {amount.format()} back to the client ({result.kind}). "
                        f"Reason: {row.reason}")
    mailer.queue(contract.client_email, f"Refund: {amount.format()} for {m.title} — {contract.title}",
                 "refunded", contract=contract, milestone=m, amount=amount, reason=row.reason,
                 link=fresh_client_link(contract))


def _can_post_late(contract: Contract, m: Milestone, row: Refund, result: RefundResult) -> bool:
    """May a ``failed`` refund found at the gateway be posted now? If not, record why on the row.

    Call under the contract and milestone locks.
    """
    other = db.session.scalar(db.select(Refund).where(
        Refund.milestone_id == m.id, Refund.id != row.id, Refund.status != "failed"))
    if other is not None and other.status in REFUND_IN_FLIGHT_STATUSES:
        return False  # another refund is being confirmed: decide once it is (reconciliation looks again)
    if other is None and m.state in (MilestoneState.FUNDED, MilestoneState.SUBMITTED) and row.dispute_id is None:
        return True
    if other is None and m.state == MilestoneState.DISPUTED and row.dispute_id is not None:
        from ..models import Dispute
        dispute = db.session.get(Dispute, row.dispute_id)
        if dispute.status == "open" and dispute.refund_minor == row.amount_minor:
            return True  # the decision it carried out still stands (decided again the same way)
    row.next_check_at = None  # nothing more to learn at the gateway
    if other is not None and (other.kind, other.transaction_id) == (result.kind, result.transaction_id):
        row.message = f"The same {result.kind} as refund {other.id}: nothing more was given back."
        return False
    amount = Money(row.amount_minor, contract.currency)
    row.kind, row.transaction_id = result.kind, result.transaction_id
    row.message = (f"Made at the payment processor ({result.kind}, ref {result.transaction_id}) after it was "
                   f"reported as not made, when “{m.title}” was already {m.state}: {amount.format()} went back "
                   f"to the client outside the books.")
    log.error("refund %s of milestone %s landed late (%s %s) after the milestone was %s: the gateway and the "
              "books disagree by %s, check it in Braintree", row.id, m.id, result.kind, result.transaction_id,
              m.state, amount.format())
    activity.record(contract, "refund_landed_late", "system",
                    f"The refund of “{m.title}” ({amount.format()}) reported as not made went through at the "
                    f"payment processor after all (ref {result.transaction_id}), but “{m.title}” was already "
                    f"{m.state}: the client got {amount.format()} back on top. Check it in Braintree.")
    activity.notify(contract, f"A refund of {activity.milestones_of(contract, m.title)} went through late, after the "
                              f"milestone was {m.state}: {amount.format()} went back to the client on top. "
                              f"Check it in Braintree.")
    return False


def end(contract: Contract) -> Contract:
    """End an active contract early: pending milestones are cancelled; refused while money is held."""
    contract = lock_without_payment(contract.id)
    contract_transition(contract.state, ContractAction.END)
    leaving = set(db.session.scalars(db.select(Refund.milestone_id).join(Milestone).where(
        Milestone.contract_id == contract.id, Refund.status == "queued")))
    held = [m for m in contract.milestones if m.state in ESCROW_STATES and m.id not in leaving]
    if held:
        names = ", ".join(f"“{m.title}”" for m in held)
        raise InvalidTransition(f"Money is still in escrow for {names}. Release or refund it first.")
    for m in contract.milestones:
        if m.state == MilestoneState.PENDING:
            m.state = milestone_transition(m.state, MilestoneAction.CANCEL)
    if leaving:
        # The queued refunds' money is still in escrow until the payment settles: the contract stays
        # active and completes by itself when the last of them is issued (maybe_complete).
        names = ", ".join(f"“{m.title}”" for m in contract.milestones if m.id in leaving)
        activity.record(contract, "ending", "freelancer",
                        f"Ending the contract: unfunded milestones cancelled. The pending refund of {names} is "
                        f"issued when the payment settles; the contract is then completed.")
        db.session.commit()
        mailer.deliver_pending()
        return contract
    contract.state = contract_transition(contract.state, ContractAction.END)
    activity.record(contract, "ended", "freelancer", "Contract ended; unfunded milestones cancelled.")
    mailer.queue(contract.client_email, f"Contract ended: {contract.title}", "ended", contract=contract,
                 link=fresh_client_link(contract))
    db.session.commit()
    mailer.deliver_pending()
    return contract


def maybe_complete(contract: Contract) -> None:
    """An active contract whose milestones are all settled completes by itself."""
    if contract.state != ContractState.ACTIVE:
        return
    if contract.milestones and all(m.state in SETTLED_STATES for m in contract.milestones):
        contract.state = contract_transition(contract.state, ContractAction.COMPLETE)
        activity.record(contract, "completed", "system", "Every milestone is settled: the contract is completed.")
        mailer.queue(contract.member.email, f"Completed: {contract.title}", "completed", contract=contract,
                     link=freelancer_link(contract))


# ---- client (and the system's auto-release) --------------------------------

def _no_late_refund(milestone_id: int, now: datetime) -> None:
    """Before a release, ask the gateway about this milestone's refunds declared failed lately.

    One may have landed after all (a slow gateway): it is posted, and the
    release refused, instead of paying the freelancer money the client got
    back. If the gateway cannot be asked, nothing is released for now.
    """
    from .refunds import RECHECK_FAILED  # refunds builds on this module

    rows = refund_keys(Refund.milestone_id == milestone_id, Refund.status == "failed",
                       Refund.failed_at >= now - RECHECK_FAILED)
    posted = _post_if_landed_late(
        rows, f"release of milestone {milestone_id}",
        refusal=ReleaseHeld("An earlier refund of this milestone was not confirmed by the payment processor, "
                            "which cannot be asked about it right now. Nothing was released: try again in "
                            "a few minutes."))
    if posted is not None:
        raise InvalidTransition("This milestone's money went back to the client after all (an earlier refund "
                                "was confirmed late by the payment processor), so nothing was released.")


def approve(contract: Contract, milestone_id: int, *, automatic: bool = False,
            now: datetime | None = None) -> Milestone:
    """Release a submitted milestone at once: escrow → freelancer (net) and → fees.

    Idempotent: a milestone already released is returned unchanged.
    """
    now = now or utcnow()
    _no_late_refund(milestone_id, now)
    contract, m = lock_contract(contract.id, milestone_id)
    if m.state == MilestoneState.RELEASED:
        db.session.rollback()
        return m
    action = MilestoneAction.AUTO_RELEASE if automatic else MilestoneAction.APPROVE
    new_state = milestone_transition(m.state, action)
    chargebacks.check_not_frozen(m.id)
    if refund_in_flight(m.id):
        raise InvalidTransition(in_flight_message("queued" if refund_queued(m.id) else None))
    held = ledger_svc.milestone_money([contract.id]).get(m.id, ledger_svc.MilestoneMoney()).held
    if held != m.amount_minor:
        # The books and the milestone disagree (a bug or a hand edit): release nothing, say so.
        log.error("release of milestone %s refused: escrow holds %s, the milestone says %s", m.id, held,
                  m.amount_minor)
        raise ReleaseHeld(f"The escrow for “{m.title}” does not match its amount; nothing was released. "
                          f"The shop owner has to check it.")
    preview = release_preview(contract, m)
    ledger_svc.post("release", contract, rules.release(m.id, preview.gross.minor, preview.fee.minor),
                    memo="automatic" if automatic else "approved by the client")
    m.state, m.settled_at, m.auto_release_at = new_state, now, None
    how = "Released automatically (no answer to the payment request)" if automatic else "Approved and released"
    activity.record(contract, "auto_released" if automatic else "released", "system" if automatic else "client",
                    f"{how}: “{m.title}” {preview.gross.format()}; fee {preview.fee.format()}, "
                    f"freelancer receives {preview.net.format()}.")
    activity.notify(contract, f"{activity.milestones_of(contract, m.title)} was released: you receive "
                              f"{preview.net.format()} ({preview.fee.format()} fee).")
    mailer.queue(contract.member.email, f"Released: {preview.net.format()} for {m.title} — {contract.title}",
                 "released", contract=contract, milestone=m, preview=preview, automatic=automatic,
                 link=freelancer_link(contract))
    mailer.queue(contract.client_email, f"Receipt: {m.title} released — {contract.title}",
                 "release_receipt", contract=contract, milestone=m, automatic=automatic,
                 link=fresh_client_link(contract))
    maybe_complete(contract)
    db.session.commit()
    mailer.deliver_pending()
    return m


def client_request_changes(contract: Contract, milestone_id: int, *, message: str) -> Milestone:
    """The client is not satisfied yet: submitted → funded; the auto-release clock stops."""
    message = clean_text(message, "message", MILESTONE_CHANGES)
    contract, m = lock_contract(contract.id, milestone_id)
    m.state = milestone_transition(m.state, MilestoneAction.REQUEST_CHANGES)
    if refund_in_flight(m.id):
        raise InvalidTransition(in_flight_message("queued" if refund_queued(m.id) else None))
    m.auto_release_at = None
    activity.record(contract, "milestone_changes_requested", "client",
                    f"Asked for changes on “{m.title}”: {message}")
    activity.notify(contract, f"{contract.client_name} asked for changes on “{m.title}”.")
    from . import thread  # (imported here: this function is the thread's, the module another's)
    thread.add(contract, "client", message, kind="milestone_changes", milestone=m, told=True)
    mailer.queue(contract.member.email, f"Changes requested: {m.title} — {contract.title}",
                 "milestone_changes", contract=contract, milestone=m, message=message,
                 link=freelancer_link(contract))
    db.session.commit()
    mailer.deliver_pending()
    return m
