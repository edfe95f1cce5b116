"""Money the client gets back outside escrow's own ways: chargebacks, and payments that did not settle.

A **chargeback** is a dispute the client's bank opens on a sale (Braintree's
``dispute_*`` webhooks; the product never calls it a dispute, which is the
parties' own disagreement mediated by the owner, ``services.disputes``).
While it is open, the milestones that sale paid for are *frozen*: nothing is
released, refunded or decided (``check_not_frozen``, and no buttons:
``frozen_milestones``). The freelancer and the owner are told the amount,
the bank's reason and the reply-by date; the owner sends the bank text
evidence from the app (``add_evidence``, ``finalize``). Won: the freeze
lifts. Lost or accepted: the ledger posts one ``chargeback`` journal
(``domain.ledger.take_back``): from escrow if the money is still there (the
milestone is then ``charged_back``), else from what was released — the
freelancer then owes the shop their part, shown in their money summary and
the payouts report.

A **reversal**: the processor declined settling a charge the gateway had
accepted (Braintree ``settlement_declined``), so the money never arrived. One
``reversal`` journal takes back the whole payment the same way: milestones
still in escrow go back to awaiting funding (the client can pay again), a
queued refund of it has nothing to refund, released money is owed.

Notifications arrive in any order and more than once: every change is made
under the contract lock, a final outcome is never undone by an older event,
and each journal exists once (unique per chargeback / per payment).
"""
from __future__ import annotations

import logging
from datetime import datetime

from babel.dates import format_date
from sqlalchemy.exc import IntegrityError

from ..domain import ledger as rules
from ..domain.money import Money
from ..domain.payments import DisputeRefused, GatewayUnavailable, WebhookEvent
from ..domain.states import ESCROW_STATES, MilestoneAction, milestone_transition
from ..extensions import db
from ..models import (
    Chargeback,
    ChargebackEvidence,
    Contract,
    Dispute,
    Journal,
    Milestone,
    PaymentAttempt,
    PaymentItem,
    Refund,
    utcnow,
)
from ..payments import current_gateway
from . import accounts, activity, mailer, memo, presence
from . import ledger as ledger_svc
from .errors import InvalidTransition, NotFound, ValidationFailed
from .links import external_url, freelancer_link, fresh_client_link
from .locks import lock_attempt

log = logging.getLogger(__name__)

FINAL = ("won", "lost", "accepted")
#: Braintree's dispute statuses, in the product's four words.
_STATUS = {"open": "open", "disputed": "open", "under_review": "open", "won": "won", "lost": "lost",
           "expired": "lost", "accepted": "accepted", "auto_accepted": "accepted"}
#: The notification kinds, for a dispute whose status the notification does not carry.
_KIND_STATUS = {"dispute_opened": "open", "dispute_disputed": "open", "dispute_under_review": "open",
                "dispute_won": "won", "dispute_lost": "lost", "dispute_expired": "lost",
                "dispute_accepted": "accepted", "dispute_auto_accepted": "accepted"}
#: Braintree's reason codes, in plain words.
REASONS = {"fraud": "the cardholder says they did not make the payment",
           "not_recognized": "the cardholder does not recognise the payment",
           "product_not_received": "the client says the work was not delivered",
           "product_unsatisfactory": "the client says the work was not as described",
           "duplicate": "the bank says the client was charged twice",
           "credit_not_processed": "the client says a refund they were promised was not made",
           "cancelled_recurring_transaction": "the client says they had cancelled",
           "retrieval": "the bank asks for information about the payment",
           "general": "the bank gave no specific reason"}
FROZEN = ("The client's bank is reviewing a chargeback of the payment for this milestone: its money is frozen "
          "until the bank decides. Nothing can be released or refunded meanwhile.")
EVIDENCE_MAX = 4000


def reason_words(code: str) -> str:
    return REASONS.get(code, code.replace("_", " ") or REASONS["general"])


# ---- the freeze --------------------------------------------------------------

def _open_items():
    return (db.select(PaymentItem.milestone_id).join(Chargeback, Chargeback.attempt_id == PaymentItem.attempt_id)
            .where(Chargeback.status == "open"))


@memo.per_request
def frozen_milestones(contract: Contract) -> set[int]:
    """The contract's milestones whose money an open chargeback freezes (those still in escrow)."""
    if not any(c.status == "open" for c in for_contract(contract)):
        return set()
    return set(db.session.scalars(_open_items().join(Milestone, Milestone.id == PaymentItem.milestone_id)
                                  .where(Chargeback.contract_id == contract.id,
                                         Milestone.state.in_(list(ESCROW_STATES)))))


def not_frozen_clause():
    """A WHERE clause for milestone queries: leave out frozen milestones (the jobs' auto-release)."""
    return Milestone.id.not_in(_open_items())


def check_not_frozen(milestone_id: int) -> None:
    """Raise InvalidTransition while a chargeback freezes this milestone's money."""
    if db.session.scalar(_open_items().where(PaymentItem.milestone_id == milestone_id).limit(1)) is not None:
        raise InvalidTransition(FROZEN)


# ---- reading -------------------------------------------------------------------

def queue(status: str = "open") -> list[Chargeback]:
    """The owner's list: open ones (soonest reply-by first), or closed ones (latest first)."""
    query = db.select(Chargeback)
    if status == "open":
        return list(db.session.scalars(query.where(Chargeback.status == "open")
                                       .order_by(Chargeback.reply_by.is_(None), Chargeback.reply_by, Chargeback.id)))
    return list(db.session.scalars(query.where(Chargeback.status != "open").order_by(Chargeback.closed_at.desc(),
                                                                                      Chargeback.id.desc())))


def get(chargeback_id: int) -> Chargeback:
    row = db.session.get(Chargeback, chargeback_id)
    if row is None:
        raise NotFound("No such chargeback.")
    return row


@memo.per_request
def for_contract(contract: Contract) -> list[Chargeback]:
    """The contract's chargebacks, oldest first (none asked for when the page's probe found none)."""
    if presence.none(contract, "chargebacks"):
        return []
    return list(db.session.scalars(db.select(Chargeback).where(Chargeback.contract_id == contract.id)
                                   .order_by(Chargeback.id)))


def milestones_of(row: Chargeback) -> list[Milestone]:
    """The milestones the disputed payment paid for."""
    if row.attempt_id is None:
        return []
    return list(db.session.scalars(db.select(Milestone).join(PaymentItem, PaymentItem.milestone_id == Milestone.id)
                                   .where(PaymentItem.attempt_id == row.attempt_id).order_by(Milestone.position)))


# ---- webhooks --------------------------------------------------------------------

def status_of(event: WebhookEvent) -> str | None:
    """open, won, lost or accepted — from the dispute's status, else from the notification's kind."""
    raw = (event.dispute.status if event.dispute else "") or ""
    return _STATUS.get(raw.lower()) or _KIND_STATUS.get(event.kind)


def apply(event: WebhookEvent, now: datetime | None = None) -> str:
    """Apply a ``dispute_*`` notification; returns what it did (for the notification's record).

    Idempotent and order-proof: the chargeback row is found by the gateway's dispute id (created by
    whichever notification comes first), a final outcome is never undone, an older notification changes
    nothing, and a loss posts its journal once.
    """
    now = now or utcnow()
    d, status = event.dispute, status_of(event)
    if d is None or status is None:
        return "ignored: not a dispute the app acts on"
    attempt_id = db.session.scalar(db.select(PaymentAttempt.id).where(db.or_(
        PaymentAttempt.transaction_id == d.transaction_id,
        db.and_(PaymentAttempt.id == (event.order_id or ""), PaymentAttempt.transaction_id.is_(None)))).limit(1))
    contract = attempt = None
    if attempt_id is not None:
        contract, attempt = lock_attempt(attempt_id)  # the one lock order: contract, then attempt
    row = db.session.scalar(db.select(Chargeback).where(Chargeback.gateway_id == d.id).with_for_update())
    new = row is None
    if new:
        row = Chargeback(gateway_id=d.id, transaction_id=d.transaction_id, attempt_id=attempt_id,
                         contract_id=contract.id if contract else None, amount_minor=d.amount.minor,
                         currency=d.amount.currency, kind=(d.kind or "chargeback")[:20], reason=(d.reason or "")[:60],
                         reply_by=d.reply_by, status="open", opened_at=now, event_at=event.timestamp)
        db.session.add(row)
        try:
            db.session.flush()
        except IntegrityError:  # another worker created it meanwhile (no contract lock to wait on): retried later
            db.session.rollback()
            raise
    elif row.status in FINAL:
        db.session.rollback()
        if status != "open" and status != row.status:
            log.error("chargeback %s is %s; the gateway now says %s: not applied, check it in Braintree",
                      d.id, row.status, status)
            return f"ignored: already {row.status}, now {status} (check it in Braintree)"
        return f"ignored: already {row.status}"
    elif status == "open":
        row.reply_by = d.reply_by or row.reply_by
        row.amount_minor = d.amount.minor
        db.session.commit()
        return "applied: still open"
    if event.timestamp and (row.event_at is None or event.timestamp > row.event_at):
        row.event_at = event.timestamp
    if status != "open":
        row.status, row.closed_at = status, now
        if status in ("lost", "accepted") and contract is not None:
            _post_loss(contract, attempt, row, now)
    _tell(row, contract, "opened" if status == "open" else status)
    if contract is not None:
        _complete(contract)  # after the chargeback's own news: "completed" is the consequence
    db.session.commit()
    mailer.deliver_pending()
    return f"applied: {status if status != 'open' else 'opened'}"


def _paid(contract: Contract, milestones: list[Milestone]) -> list[rules.Paid]:
    money = ledger_svc.milestone_money([contract.id])
    out = []
    for m in milestones:
        mm = money.get(m.id, ledger_svc.MilestoneMoney())
        out.append(rules.Paid(m.id, in_escrow=mm.held if m.state in ESCROW_STATES else 0,
                              released=mm.released_kept, fee=mm.fees))
    return out


def _locked_milestones(attempt: PaymentAttempt) -> list[Milestone]:
    return list(db.session.scalars(
        db.select(Milestone).join(PaymentItem, PaymentItem.milestone_id == Milestone.id)
        .where(PaymentItem.attempt_id == attempt.id).order_by(Milestone.position).with_for_update()))


def _post_loss(contract: Contract, attempt: PaymentAttempt, row: Chargeback, now: datetime) -> None:
    """The bank gave the client ``row.amount`` back: one chargeback journal (see ``rules.take_back``)."""
    if db.session.scalar(db.select(Journal.id).where(Journal.chargeback_id == row.id)) is not None:
        return
    milestones = _locked_milestones(attempt)
    entries = rules.take_back(_paid(contract, milestones), row.amount_minor)
    journal = ledger_svc.post("chargeback", contract, entries,
                              memo=f"chargeback {row.gateway_id} of sale {row.transaction_id}: {row.status}")
    journal.chargeback_id = row.id
    db.session.flush()
    _settle_taken(contract, milestones, MilestoneAction.CHARGE_BACK, now,
                  "The client's bank took this milestone's money back (a chargeback).")


def _settle_taken(contract: Contract, milestones: list[Milestone], action: MilestoneAction, now: datetime,
                  why: str) -> list[Milestone]:
    """Milestones a take-back drew escrow from leave escrow (charged back, or unfunded again); their open
    dispute closes, their queued refund has nothing left to refund. Returns them.

    A chargeback takes whole milestones where it can (``rules.take_back``); one that took only part of a
    milestone's money still charges it back, and ``ledger check`` names what it left in escrow for the owner.
    """
    money = ledger_svc.milestone_money([contract.id])
    moved = []
    for m in milestones:
        if m.state in ESCROW_STATES and money.get(m.id, ledger_svc.MilestoneMoney()).held < m.amount_minor:
            m.state = milestone_transition(m.state, action)
            m.auto_release_at = None
            if action == MilestoneAction.REVERSE:
                m.funded_at = m.submitted_at = None
            else:
                m.settled_at = now
            moved.append(m)
            for dispute in db.session.scalars(db.select(Dispute).where(Dispute.milestone_id == m.id,
                                                                      Dispute.status == "open")):
                dispute.status, dispute.closed_at, dispute.decided_by = "closed", now, "bank"
                dispute.release_minor = dispute.refund_minor = 0
                dispute.decision_reason = why
            drop_queued(contract, m, now)
    return moved


def drop_queued(contract: Contract, m: Milestone, now: datetime) -> None:
    """The milestone's money left escrow another way: a refund of it waiting for the settlement is not made."""
    for row in db.session.scalars(db.select(Refund).where(Refund.milestone_id == m.id, Refund.status == "queued")):
        row.status, row.failed_at, row.next_check_at = "failed", now, None
        row.message = ("The client already got this money back another way (their bank's chargeback, or their "
                       "payment did not go through): there is nothing left to refund.")
        activity.record(contract, "refund_failed", "system",
                        f"The pending refund of “{m.title}” is not made: {row.message}")


def _complete(contract: Contract) -> None:
    from .lifecycle import maybe_complete  # lifecycle builds on the ledger, as this module does

    maybe_complete(contract)


def _day(value) -> str:
    return format_date(value, "medium", locale="en_US")


def _tell(row: Chargeback, contract: Contract | None, what: str) -> None:
    """Timeline, bells and emails for the freelancer and the owner (the client's bank told the client)."""
    owner = accounts.owner()
    owner_link = external_url("admin.chargeback_show", chargeback_id=row.id)
    covered = milestones_of(row)
    frozen = ", ".join(f"“{m.title}”" for m in covered if m.state in ESCROW_STATES)
    released = ", ".join(f"“{m.title}”" for m in covered if m.state == "released")
    opened = (f"The client's bank opened a chargeback of {row.amount.format()} on payment {row.transaction_id} "
              f"({reason_words(row.reason)}).")
    if frozen:
        opened += f" The money of {frozen} is frozen in escrow until the bank decides."
    if released:
        opened += f" {released} was already released: if the bank decides for the client, it may be taken back."
    if row.reply_by:
        opened += f" The shop must answer the bank by {_day(row.reply_by)}."
    text = {
        "opened": opened,
        "won": f"The chargeback of {row.amount.format()} on payment {row.transaction_id} was decided in the "
               f"shop's favour: the freeze is lifted.",
        "lost": f"The client's bank decided the chargeback of {row.amount.format()} on payment "
                f"{row.transaction_id} for the client: the money went back to the client.",
        "accepted": f"The chargeback of {row.amount.format()} on payment {row.transaction_id} was accepted: "
                    f"the money went back to the client.",
    }[what]
    subject = f"Chargeback {what}: {row.amount.format()}"
    if contract is None:
        log.warning("chargeback %s of sale %s: no payment of ours (%s)", row.gateway_id, row.transaction_id, what)
        if owner is not None:
            mailer.queue(owner.email, f"{subject} (sale {row.transaction_id})", "chargeback", chargeback=row,
                         contract=None, text=f"{text} The sale is not one of this app's payments: check it in "
                                             f"Braintree.", link=owner_link, for_owner=True, owed=None)
        return
    owed = _owed(contract, row) if what in ("lost", "accepted") else None
    told = text + (f" {owed.format()} of it had already been released to {contract.member.name}, who owes it to "
                   f"the shop." if owed else "")
    activity.record(contract, f"chargeback_{what}", "system", told)
    activity.notify(contract, f"“{contract.title}”: {text}")  # the freelancer's bell; their email says what they owe
    own_shop = owner is not None and owner.id == contract.member_id
    if owner is not None and not own_shop:
        activity.notify_member(owner.id, contract, f"“{contract.title}”: {told}")
        mailer.queue(owner.email, f"{subject} — {contract.title}", "chargeback", contract=contract, chargeback=row,
                     text=told, link=owner_link, for_owner=True, owed=None)
    mailer.queue(contract.member.email, f"{subject} — {contract.title}", "chargeback", contract=contract,
                 chargeback=row, text=text, owed=owed, for_owner=own_shop,
                 link=owner_link if own_shop else freelancer_link(contract))


def _owed(contract: Contract, row: Chargeback) -> Money | None:
    return owed_in(db.session.scalar(db.select(Journal).where(Journal.chargeback_id == row.id)), contract)


def owed_in(journal: Journal | None, contract: Contract) -> Money | None:
    """What a take-back journal took from the freelancer's releases (what they owe the shop), or None."""
    owed = -sum(e.amount_minor for e in journal.entries if e.account == rules.FREELANCER) if journal else 0
    return Money(owed, contract.currency) if owed else None


# ---- the owner's evidence ----------------------------------------------------------

def add_evidence(row: Chargeback, text: str) -> ChargebackEvidence:
    """Send a text to the bank through the gateway, and keep it. Refused once closed or finalized."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed({"body": "Write what the bank should read."})
    if len(text) > EVIDENCE_MAX:
        raise ValidationFailed({"body": f"At most {EVIDENCE_MAX} characters."})
    _check_open(row)
    dispute_id, chargeback_id = row.gateway_id, row.id
    db.session.rollback()  # no transaction stays open across the gateway call
    try:
        evidence_id = current_gateway().add_dispute_evidence(dispute_id, text)
    except DisputeRefused as exc:
        raise InvalidTransition(str(exc)) from None
    except GatewayUnavailable:
        log.warning("evidence for chargeback %s: gateway unavailable", dispute_id)
        raise InvalidTransition("The payment processor could not be reached, so nothing was sent to the bank. "
                                "Your text is kept below: try again in a few minutes.") from None
    evidence = ChargebackEvidence(chargeback_id=chargeback_id, body=text, gateway_id=evidence_id)
    db.session.add(evidence)
    db.session.commit()
    return evidence


def finalize(row: Chargeback) -> Chargeback:
    """Submit the evidence to the bank: nothing more can be added."""
    _check_open(row)
    if not row.evidence:
        raise InvalidTransition("Send the bank at least one piece of evidence first.")
    dispute_id, chargeback_id = row.gateway_id, row.id
    db.session.rollback()
    try:
        current_gateway().finalize_dispute(dispute_id)
    except DisputeRefused as exc:
        raise InvalidTransition(str(exc)) from None
    except GatewayUnavailable:
        raise InvalidTransition("The payment processor could not be reached: nothing was submitted. Try again "
                                "in a few minutes.") from None
    row = db.session.get(Chargeback, chargeback_id)
    row.finalized_at = utcnow()
    db.session.commit()
    return row


def _check_open(row: Chargeback) -> None:
    if row.status != "open":
        raise InvalidTransition(f"This chargeback is closed ({row.status}): the bank takes no more evidence.")
    if row.finalized_at is not None:
        raise InvalidTransition("The evidence was already submitted to the bank: nothing more can be added.")


# ---- settlement declined ----------------------------------------------------------

def reverse(attempt_id: str, now: datetime | None = None) -> bool:
    """The processor declined settling this charge: undo its funding (once); returns whether it did now."""
    now = now or utcnow()
    contract, attempt = lock_attempt(attempt_id)
    if attempt.status != "succeeded":
        db.session.rollback()
        return False
    attempt.status, attempt.settlement, attempt.updated_at = "reversed", "settlement_declined", now
    refunded = sum(db.session.scalars(db.select(Refund.amount_minor).where(Refund.attempt_id == attempt.id,
                                                                          Refund.status == "succeeded")))
    milestones = _locked_milestones(attempt)
    for row in db.session.scalars(db.select(Refund).where(Refund.attempt_id == attempt.id,
                                                          Refund.status == "queued")):
        row.status, row.failed_at, row.next_check_at = "failed", now, None
        row.message = "The client's payment did not go through after all: there is nothing to refund from it."
    owed = None
    if attempt.amount_minor > refunded:
        journal = ledger_svc.post("reversal", contract, rules.take_back(_paid(contract, milestones),
                                                                        attempt.amount_minor - refunded),
                                  attempt_id=attempt.id, memo=f"settlement declined: {attempt.transaction_id}")
        db.session.flush()
        owed = owed_in(journal, contract)
    unfunded = _settle_taken(contract, milestones, MilestoneAction.REVERSE, now,
                             "The client's payment did not go through after all.")
    _tell_reversed(contract, attempt, unfunded, owed)
    _complete(contract)
    db.session.commit()
    mailer.deliver_pending()
    return True


def _tell_reversed(contract: Contract, attempt: PaymentAttempt, unfunded: list[Milestone],
                   owed: Money | None) -> None:
    titles = ", ".join(f"“{m.title}”" for m in unfunded)
    text = (f"The client's payment of {attempt.amount.format()} (ref {attempt.transaction_id}) did not go through "
            f"after all: the payment processor declined settling it, so the money never arrived.")
    if titles:
        text += f" {titles} {'is' if len(unfunded) == 1 else 'are'} awaiting funding again."
    if owed:
        text += f" {owed.format()} of it had already been released: {contract.member.name} owes it to the shop."
    activity.record(contract, "payment_reversed", "system", text)
    activity.notify(contract, f"“{contract.title}”: {text}")
    owner = accounts.owner()
    if owed and owner is not None and owner.id != contract.member_id:
        activity.notify_member(owner.id, contract, f"“{contract.title}”: {text}")
    mailer.queue(contract.member.email, f"Payment did not go through: {contract.title}", "payment_reversed",
                 contract=contract, attempt=attempt, milestones=unfunded, owed=owed, for_member=True,
                 link=freelancer_link(contract))
    mailer.queue(contract.client_email, f"Your payment for {contract.title} did not go through", "payment_reversed",
                 contract=contract, attempt=attempt, milestones=unfunded, owed=None, for_member=False,
                 link=fresh_client_link(contract))
