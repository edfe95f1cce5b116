"""Funding escrow: the payment step that never hangs, never double-charges, never loses money.

1. A ``PaymentAttempt`` (idempotency key unique, amount from the server) is
   committed, and the milestones are *held* for it with one conditional
   UPDATE, before the gateway is called. A repeated submit with the same key
   finds the attempt and returns it; a different attempt for a held
   milestone is refused.
2. The gateway is called outside any transaction, with timeouts.
3. The outcome is recorded under a row lock: a success marks the milestones
   funded and posts exactly one balanced funding journal in the same
   transaction; a timeout leaves the attempt ``unknown`` (milestones stay
   held) until ``reconcile`` looks the order up at the gateway.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from ..domain import ledger as rules
from ..domain.rules import MAX_ID, is_number
from ..domain.payments import ChargeResult, GatewayNotReached, GatewayUnavailable
from ..domain.quotes import Quote
from ..domain.quotes import changes as quote_changes
from ..domain.states import ContractAction, ContractState, MilestoneAction, MilestoneState, \
    contract_transition, milestone_transition
from ..extensions import db
from ..models import Contract, Milestone, PaymentAttempt, PaymentItem, utcnow
from ..payments import current_gateway
from . import activity, mailer, memo, presence
from . import ledger as ledger_svc
from .client_actions import acceptance_of_current, sign
from .isolation import isolated, raise_uncollected
from .errors import InvalidTransition, NotFound, PageOutdated, ValidationFailed
from .links import freelancer_link, fresh_client_link
from .locks import lock_attempt, lock_contract

log = logging.getLogger(__name__)

#: ``returned``: charged, but the contract could not take it; given back (see late_sales).
FINAL = frozenset({"succeeded", "declined", "rejected", "failed", "returned"})
#: A ``pending`` attempt older than this lost its process mid-call: reconcile it.
STALE_PENDING = timedelta(minutes=2)
#: A payment still unknown this long because the gateway does not answer is reported as a failure
#: of the run (its exit status alerts cron's mail), while it goes on being retried.
ALERT_AFTER = timedelta(hours=1)
#: Give the gateway this long to show a sale before deciding it never happened.
NOT_FOUND_GRACE = timedelta(minutes=10)

#: Why a contract takes no payment, told to a client who submits a fund form anyway.
NOT_FUNDABLE = {
    ContractState.DRAFT: "The freelancer is revising this proposal. You will get the new version by email; "
                         "nothing was charged.",
    ContractState.CHANGES_REQUESTED: "You asked for changes: the freelancer will send a revised proposal. "
                                     "Nothing was charged.",
    ContractState.DECLINED: "You declined this proposal, so it cannot be funded. Nothing was charged.",
    ContractState.ENDED: "This contract has ended. Nothing was charged.",
    ContractState.COMPLETED: "This contract is completed: there is nothing left to fund. Nothing was charged.",
}

UNKNOWN_MESSAGE = ("We could not confirm your payment yet. You have not been charged twice. "
                   "We will check with the payment processor and email you as soon as it is settled; "
                   "there is no need to pay again.")
#: The gateway could not be reached at all: the payment was never sent.
NOT_REACHED_MESSAGE = ("We could not reach the payment processor, so your payment was not sent and you have not "
                       "been charged. Please try again in a minute.")


def new_key() -> str:
    """An idempotency key for a funding form (one per rendered form)."""
    return uuid.uuid4().hex


def takes_payment(contract: Contract) -> bool:
    """Whether the contract can be funded at all now (sent, or active)."""
    return contract.state in (ContractState.SENT, ContractState.ACTIVE)


def fundable(contract: Contract) -> list[Milestone]:
    """Pending milestones with no charge in flight, in order."""
    return [m for m in contract.milestones if m.state == MilestoneState.PENDING and not m.hold_attempt_id]


@memo.per_request
def in_flight(contract: Contract) -> list[PaymentAttempt]:
    """Attempts of this contract whose outcome is not known yet."""
    if presence.none(contract, "paying"):
        return []
    return list(db.session.scalars(
        db.select(PaymentAttempt).where(PaymentAttempt.contract_id == contract.id,
                                        PaymentAttempt.status.in_(("pending", "unknown")))
    ))


def choose(contract: Contract, choice: str) -> list[Milestone]:
    """The milestones a funding choice covers: "first", "all", or "m<id>"."""
    available = fundable(contract)
    if choice == "all":
        return available
    if choice == "first":
        return available[:1]
    if choice.startswith("m") and is_number(choice[1:]) and int(choice[1:]) <= MAX_ID:
        wanted = int(choice[1:])
        return [m for m in available if m.id == wanted]
    return []


def quote_of(contract: Contract, milestones: list[Milestone]) -> Quote:
    """The quote for paying these milestones now: what the fund form shows and carries back."""
    return Quote(contract.revision, tuple((m.id, m.amount_minor) for m in milestones), contract.currency)


def quotes(contract: Contract) -> dict[str, Quote]:
    """Every funding choice the fund page offers, with its quote."""
    available = fundable(contract)
    if not available:
        return {}
    offered = {"first": available[:1], "all": available}
    offered |= {f"m{m.id}": [m] for m in available[1:]}
    return {choice: quote_of(contract, ms) for choice, ms in offered.items()}


def attempt_for(contract: Contract, attempt_id: str) -> PaymentAttempt:
    attempt = db.session.get(PaymentAttempt, attempt_id)
    if attempt is None or attempt.contract_id != contract.id:
        raise NotFound("No such payment.")
    return attempt


def fund(contract: Contract, *, key: str, choice: str, shown: str, nonce: str,
         signature: dict | None = None) -> PaymentAttempt:
    """Charge the client for the chosen milestones, exactly as quoted on their page; returns the attempt.

    ``shown`` is the quote the page showed for ``choice`` (:class:`Quote`
    encoded): the charge happens only when it equals the current one, and the
    amount comes from the server. ``signature`` (signer_name, agreed, ip,
    user_agent) signs the revision the client read, in the same transaction
    that starts the payment, while the contract is still ``sent``.
    Raises PageOutdated (the contract changed since the page was shown),
    ValidationFailed (no signature, method or choice), InvalidTransition (not
    signed, nothing to fund, a charge already in flight).
    """
    key = (key or "").strip()[:64]
    if not key:
        raise ValidationFailed({"payment": "This form has expired. Reload the page and try again."})
    if (existing := _replay(contract, key)) is not None:
        return existing
    # Lock the contract row: revising, withdrawing, replying and milestone edits wait for the hold
    # below. A concurrent submit of the same form may have committed its attempt while we waited.
    contract, _ = lock_contract(contract.id)
    if (existing := _replay(contract, key)) is not None:
        db.session.rollback()
        return existing
    if not takes_payment(contract):
        raise InvalidTransition(NOT_FUNDABLE.get(contract.state, "This contract cannot be funded now."))
    if in_flight(contract):
        # One payment at a time per contract: a client retrying after a timeout
        # must never pay for the same work twice, nor for the next milestone by mistake.
        raise InvalidTransition("A payment for this contract is still being confirmed. "
                                "You have not been charged twice; we will email you.")
    milestones, seen = choose(contract, choice or ""), Quote.decode(shown)
    if not milestones and seen is None:
        raise ValidationFailed({"choice": "Choose what to fund."})
    current = quote_of(contract, milestones)
    if seen != current:
        db.session.rollback()
        raise PageOutdated(quote_changes(seen, current, {m.id: m.title for m in contract.milestones}))
    if not (nonce or "").strip():  # before signing: a refused form must not look signed
        raise ValidationFailed({"payment": "Choose a payment method."})
    if contract.state == ContractState.SENT and acceptance_of_current(contract) is None:
        if signature is None:
            raise InvalidTransition("Sign the contract before funding it.")
        sign(contract, revision=seen.revision, **signature)
    gw = current_gateway()
    attempt = PaymentAttempt(
        id=str(uuid.uuid4()), idempotency_key=key, contract_id=contract.id,
        amount_minor=current.total.minor, currency=contract.currency,
        status="pending", gateway=gw.name,
        items=[PaymentItem(milestone_id=m.id, amount_minor=m.amount_minor) for m in milestones],
    )
    db.session.add(attempt)
    try:
        db.session.flush()  # a concurrent submit with the same key fails here
        _hold(attempt, current)
        activity.record(contract, "payment_started", "client",
                        f"Payment of {attempt.amount.format()} started (attempt {attempt.id}).")
        # Read before the commit: reading after it would open a transaction that stays idle
        # through the gateway call.
        attempt_id, amount = attempt.id, attempt.amount
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if (existing := _replay(contract, key)) is not None:
            return existing
        if signature is not None and acceptance_of_current(contract) is not None:
            # Another submit signed this revision first (one signature per revision): fund under it.
            return fund(contract, key=key, choice=choice, shown=shown, nonce=nonce, signature=None)
        raise
    try:
        result = gw.charge(order_id=attempt_id, amount=amount, nonce=nonce.strip())
    except GatewayNotReached as exc:
        # Nothing was sent, so nothing was charged: fail now and let the client try again, rather
        # than hold the milestones for reconciliation's grace period.
        log.warning("payment attempt %s: gateway not reached, nothing charged: %s", attempt_id, exc)
        return settle(attempt_id, ChargeResult(status="failed", order_id=attempt_id, amount=amount,
                                               message=NOT_REACHED_MESSAGE))
    except GatewayUnavailable as exc:
        log.warning("payment attempt %s: gateway unavailable, outcome unknown: %s", attempt_id, exc)
        return mark_unknown(attempt_id, str(exc))
    except Exception:  # a bug or an SDK surprise: never leave the client spinning
        log.exception("payment attempt %s: unexpected error calling the gateway", attempt_id)
        return mark_unknown(attempt_id, "unexpected error")
    if result.status != "succeeded":
        log.info("payment attempt %s: %s (%s) %s", attempt_id, result.status, result.processor_code,
                 result.message)
    return settle(attempt_id, result)


def _hold(attempt: PaymentAttempt, quote: Quote) -> None:
    """Hold the quoted milestones for this attempt with one conditional UPDATE.

    The UPDATE re-checks the rows themselves (still pending, not held, and —
    summed — still the quoted amount), so even a database without row locks
    never holds a milestone whose amount changed after the quote was checked.
    """
    ids = [mid for mid, _ in quote.items]
    held = db.session.execute(
        db.update(Milestone)
        .where(Milestone.id.in_(ids), Milestone.state == MilestoneState.PENDING,
               Milestone.hold_attempt_id.is_(None))
        .values(hold_attempt_id=attempt.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if held != len(ids):
        db.session.rollback()
        raise InvalidTransition("A payment for this milestone is already being processed. "
                                "Reload the page to see its status.")
    total = db.session.scalar(db.select(db.func.sum(Milestone.amount_minor))
                              .where(Milestone.hold_attempt_id == attempt.id))
    if total != quote.total.minor:
        db.session.rollback()
        raise PageOutdated(["An amount changed while you were paying."])


def _replay(contract: Contract, key: str) -> PaymentAttempt | None:
    """The attempt this idempotency key already started, if any (NotFound if another contract's)."""
    existing = db.session.scalar(db.select(PaymentAttempt).where(PaymentAttempt.idempotency_key == key)
                                 .execution_options(populate_existing=True))
    if existing is not None and existing.contract_id != contract.id:
        raise NotFound("No such payment.")
    return existing


def mark_unknown(attempt_id: str, reason: str) -> PaymentAttempt:
    """The gateway did not answer: keep the milestones held until reconciliation."""
    contract, attempt = lock_attempt(attempt_id)
    if attempt.status == "pending":
        attempt.status, attempt.message, attempt.updated_at = "unknown", UNKNOWN_MESSAGE, utcnow()
        activity.record(contract, "payment_unknown", "system",
                        f"Payment {attempt.id} of {attempt.amount.format()} could not be confirmed yet "
                        f"({reason[:200]}); it will be reconciled.")
    db.session.commit()
    return attempt


def settle(attempt_id: str, result: ChargeResult, *, email_failure: bool = False) -> PaymentAttempt:
    """Record the gateway's answer once (idempotent under row locks).

    A success funds the milestones only if the contract can still take it
    (``late_sales.cannot_take``): otherwise the attempt becomes ``returned``
    and the sale is voided or refunded after the commit, both sides told.
    ``email_failure``: tell the client by email when it failed (reconciliation:
    they were last told "we will email you").
    """
    from . import late_sales  # it builds on this module; imported here to avoid an import cycle

    # The contract first (the one lock order): its state cannot change while the answer is recorded.
    contract, attempt = lock_attempt(attempt_id)
    if attempt.status in FINAL:
        db.session.rollback()
        return attempt
    now = utcnow()
    apply_result(attempt, result, now)
    held = list(db.session.scalars(
        db.select(Milestone).where(Milestone.id.in_([i.milestone_id for i in attempt.items]))
        .order_by(Milestone.position).with_for_update()
    ))
    return_id = None
    if result.status == "succeeded":
        reason = late_sales.cannot_take(contract, attempt, held, result)
        if reason is None:
            record_funding(contract, attempt, held, now)
        else:
            log.warning("payment attempt %s succeeded but cannot be taken (%s): giving it back", attempt.id, reason)
            return_id = late_sales.start_return(contract, attempt, held, result, reason, now)
    else:
        attempt.status = result.status if result.status in FINAL else "failed"
        for m in held:
            if m.hold_attempt_id == attempt.id:
                m.hold_attempt_id = None
        activity.record(contract, "payment_failed", "client",
                        f"Payment {attempt.id} of {attempt.amount.format()} {attempt.status}: {attempt.message}")
        if email_failure:
            mailer.queue(contract.client_email, f"Your payment for {contract.title} did not go through",
                         "payment_failed", contract=contract, attempt=attempt, link=fresh_client_link(contract))
    db.session.commit()
    mailer.deliver_pending()
    if return_id is not None:
        try:
            late_sales.give_back(return_id, now)  # calls the gateway: outside the transaction
        except Exception:  # the charge is recorded: the client sees its page; reconciliation retries the return
            db.session.rollback()
            log.exception("payment attempt %s: giving back sale failed (return %s), will retry", attempt_id,
                          return_id)
        attempt = db.session.get(PaymentAttempt, attempt_id)
    return attempt


def apply_result(attempt: PaymentAttempt, result: ChargeResult, now: datetime) -> None:
    """Copy the gateway's answer onto the attempt: how it was paid, its reference, its message."""
    attempt.updated_at = attempt.decided_at = now
    attempt.method, attempt.card_brand, attempt.card_last4 = result.method, result.card_brand, result.card_last4
    attempt.paypal_email, attempt.transaction_id = result.paypal_email, result.transaction_id
    attempt.processor_code, attempt.message = result.processor_code, result.message
    if result.status == "succeeded" and result.gateway_status:
        attempt.settlement = result.gateway_status[:30]  # followed from here by services.settlements


def mark_settled(transaction_id: str, now: datetime | None = None) -> int:
    """The gateway says this charge settled (a webhook, or a look-up): record it and issue the refunds
    queued for it; returns how many were issued. Idempotent; a transaction of no attempt is ignored."""
    from . import settlements  # it builds on lifecycle and refunds, which build on this layer

    return settlements.record(transaction_id, "settled", now)


def mark_settlement_declined(transaction_id: str, now: datetime | None = None) -> int:
    """The processor declined settling this charge: record it; refunds queued for it cannot be made
    (they are marked failed, the member told to check it in Braintree). Returns 0."""
    from . import settlements

    return settlements.record(transaction_id, "settlement_declined", now)


def record_funding(contract: Contract, attempt: PaymentAttempt, milestones: list[Milestone], now: datetime) -> None:
    """The charge is in escrow: milestones funded, one funding journal, contract active, both sides told.

    Call under the contract and attempt locks, once ``late_sales.cannot_take`` said it can.
    """
    attempt.status = "succeeded"
    for m in milestones:
        m.state = milestone_transition(m.state, MilestoneAction.FUND)
        m.hold_attempt_id, m.funded_at = None, now
    ledger_svc.post("funding", contract, rules.funding([(i.milestone_id, i.amount_minor) for i in attempt.items]),
                    attempt_id=attempt.id, memo=f"{attempt.gateway} {attempt.transaction_id}")
    if contract.state == ContractState.SENT:
        contract.state = contract_transition(contract.state, ContractAction.ACTIVATE)
    _announce_funding(contract, attempt, milestones)


def method_label(attempt: PaymentAttempt) -> str:
    if attempt.method == "paypal":
        return f"PayPal ({attempt.paypal_email})" if attempt.paypal_email else "PayPal"
    if attempt.card_last4:
        return f"{attempt.card_brand or 'Card'} ending in {attempt.card_last4}"
    return "Card"


def _announce_funding(contract: Contract, attempt: PaymentAttempt, milestones: list[Milestone]) -> None:
    titles = ", ".join(f"“{m.title}”" for m in milestones)
    activity.record(contract, "funded", "client",
                    f"Funded {titles}: {attempt.amount.format()} held in escrow "
                    f"({method_label(attempt)}, ref {attempt.transaction_id}).")
    activity.notify(contract, f"{contract.client_name} funded {activity.milestones_of(contract, *(m.title for m in milestones))}: "
                              f"{attempt.amount.format()} is in escrow — you can begin.")
    mailer.queue(contract.client_email, f"Receipt: {attempt.amount.format()} held in escrow for {contract.title}",
                 "receipt", contract=contract, attempt=attempt, milestones=milestones,
                 method=method_label(attempt), link=fresh_client_link(contract))
    mailer.queue(contract.member.email, f"Funded — you can begin: {contract.title}",
                 "funded", contract=contract, attempt=attempt, milestones=milestones,
                 link=freelancer_link(contract))


def reconcile(now: datetime | None = None, failures: list[str] | None = None) -> dict[str, int]:
    """Settle attempts left ``unknown`` (or stuck ``pending``) by asking the gateway.

    Found and succeeded → funded, in escrow, both sides emailed (or given
    back, if the contract can no longer take it). Found and not succeeded →
    that outcome. Not found after a grace period, and not found on a second
    look → failed, milestones free to fund again, the client emailed that
    nothing was charged. Then, in ``late_sales``: returns whose gateway call
    did not answer are retried, and the attempts due for it are looked up
    again by order id (a bounded number per run) so that a sale landing after
    its attempt was given up on is adopted into escrow or given back.
    Counts: succeeded, failed, returned, adopted, waiting, unmatched (sales of
    no payment of ours found by the daily audit, left for a person).

    Each attempt, return and late sale is handled on its own: one that raises
    is logged, rolled back and named in ``failures`` (raised only when no
    list is given, after the others ran), and never stops the rest.
    """
    from . import late_sales  # it builds on this module; imported here to avoid an import cycle

    now = now or utcnow()
    errors: list[str] = [] if failures is None else failures
    counts = {"succeeded": 0, "failed": 0, "returned": 0, "adopted": 0, "waiting": 0, "unmatched": 0}
    attempts = db.session.scalars(
        db.select(PaymentAttempt.id).where(
            db.or_(PaymentAttempt.status == "unknown",
                   db.and_(PaymentAttempt.status == "pending", PaymentAttempt.created_at < now - STALE_PENDING)))
        .order_by(PaymentAttempt.created_at)
    ).all()
    db.session.rollback()
    for attempt_id in attempts:
        isolated(errors, f"payment attempt {attempt_id}", lambda: _reconcile_one(attempt_id, now, counts))
    # Each return and each late sale is isolated inside; these guard only the queries around them.
    isolated(errors, "retrying give-backs", lambda: counts.__setitem__(
        "returned", counts["returned"] + late_sales.retry_returns(now, errors)))

    def sweep() -> None:
        for name, value in late_sales.sweep(now, errors).items():
            counts[name] = counts.get(name, 0) + value

    isolated(errors, "the sweep for late sales", sweep)
    raise_uncollected(failures, errors)
    return counts


class GatewayStillUnavailable(Exception):
    """The gateway has not answered about a payment for longer than ALERT_AFTER."""


def _reconcile_one(attempt_id: str, now: datetime, counts: dict[str, int]) -> None:
    """Ask the gateway about one attempt and record its answer (or wait for the next run)."""
    gw = current_gateway()
    created_at = db.session.scalar(db.select(PaymentAttempt.created_at).where(PaymentAttempt.id == attempt_id))
    db.session.rollback()  # no transaction stays open while the gateway is called
    try:
        found = gw.find_by_order_id(attempt_id)
        if found is None and created_at <= now - NOT_FOUND_GRACE:
            # Look once more right before telling the client "not charged" (a slow gateway may have
            # recorded it since); a sale that lands even later is found by the sweep.
            found = gw.find_by_order_id(attempt_id)
            if found is None:
                found = ChargeResult(status="failed", order_id=attempt_id,
                                     message="The payment did not reach the payment processor. "
                                             "You were not charged.")
    except GatewayUnavailable as exc:
        log.warning("reconcile %s: gateway unavailable, will retry: %s", attempt_id, exc)
        counts["waiting"] += 1
        if created_at <= now - ALERT_AFTER:
            # Retried every run, but a person should know: the client has been waiting this long.
            raise GatewayStillUnavailable(f"the payment processor has not answered about it since "
                                          f"{created_at:%Y-%m-%d %H:%M} UTC: {exc}") from None
        return
    if found is None:
        counts["waiting"] += 1
        return
    attempt = settle(attempt_id, found, email_failure=True)
    counts[attempt.status if attempt.status in ("succeeded", "returned") else "failed"] += 1
    log.info("reconciled payment attempt %s: %s", attempt_id, attempt.status)


def attempt_by_key(contract: Contract, key: str) -> PaymentAttempt | None:
    """The attempt a form with this idempotency key started, if any."""
    return db.session.scalar(db.select(PaymentAttempt).where(
        PaymentAttempt.idempotency_key == (key or "")[:64], PaymentAttempt.contract_id == contract.id))
