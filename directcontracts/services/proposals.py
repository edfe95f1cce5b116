"""Proposals: sending a contract to the client (first or after a revision), revising, withdrawing.

Sending snapshots what the client will sign and the fee rate, issues the
client's link and emails it; each use case commits once, then delivers email.

Revising never takes the proposal away from the client. ``revise`` makes a
*draft revision*: a copy of the sent contract (a contract row whose
``draft_of_id`` names it, with copies of its milestones) that the builder edits
like any draft. The sent contract's rows stay exactly as sent, so the client
can still read, sign and fund them. ``send`` of the draft revision applies it
onto the sent contract under the contract's lock and bumps the revision, so a
fund or reply form from the older page is refused; ``discard_revision`` deletes
it. Once the client signed or funded the sent revision (or declined it, or it
was withdrawn) the draft revision can only be discarded, and its pages say so.
"""
from __future__ import annotations

import json
from datetime import date

from ..domain.states import (ContractAction, ContractState, MilestoneAction, contract_transition,
                             milestone_transition, revision_refusal)
from ..extensions import db
from ..models import Contract, ContractRevision, Member, Milestone, PaymentItem, ShopSettings, utcnow
from . import activity, mailer, memo, presence, thread, tokens
from .client_actions import acceptance_of_current
from .contract_queries import summary_of
from .errors import InvalidTransition
from .links import client_link
from .locks import lock_contract, lock_without_payment


def readiness(contract: Contract, today: date | None = None) -> list[str]:
    """What still stops the contract from being sent (empty when ready)."""
    problems = []
    if not contract.title:
        problems.append("Give the contract a title (Terms).")
    if not contract.live_milestones:
        problems.append("Add an amount or at least one milestone (Terms).")
    today = today or date.today()
    for number, m in enumerate(contract.live_milestones, 1):
        if m.due_date and m.due_date < today:
            problems.append(f"Milestone {number}'s due date has passed; change it.")
    if contract.draft_of_id is not None and (refusal := stale_revision(contract)):
        problems.insert(0, refusal)
    return problems


@memo.per_request
def draft_revision_of(contract: Contract) -> Contract | None:
    """The draft revision the freelancer started of this sent contract, if any."""
    if presence.none(contract, "draft_revision"):
        return None
    return db.session.scalar(db.select(Contract).where(Contract.draft_of_id == contract.id))


def sent_contract_of(draft: Contract) -> Contract:
    """The sent contract a draft revision revises."""
    return db.session.get(Contract, draft.draft_of_id)


def stale_revision(draft: Contract) -> str | None:
    """Why this draft revision can no longer be sent, in words for its builder (None: it can be).

    The client may have signed or funded the sent revision, declined it, or the freelancer withdrew
    it since the draft was started: the client's answer stands, and the draft can only be discarded.
    """
    sent = sent_contract_of(draft)
    refusal = revision_refusal(sent.state, acceptance_of_current(sent) is not None)
    if refusal is None:
        return None
    answered = ("" if sent.state == ContractState.WITHDRAWN
                else f" {sent.client_name} answered revision {sent.revision} as it was sent.")
    return f"{refusal}{answered} Discard this draft revision to go back to the contract."


def _snapshot(contract: Contract) -> str:
    return json.dumps({
        "title": contract.title, "scope": contract.scope, "currency": contract.currency,
        "kind": contract.kind, "client": [contract.client_name, contract.client_email,
                                          contract.client_company],
        "fee_bps": contract.fee_bps,
        "milestones": [
            {"id": m.id, "title": m.title, "amount_minor": m.amount_minor,
             "due_date": m.due_date.isoformat() if m.due_date else None,
             "description": m.description}
            for m in contract.live_milestones
        ],
    }, sort_keys=True)


def send(contract: Contract, member: Member, today: date | None = None) -> Contract:
    """Send a draft (or a draft revision: ``send_revision``): snapshot, link token, email. Commits once.

    The fee rate is snapshotted from the shop settings now, so the freelancer
    is bound to the rate shown on the review page. Returns the contract sent.
    """
    if contract.draft_of_id is not None:
        return send_revision(contract, member, today)
    new_state = contract_transition(contract.state, ContractAction.SEND)
    problems = readiness(contract, today)
    if problems:
        raise InvalidTransition(" ".join(problems))
    contract.state = new_state
    return _deliver(contract, member, first=contract.revision == 0)


def _deliver(contract: Contract, member: Member, first: bool) -> Contract:
    """The next revision of ``contract`` to its client: rate, snapshot, link, email, timeline. Commits."""
    contract.fee_bps = ShopSettings.get().fee_bps
    contract.revision += 1
    contract.sent_at = utcnow()
    db.session.add(ContractRevision(contract_id=contract.id, number=contract.revision,
                                    snapshot=_snapshot(contract)))
    raw = tokens.issue_token(contract)
    subject = (f"{member.name} sent you a contract: {contract.title}" if first
               else f"{member.name} revised the contract: {contract.title}")
    mailer.queue(contract.client_email, subject, "proposal", contract=contract,
                 member=member, link=client_link(raw), revised=not first,
                 summary=summary_of(contract))
    activity.record(contract, "sent" if first else "revised", "freelancer",
                    f"Sent to {contract.client_email}." if first
                    else f"Revision {contract.revision} sent to {contract.client_email}.")
    if not first:  # answers a change request in the thread (the proposal email tells the client)
        thread.add(contract, "freelancer", f"Sent revision {contract.revision} of the proposal.",
                   kind="revision_sent", told=True)
    db.session.commit()
    mailer.deliver_pending()
    return contract


_CLIENT_PAYING = "The client is paying right now. Wait until the payment is confirmed."


def revise(contract: Contract, member: Member) -> Contract:
    """Start a draft revision of a sent proposal (or return the one started); returns the draft revision.

    The sent contract does not change: the client keeps reading, and may sign and fund, the
    revision they were sent until ``send`` of the draft revision. Refused (InvalidTransition)
    while a payment is being confirmed, once the client signed, and unless sent or with changes
    asked for.
    """
    contract = lock_without_payment(contract.id, _CLIENT_PAYING)
    if (draft := draft_revision_of(contract)) is not None:
        db.session.commit()  # nothing changed: end the transaction, and its lock
        return draft
    contract_transition(contract.state, ContractAction.REVISE)
    if refusal := revision_refusal(contract.state, acceptance_of_current(contract) is not None):
        db.session.rollback()
        raise InvalidTransition(refusal)
    draft = Contract(ref=_free_ref(), member_id=contract.member_id, client_name=contract.client_name,
                     client_email=contract.client_email, client_company=contract.client_company,
                     title=contract.title, scope=contract.scope, currency=contract.currency, kind=contract.kind,
                     state=ContractState.DRAFT, fee_bps=contract.fee_bps, draft_of_id=contract.id)
    for m in contract.live_milestones:
        draft.milestones.append(Milestone(position=m.position, title=m.title, amount_minor=m.amount_minor,
                                          due_date=m.due_date, description=m.description, draft_of_id=m.id))
    db.session.add(draft)
    activity.record(contract, "revision_started", "freelancer",
                    f"Draft revision started; {contract.client_name} still sees revision {contract.revision}.")
    db.session.commit()
    return draft


def _free_ref() -> str:
    """A reference no contract has (a draft revision needs one; the client never sees it)."""
    for _ in range(5):
        ref = tokens.new_ref()
        if db.session.scalar(db.select(Contract.id).where(Contract.ref == ref)) is None:
            return ref
    raise RuntimeError("could not allocate a contract reference")


def send_revision(draft: Contract, member: Member, today: date | None = None) -> Contract:
    """Apply the draft revision onto the sent contract and send it as the next revision; returns the contract.

    One transaction under the contract's lock (the one funding takes): the sent milestones are
    changed, added or removed as in the draft, the revision number goes up (a fund or reply form
    from an older page is then refused), the client is emailed, and the draft revision is deleted.
    Raises InvalidTransition (a payment being confirmed, the client signed, funded or declined it,
    it was withdrawn, the draft is not ready or was discarded).
    """
    draft_id = draft.id
    contract = lock_without_payment(draft.draft_of_id, _CLIENT_PAYING)
    draft = db.session.get(Contract, draft_id)
    if draft is None or draft.draft_of_id != contract.id:
        db.session.rollback()
        raise InvalidTransition("This draft revision was discarded.")
    problems = readiness(draft, today)
    if problems:
        db.session.rollback()
        raise InvalidTransition(" ".join(problems))
    new_state = contract_transition(contract.state, ContractAction.SEND_REVISION)
    _apply(draft, contract)
    contract.state = new_state
    db.session.delete(draft)
    db.session.flush()
    db.session.expire(contract, ["milestones"])  # read back in the draft's order, with the new rows' ids
    return _deliver(contract, member, first=False)


def _apply(draft: Contract, contract: Contract) -> None:
    """Make the sent contract's terms and milestones those of its draft revision (no commit).

    A sent milestone the draft kept is changed in place (its id stays); one the draft removed is
    deleted, or cancelled if a declined payment attempt names it (its record stays whole).
    """
    contract.title, contract.scope, contract.currency, contract.kind = (draft.title, draft.scope,
                                                                        draft.currency, draft.kind)
    contract.client_name, contract.client_email, contract.client_company = (
        draft.client_name, draft.client_email, draft.client_company)
    kept = {m.draft_of_id for m in draft.milestones if m.draft_of_id is not None}
    live = {m.id: m for m in contract.live_milestones}
    named = set(db.session.scalars(db.select(PaymentItem.milestone_id).where(
        PaymentItem.milestone_id.in_([mid for mid in live if mid not in kept]))))
    for mid, m in live.items():
        if mid in kept:
            continue
        if mid in named:
            m.state = milestone_transition(m.state, MilestoneAction.CANCEL)
        else:
            contract.milestones.remove(m)
    for position, d in enumerate(draft.milestones, 1):
        target = live.get(d.draft_of_id)
        if target is None:
            target = Milestone(contract=contract, title=d.title, amount_minor=d.amount_minor)
            db.session.add(target)
        target.position, target.title, target.amount_minor = position, d.title, d.amount_minor
        target.due_date, target.description = d.due_date, d.description
    contract.last_activity_at = utcnow()


def discard_revision(contract: Contract, member: Member) -> int:
    """Delete the draft revision of a sent contract; the client's revision stays as sent. Returns it.

    Allowed whatever happened since (signed, funded, declined, a payment being confirmed): the
    draft is the freelancer's alone. Raises InvalidTransition when there is none.
    """
    contract, _ = lock_contract(contract.id)  # not while its send is applying it
    draft = draft_revision_of(contract)
    if draft is None:
        db.session.rollback()
        raise InvalidTransition("There is no draft revision to discard.")
    db.session.delete(draft)
    activity.record(contract, "revision_discarded", "freelancer",
                    f"Draft revision discarded; revision {contract.revision} stays as sent.")
    db.session.commit()
    return contract.revision


def withdraw(contract: Contract, member: Member) -> Contract:
    """Withdraw a draft or unfunded sent contract; the client is told if it was sent."""
    contract = lock_without_payment(contract.id, _CLIENT_PAYING)
    contract.state = contract_transition(contract.state, ContractAction.WITHDRAW)
    if contract.revision > 0:
        mailer.queue(contract.client_email, f"Contract withdrawn: {contract.title}",
                     "withdrawn", contract=contract, member=member)
    activity.record(contract, "withdrawn", "freelancer", "Withdrawn.")
    db.session.commit()
    mailer.deliver_pending()
    return contract
