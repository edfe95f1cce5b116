"""Disputes over a milestone's money: opened by either party, settled by them or decided by the owner.

While a dispute is open the milestone is ``disputed``: no release, no
auto-release, no refund but through the dispute. Everything either side says
goes into the contract's thread (``services.thread``) with the dispute's id.

A decision divides the milestone's amount (``domain.disputes.decision``):
all released (posted at once: the release journal, the fee on it), or some
or all refunded through the gateway first. Money moves only on the gateway's
word: the decision is written on the dispute, then ``lifecycle.refund``
refunds the client's part under a refund row that carries the dispute's id,
and posting that refund (``lifecycle.post_refund``, now or when
reconciliation finds it) posts the refund journal *and* the release of the
freelancer's part, and closes the dispute, in one transaction. A refusal by
the gateway clears the decision (nothing moved, the dispute stays open); no
answer leaves it open, "being carried out", until reconciliation knows.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from ..domain import ledger as rules
from ..domain.disputes import (
    PARTIES, REFUND, RELEASE, SPLIT, DisputeRefused, decision, mediator_may, other_party, parse_in_question,
    parse_split,
)
from ..domain.fees import fee_for_release
from ..domain.money import Money
from ..domain.rules import DISPUTE_DECISION, DISPUTE_MESSAGE, DISPUTE_REASONS, DISPUTE_STATEMENT
from ..domain.states import MilestoneAction, milestone_transition
from ..extensions import db
from ..models import Contract, Dispute, Member, Milestone, Refund, ShopSettings, utcnow
from . import activity, chargebacks, lifecycle, mailer, memo, presence, thread, tokens
from . import ledger as ledger_svc
from .accounts import owner  # the mediator of every dispute (``disputes.owner`` for the pages)
from .errors import InvalidTransition, NotFound, ValidationFailed, clean_text
from .links import external_url
from .locks import lock_contract

log = logging.getLogger(__name__)

#: The reminder to the side that has not answered goes this long before its deadline.
REMIND_BEFORE = timedelta(days=1)



def own_case(dispute: Dispute) -> bool:
    """Is the disputed contract the owner's own (a one-person shop)? Then they may not judge it."""
    mediator = owner()
    return mediator is not None and dispute.contract.member_id == mediator.id


def get(contract: Contract, dispute_id: int) -> Dispute:
    """The contract's dispute, or NotFound (another contract's dispute is not found either)."""
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None or dispute.contract_id != contract.id:
        raise NotFound("No such dispute.")
    return dispute


@memo.per_request
def for_contract(contract: Contract) -> list[Dispute]:
    """The contract's disputes, open ones first, then newest first."""
    if presence.none(contract, "disputes"):
        return []
    return list(db.session.scalars(db.select(Dispute).where(Dispute.contract_id == contract.id)
                                   .order_by(Dispute.status.desc(), Dispute.id.desc())))


def queue(status: str = "open") -> list[Dispute]:
    """The mediator's queue: open disputes, the oldest deadline first (or closed ones, newest first)."""
    query = db.select(Dispute).where(Dispute.status == status)
    order = (Dispute.respond_by, Dispute.id) if status == "open" else (Dispute.closed_at.desc(), Dispute.id.desc())
    return list(db.session.scalars(query.order_by(*order)))


def refunding(dispute: Dispute) -> Refund | None:
    """The refund carrying out this dispute's decision while the gateway has not confirmed it."""
    return db.session.scalar(db.select(Refund).where(
        Refund.dispute_id == dispute.id, Refund.status.in_(lifecycle.REFUND_IN_FLIGHT_STATUSES)))


# ---- opening, talking, offering ---------------------------------------------

def open_dispute(contract: Contract, milestone_id: int, *, by: str, reason: str, statement: str,
                 amount_text: str = "", now: datetime | None = None) -> Dispute:
    """Either party disputes a funded milestone (or one with a payment request): the money freezes.

    The auto-release clock stops; the other side has the shop's
    ``dispute_response_days`` to answer; both sides and the mediator are told.
    """
    if by not in PARTIES:
        raise ValueError(f"a dispute is opened by a party, not {by!r}")
    now = now or utcnow()
    statement = clean_text(statement, "statement", DISPUTE_STATEMENT)
    if reason not in DISPUTE_REASONS:
        raise ValidationFailed({"reason": "Choose what the dispute is about."})
    contract, m = lock_contract(contract.id, milestone_id)
    try:
        amount = parse_in_question(amount_text, m.amount)
    except DisputeRefused as exc:
        raise ValidationFailed({"amount": str(exc)}) from None
    from_state = m.state
    m.state = milestone_transition(m.state, MilestoneAction.DISPUTE)
    chargebacks.check_not_frozen(m.id)
    if lifecycle.refund_in_flight(m.id):
        raise InvalidTransition(lifecycle.in_flight_message("queued" if lifecycle.refund_queued(m.id) else None))
    m.auto_release_at = None
    days = ShopSettings.get().dispute_response_days
    dispute = Dispute(contract_id=contract.id, milestone_id=m.id, opened_by=by, reason=reason,
                      amount_minor=amount.minor, from_state=from_state, created_at=now,
                      respond_by=now + timedelta(days=days))
    db.session.add(dispute)
    try:
        db.session.flush()  # one open dispute per milestone (the partial unique index)
    except IntegrityError:
        db.session.rollback()
        raise InvalidTransition("A dispute about this milestone is already open.") from None
    label = DISPUTE_REASONS[reason]
    thread.add(contract, by, f"Opened a dispute about “{m.title}” ({amount.format()} in question). "
                             f"{label}: {statement}", kind="dispute_opened", milestone=m, dispute=dispute)
    who = contract.client_name if by == "client" else contract.member.name
    activity.record(contract, "dispute_opened", by,
                    f"{who} opened a dispute about “{m.title}” ({label}; {amount.format()} in question). "
                    f"The money stays in escrow until it is settled; the auto-release clock has stopped.")
    if by == "client":
        activity.notify(contract, f"{contract.client_name} opened a dispute about {activity.milestones_of(contract, m.title)}.")
    _notify_mediator(dispute, f"{who} opened a dispute about {activity.milestones_of(contract, m.title)}; you mediate it.")
    _tell_everyone(dispute, f"Dispute opened: {m.title} — {contract.title}", "dispute_opened",
                   days=days, label=label, statement=statement, amount=amount, by=by)
    db.session.commit()
    mailer.deliver_pending()
    return dispute


def say(dispute: Dispute, *, by: str, body: str, name: str | None = None, now: datetime | None = None):
    """A message on the dispute, from a party or the mediator; the other side's answer stops its clock."""
    body = clean_text(body, "body", DISPUTE_MESSAGE)
    contract, dispute = _lock_open(dispute)
    message = thread.add(contract, by, body, kind="dispute_message", name=name,
                         milestone=dispute.milestone, dispute=dispute)
    _answered(dispute, by, now)
    db.session.commit()
    return message


def propose_split(dispute: Dispute, *, by: str, release_text: str, now: datetime | None = None) -> Dispute:
    """A party offers a split: ``release_text`` to the freelancer, the rest back to the client."""
    contract, dispute = _lock_open(dispute)
    amount = dispute.milestone.amount
    try:
        part = parse_split(release_text, amount)
    except DisputeRefused as exc:
        raise ValidationFailed({"release": str(exc)}) from None
    dispute.proposal_by, dispute.proposal_release_minor = by, part.minor
    thread.add(contract, by, f"Offered to settle: {part.format()} to the freelancer and "
                             f"{(amount - part).format()} back to the client.",
               kind="dispute_proposal", milestone=dispute.milestone, dispute=dispute)
    _answered(dispute, by, now)
    db.session.commit()
    return dispute


def _answered(dispute: Dispute, by: str, now: datetime | None) -> None:
    if by == other_party(dispute.opened_by) and dispute.responded_at is None:
        dispute.responded_at = now or utcnow()


def _lock_open(dispute: Dispute) -> tuple[Contract, Dispute]:
    """Lock the contract and milestone, re-read the dispute: it must still be open and undecided."""
    contract, _m = lock_contract(dispute.contract_id, dispute.milestone_id)
    dispute = db.session.get(Dispute, dispute.id)
    if dispute.status != "open":
        raise InvalidTransition("This dispute is closed.")
    if dispute.decided_at is not None:
        raise InvalidTransition("A decision on this dispute is being carried out: the refund is being "
                                "confirmed with the payment processor.")
    return contract, dispute


# ---- deciding ---------------------------------------------------------------

def release_all(dispute: Dispute, *, by: str = "client") -> Dispute:
    """The client gives in: the whole milestone is released to the freelancer (less the fee)."""
    return _decide(dispute, RELEASE, dispute.milestone.amount_minor, by,
                   "The client released the payment, ending the dispute.")


def refund_all(dispute: Dispute, *, by: str = "freelancer") -> Dispute:
    """The freelancer gives in: the whole milestone goes back to the client."""
    return _decide(dispute, REFUND, 0, by, "The freelancer refunded the client, ending the dispute.")


def accept_split(dispute: Dispute, *, by: str, shown_release_minor: int) -> Dispute:
    """The other party accepts the offer on the table — the one their page showed, else refused."""
    dispute = db.session.get(Dispute, dispute.id)
    if dispute.proposal_by is None or dispute.proposal_by == by:
        raise InvalidTransition("There is no offer from the other side to accept.")
    if dispute.proposal_release_minor != shown_release_minor:
        raise InvalidTransition("The offer changed since you opened the page. Read the new one, then decide.")
    amount = dispute.milestone.amount
    part = Money(dispute.proposal_release_minor, amount.currency)
    return _decide(dispute, SPLIT, part.minor, "both",
                   f"Both sides agreed to split: {part.format()} to the freelancer, "
                   f"{(amount - part).format()} back to the client.")


def mediator_part(dispute: Dispute, kind: str, release_text: str = "") -> int:
    """The freelancer's part (minor units) of the mediator's decision ``kind``, as it would be posted.

    Raises ValidationFailed (no such kind, a bad split amount) or
    InvalidTransition (the owner's own case allows only a full refund or the
    client's offer). The confirm page shows what this returns; ``resolve`` posts it.
    """
    amount = dispute.milestone.amount
    if kind not in (RELEASE, REFUND, SPLIT):
        raise ValidationFailed({"kind": "Choose release, refund or split."})
    release_minor = {RELEASE: amount.minor, REFUND: 0}.get(kind)
    if release_minor is None:
        try:
            release_minor = parse_split(release_text, amount).minor
        except DisputeRefused as exc:
            raise ValidationFailed({"release": str(exc)}) from None
    offer = dispute.proposal_release_minor if dispute.proposal_by == "client" else None
    try:
        mediator_may(own_case(dispute), kind, release_minor, offer)
    except DisputeRefused as exc:
        raise InvalidTransition(str(exc)) from None
    return release_minor


def resolve(dispute: Dispute, mediator: Member, *, kind: str, reason: str, release_text: str = "") -> Dispute:
    """The mediator (the shop owner) decides: release all, refund all, or split, with a written reason."""
    if not mediator.is_owner:
        raise NotFound("No such dispute.")
    reason = clean_text(reason, "reason", DISPUTE_DECISION)
    return _decide(dispute, kind, mediator_part(dispute, kind, release_text), "owner", reason)


def _decide(dispute: Dispute, kind: str, release_minor: int, decided_by: str, reason: str) -> Dispute:
    contract, dispute = _lock_open(dispute)
    m = dispute.milestone
    parts = decision(m.amount_minor, release_minor)
    action = {RELEASE: MilestoneAction.RESOLVE_RELEASE, REFUND: MilestoneAction.RESOLVE_REFUND,
              SPLIT: MilestoneAction.RESOLVE_SPLIT}[kind]
    milestone_transition(m.state, action)
    chargebacks.check_not_frozen(m.id)
    if lifecycle.refund_in_flight(m.id):
        raise InvalidTransition(lifecycle.in_flight_message("queued" if lifecycle.refund_queued(m.id) else None))
    held = ledger_svc.milestone_money([contract.id]).get(m.id, ledger_svc.MilestoneMoney()).held
    if held != m.amount_minor:
        log.error("dispute %s: escrow holds %s, milestone %s says %s; nothing moved", dispute.id, held, m.id,
                  m.amount_minor)
        raise lifecycle.ReleaseHeld(f"The escrow for “{m.title}” does not match its amount; nothing was moved. "
                                    f"The shop owner has to check it.")
    dispute.decided_by, dispute.decided_at, dispute.decision_reason = decided_by, utcnow(), reason
    dispute.release_minor, dispute.refund_minor = parts.release_minor, parts.refund_minor
    if parts.refund_minor == 0:
        _release_part(contract, m, dispute)
        m.state = milestone_transition(m.state, action)
        _close(contract, m, dispute, transaction_ref=None)
        db.session.commit()
        mailer.deliver_pending()
        return dispute
    dispute_id, contract_id, milestone_id = dispute.id, contract.id, m.id
    db.session.commit()  # the decision stands before any money moves
    try:
        lifecycle.refund(db.session.get(Contract, contract_id), milestone_id, reason=reason,
                         amount_minor=parts.refund_minor, dispute_id=dispute_id)
    except lifecycle.RefundFailed as exc:
        _undecide(dispute_id, str(exc))
        raise lifecycle.RefundFailed(f"{exc} Nothing was moved: the dispute stays open.") from None
    except InvalidTransition:
        _undecide(dispute_id, "")
        raise
    return db.session.get(Dispute, dispute_id)


def _release_part(contract: Contract, m: Milestone, dispute: Dispute) -> None:
    """Post the freelancer's part: escrow → freelancer and fees, the fee on this part only (cumulative rule)."""
    if not dispute.release_minor:
        return
    money = ledger_svc.contract_money([contract])[contract.id]
    gross = contract.money(dispute.release_minor)
    fee = fee_for_release(gross, money.released - money.clawed, money.fees, contract.fee_bps)
    ledger_svc.post("release", contract, rules.release(m.id, gross.minor, fee.minor),
                    memo=f"dispute {dispute.id}: {dispute.decided_by}")


def finish_with_refund(contract: Contract, m: Milestone, refund: Refund, ref: str) -> None:
    """Called by ``lifecycle.post_refund`` under its locks, after the refund journal of a dispute's refund:
    post the freelancer's part and close the dispute (the caller commits)."""
    dispute = db.session.get(Dispute, refund.dispute_id)
    _release_part(contract, m, dispute)
    _close(contract, m, dispute, transaction_ref=ref)


def refund_failed(refund: Refund, amount: Money) -> None:
    """The refund carrying out a decision was not made (declared so by reconciliation): nothing moved,
    the decision is cleared and the dispute is open again; both sides and the mediator are told."""
    dispute = db.session.get(Dispute, refund.dispute_id)
    if dispute.status != "open" or dispute.decided_at is None:
        return
    what = (f"The payment processor did not make the refund of {amount.format()} that carried out the decision "
            f"on “{dispute.milestone.title}”. Nothing moved: the money is still in escrow and the dispute is "
            f"open again, to be decided again.")
    _clear_decision(dispute, "The payment processor did not make the refund.")
    thread.add(dispute.contract, "system", what, kind="dispute_message", milestone=dispute.milestone,
               dispute=dispute).emailed_at = utcnow()  # everyone is emailed below
    _notify_mediator(dispute, what)
    activity.notify(dispute.contract, what)
    _tell_everyone(dispute, f"Dispute decision not carried out: {dispute.milestone.title} — "
                            f"{dispute.contract.title}", "dispute_reopened", what=what)


def _undecide(dispute_id: int, message: str) -> None:
    db.session.rollback()
    contract, _m = lock_contract(*db.session.execute(
        db.select(Dispute.contract_id, Dispute.milestone_id).where(Dispute.id == dispute_id)).one())
    dispute = db.session.get(Dispute, dispute_id)
    if dispute.status == "open" and refunding(dispute) is None:
        _clear_decision(dispute, message)
    db.session.commit()


def _clear_decision(dispute: Dispute, message: str) -> None:
    if dispute.decided_at is None or dispute.status != "open":
        return
    if message:
        activity.record(dispute.contract, "dispute_decision_failed", "system",
                        f"The decision on the dispute about “{dispute.milestone.title}” could not be carried "
                        f"out: {message} Nothing was moved; the dispute stays open.")
    dispute.decided_by = dispute.decided_at = dispute.release_minor = dispute.refund_minor = None
    dispute.decision_reason = ""


def _close(contract: Contract, m: Milestone, dispute: Dispute, transaction_ref: str | None) -> None:
    parts = decision(m.amount_minor, dispute.release_minor)
    dispute.status, dispute.outcome, dispute.closed_at = "closed", parts.outcome, utcnow()
    m.settled_at, m.auto_release_at = dispute.closed_at, None
    released, refunded = contract.money(parts.release_minor), contract.money(parts.refund_minor)
    what = {"released": f"{released.format()} released to the freelancer",
            "refunded": f"{refunded.format()} back to the client",
            "split": f"{released.format()} to the freelancer and {refunded.format()} back to the client"}[parts.outcome]
    by = {"owner": "The mediator decided", "both": "Both sides agreed", "client": "The client released the payment",
          "freelancer": "The freelancer refunded the client"}[dispute.decided_by]
    author = "owner" if dispute.decided_by == "owner" else "system"
    mediator = owner()
    name = mediator.name if author == "owner" and mediator is not None else None
    thread.add(contract, author, f"{by}: {what}. {dispute.decision_reason}", kind="dispute_decision", name=name,
               milestone=m, dispute=dispute)
    ref = f" (payment processor ref {transaction_ref})" if transaction_ref else ""
    activity.record(contract, "dispute_closed", author, f"Dispute about “{m.title}” closed. {by}: {what}{ref}.")
    activity.notify(contract, f"The dispute about {activity.milestones_of(contract, m.title)} is closed: {what}.")
    _tell_everyone(dispute, f"Dispute closed: {m.title} — {contract.title}", "dispute_closed", what=what, by=by)
    lifecycle.maybe_complete(contract)


# ---- deadlines (jobs run-due) -----------------------------------------------

def deadlines(now: datetime, failures: list[str]) -> int:
    """Remind the side that has not answered a day before its deadline; tell the mediator when
    both sides have spoken or the deadline has passed. Each dispute in isolation; returns emails queued."""
    from .isolation import each

    ids = list(db.session.scalars(db.select(Dispute.id).where(
        Dispute.status == "open", Dispute.decided_at.is_(None),
        db.or_(Dispute.reminded_at.is_(None), Dispute.mediator_told_at.is_(None)))))

    def due(dispute_id: int) -> bool:
        d = db.session.get(Dispute, dispute_id)
        silent = d.responded_at is None
        if silent and d.reminded_at is None and d.respond_by - REMIND_BEFORE <= now < d.respond_by:
            d.reminded_at = now
            side = other_party(d.opened_by)
            _tell(d, side, f"Reminder: answer the dispute about {d.milestone.title} by "
                           f"{d.respond_by:%Y-%m-%d %H:%M} UTC", "dispute_reminder")
        elif d.mediator_told_at is None and (not silent or now >= d.respond_by):
            d.mediator_told_at = now
            why = "both sides have spoken" if not silent else "the deadline to answer has passed"
            _notify_mediator(d, f"The dispute about {activity.milestones_of(d.contract, d.milestone.title)} is ready for "
                                f"your decision: {why}.")
            _tell(d, "owner", f"Dispute ready for your decision: {d.milestone.title} — {d.contract.title}",
                  "dispute_ready", why=why)
        else:
            return False
        db.session.commit()
        return True

    return each(ids, failures, "dispute deadline of dispute {}", due)


# ---- telling people -----------------------------------------------------------

def link_for(dispute: Dispute, role: str) -> str:
    """The dispute's page for ``role`` (for the client: with a fresh token, as every client email)."""
    if role == "client":
        return external_url("client.dispute_show", token=tokens.issue_token(dispute.contract), dispute_id=dispute.id)
    if role == "freelancer":
        return external_url("freelancer.dispute_show", contract_id=dispute.contract_id, dispute_id=dispute.id)
    return external_url("admin.dispute_show", dispute_id=dispute.id)


def _tell(dispute: Dispute, role: str, subject: str, template: str, **context) -> None:
    contract = dispute.contract
    mediator = owner()
    to = {"client": contract.client_email, "freelancer": contract.member.email,
          "owner": mediator.email if mediator is not None else None}[role]
    if to is None:
        return
    mailer.queue(to, subject, template, contract=contract, dispute=dispute, milestone=dispute.milestone,
                 role=role, mediator=mediator, link=link_for(dispute, role), **context)


def _notify_mediator(dispute: Dispute, message: str) -> None:
    """The mediator's bell — unless the contract is their own (they are notified as its freelancer)."""
    mediator = owner()
    if mediator is not None and mediator.id != dispute.contract.member_id:
        activity.notify_member(mediator.id, dispute.contract, message)


def _tell_everyone(dispute: Dispute, subject: str, template: str, **context) -> None:
    """Both parties and the mediator — the owner once, when they are also the freelancer."""
    mediator = owner()
    roles = ["client", "freelancer"]
    if mediator is not None and mediator.id != dispute.contract.member_id:
        roles.append("owner")
    for role in roles:
        _tell(dispute, role, subject, template, **context)
