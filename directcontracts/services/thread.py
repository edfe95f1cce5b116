"""The conversation on a contract: messages of both parties, and what each said with an action.

``add`` puts an entry in the current transaction (the caller commits, with
the change it goes with); ``post`` is the use case of a party writing a
message. The other side is emailed later, several messages within minutes in
one email (``email_due``, run by ``jobs run-due`` and after each post).
Entries that an action makes (a change request, a payment request...) are
marked emailed when they are added: the action sends its own email.

``open_request`` is the client's change request the freelancer has not acted
on yet; ``money_events`` is what happened to the client's money, in plain words.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from werkzeug.routing import BuildError

from ..domain.money import Money
from ..domain.rules import THREAD_MESSAGE
from ..domain.ledger import CLIENT, ESCROW
from ..domain.states import ContractState, MilestoneState
from ..extensions import db
from ..models import Chargeback, Contract, Dispute, Message, Milestone, utcnow
from . import activity, brand, ledger, mailer, memo, presence
from .errors import InvalidTransition, clean_text
from .isolation import each, isolated
from .links import external_url, freelancer_link, fresh_client_link

log = logging.getLogger(__name__)

#: Who each author is shown as, when the name is not given.
AUTHORS = ("client", "freelancer", "owner", "system")
#: The parties who write messages of their own (``post``).
PARTIES = ("client", "freelancer")

#: Messages within this long of each other make one email; the newest must be this old before it goes.
BATCH = timedelta(minutes=3)
#: ...but nobody waits longer than this for the oldest one, however busy the thread.
LONGEST_WAIT = timedelta(minutes=15)
#: The kinds ``email_due`` emails: what a party wrote. Every other kind is told by the action that made it.
EMAILED_KINDS = ("message", "dispute_message", "dispute_proposal")
#: The client's requests that stay open on the freelancer's page until they act.
REQUEST_KINDS = ("proposal_changes", "milestone_changes")

#: What an entry that came with an action says it is (shown beside the author).
KIND_LABELS = {
    "proposal_changes": "asked for changes to the proposal",
    "declined": "declined the proposal",
    "payment_request": "requested payment",
    "milestone_changes": "asked for changes on a milestone",
    "revision_sent": "sent a revision",
    "dispute_opened": "opened a dispute",
    "dispute_message": "on the dispute",
    "dispute_proposal": "offered a settlement",
    "dispute_decision": "decided the dispute",
}


def author_name(contract: Contract, author: str) -> str:
    """The name a party is shown by on this contract (the owner and the system are named by the caller)."""
    if author == "client":
        return contract.client_name
    if author == "freelancer":
        return contract.member.name
    return brand.current().name  # the shop speaks for the system


def add(contract: Contract, author: str, body: str, *, kind: str = "message", name: str | None = None,
        milestone: Milestone | None = None, dispute: Dispute | None = None, told: bool = False) -> Message:
    """Append an entry to the contract's thread (in the current transaction).

    ``told``: the action that adds it emails the other side itself, so the
    thread's emails leave it out.
    """
    if author not in AUTHORS:
        raise ValueError(f"unknown author {author!r}")
    now = utcnow()
    message = Message(contract_id=contract.id, author=author, author_name=name or author_name(contract, author),
                      kind=kind, body=body, created_at=now, emailed_at=now if told else None,
                      milestone_id=milestone.id if milestone is not None else None,
                      dispute_id=dispute.id if dispute is not None else None)
    db.session.add(message)
    contract.last_activity_at = message.created_at
    return message


def messages(contract: Contract, *, dispute: Dispute | None = None) -> list[Message]:
    """The thread, oldest first (``dispute``: that dispute's entries only)."""
    if dispute is None:
        return list(_thread(contract))
    query = db.select(Message).where(Message.contract_id == contract.id, Message.dispute_id == dispute.id)
    return list(db.session.scalars(query.order_by(Message.created_at, Message.id)))


@cache
def _thread_statement():
    """A contract's whole thread, oldest first; built once (parameter ``cid``)."""
    return (db.select(Message).where(Message.contract_id == db.bindparam("cid"))
            .order_by(Message.created_at, Message.id))


@memo.per_request
def _thread(contract: Contract) -> tuple[Message, ...]:
    """The whole thread, oldest first: once a request (the page shows it and finds the open request in it)."""
    if presence.none(contract, "messages"):
        return ()
    return tuple(db.session.scalars(_thread_statement(), {"cid": contract.id}))


def may_post(contract: Contract, author: str) -> str | None:
    """Why ``author`` may not write on the contract now, or None when they may."""
    if contract.state == ContractState.WITHDRAWN:
        return "This contract was withdrawn: its thread is closed."
    if contract.revision == 0:
        return ("The client can write once the proposal has been sent." if author == "client"
                else "Send the proposal first: the client sees the messages once it has been sent.")
    return None


def post(contract: Contract, author: str, body: str) -> Message:
    """A party (``client`` or ``freelancer``) writes on the contract's thread. Commits.

    The other side is emailed a few minutes later (with whatever else is
    written meanwhile); a client's message also notifies the freelancer.
    Raises ValidationFailed (``body``: empty or too long) and InvalidTransition
    (a withdrawn contract; a proposal not sent yet).
    """
    if author not in PARTIES:
        raise ValueError(f"{author!r} does not post on the thread")
    body = clean_text(body, "body", THREAD_MESSAGE)
    if refusal := may_post(contract, author):
        raise InvalidTransition(refusal)
    message = add(contract, author, body)
    if author == "client":
        excerpt = body if len(body) <= 80 else body[:79].rstrip() + "…"
        activity.notify(contract, f"{contract.client_name} wrote about “{contract.title}”: {excerpt}")
    db.session.commit()
    _email_quiet_threads(message.created_at)
    return message


def _email_quiet_threads(now: datetime) -> None:
    """After a post: email the threads that have gone quiet meanwhile; never fails the post."""
    failures: list[str] = []
    isolated(failures, "emailing quiet threads", lambda: email_due(now, failures))
    for problem in failures:
        log.warning("thread email after a post: %s", problem)
    mailer.deliver_pending()


# ---- emailing the other side --------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    role: str  # client, freelancer, owner
    email: str
    link: str


def _recipients(contract: Contract, message: Message, mediator) -> list[str]:
    """Who is told of ``message``: the other party; the mediator too on a dispute (not their own case)."""
    roles = [role for role in PARTIES if role != message.author]
    if (message.dispute_id is not None and mediator is not None and message.author != "owner"
            and mediator.id != contract.member_id):
        roles.append("owner")
    return roles


def _address(contract: Contract, role: str, mediator, told: list[Message]) -> Recipient | None:
    if role == "client":
        if contract.state == ContractState.WITHDRAWN:
            return None  # the client's link no longer opens it
        return Recipient(role, contract.client_email, fresh_client_link(contract))
    if role == "freelancer":
        return Recipient(role, contract.member.email, freelancer_link(contract))
    if mediator is None:
        return None
    return Recipient(role, mediator.email, _owner_link(contract, told[-1].dispute_id))


def _owner_link(contract: Contract, dispute_id: int | None) -> str:
    """The mediator's page of the dispute (or of the contract) on the admin pages; the freelancer page
    of the contract while the admin pages have neither (the owner, a member, may open it)."""
    for endpoint, values in (("admin.dispute_show", {"dispute_id": dispute_id}),
                             ("admin.contract_show", {"contract_id": contract.id})):
        if endpoint in current_app.view_functions and None not in values.values():
            try:
                return external_url(endpoint, **values)
            except BuildError:
                continue
    return freelancer_link(contract)


def _due(pending: list[Message], now: datetime) -> bool:
    """Has the batch gone quiet (its newest is BATCH old), or has its oldest waited LONGEST_WAIT?"""
    return pending[-1].created_at <= now - BATCH or pending[0].created_at <= now - LONGEST_WAIT


def email_due(now: datetime | None = None, failures: list[str] | None = None) -> int:
    """Email each contract's unemailed messages once they are due: ONE email per recipient.

    A contract's batch is due when its newest message is BATCH old or its
    oldest LONGEST_WAIT old. A recipient is not emailed what they have since
    answered in the thread. Each contract in isolation (a failure is appended
    to ``failures``); returns how many emails were queued.
    """
    from . import disputes  # disputes adds to the thread: imported here, not at the top (a cycle)

    now = now or utcnow()
    failures = [] if failures is None else failures
    ids = list(db.session.scalars(
        db.select(Message.contract_id).where(Message.emailed_at.is_(None), Message.kind.in_(EMAILED_KINDS),
                                             Message.created_at <= now).distinct()))
    queued = [0]

    def send(contract_id: int) -> bool:
        contract = db.session.get(Contract, contract_id)
        pending = list(db.session.scalars(
            db.select(Message).where(Message.contract_id == contract_id, Message.emailed_at.is_(None),
                                     Message.kind.in_(EMAILED_KINDS), Message.created_at <= now)
            .order_by(Message.created_at, Message.id)))
        if not pending or not _due(pending, now):
            return False
        queued[0] += _queue_emails(contract, pending, now, disputes.owner())
        for message in pending:
            message.emailed_at = now
        db.session.commit()
        return True

    each(ids, failures, "thread email of contract {}", send)
    return queued[0]


def _queue_emails(contract: Contract, pending: list[Message], now: datetime, mediator) -> int:
    thread = messages(contract)
    count = 0
    for role in ("client", "freelancer", "owner"):
        told = [m for m in pending if role in _recipients(contract, m, mediator) and not _answered(thread, m, role)]
        recipient = _address(contract, role, mediator, told) if told else None
        if recipient is None:
            continue
        names = sorted({m.author_name for m in told})
        subject = (f"{names[0]} wrote about {contract.title}" if len(told) == 1
                   else f"{len(told)} new messages about {contract.title}")
        mailer.queue(recipient.email, subject, "messages", contract=contract, messages=told,
                     role=role, link=recipient.link)
        count += 1
    return count


def _answered(thread: list[Message], message: Message, role: str) -> bool:
    """Has ``role`` written after ``message`` in the same conversation (the contract's, or that dispute's)?
    Then they have read it: it is not emailed to them."""
    return any(m.author == role and m.dispute_id == message.dispute_id
               and (m.created_at, m.id) > (message.created_at, message.id) for m in thread)


# ---- what the pages show ------------------------------------------------------

def open_request(contract: Contract) -> Message | None:
    """The client's newest change request (proposal or milestone) the freelancer has not acted on yet.

    Acting is anything the freelancer puts in the thread after it: a revision
    sent, a payment requested again, a reply.
    """
    thread = _thread(contract)  # oldest first, by (created_at, id)
    for at, message in reversed(list(enumerate(thread))):
        if message.author == "client" and message.kind in REQUEST_KINDS:
            answered = any(later.author == "freelancer" for later in thread[at + 1:])
            return None if answered else message
    return None


@dataclass(frozen=True)
class MoneyEvent:
    """One line of the client's money timeline; ``upcoming``: a date still ahead."""

    at: datetime
    text: str
    upcoming: bool = False


def _titles(titles: list[str]) -> str:
    quoted = [f"“{t}”" for t in titles]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


#: The entries the client's money timeline tells: escrow's side of a contract's fundings, releases and refunds;
#: what a take-back gave the client is its client side (part of it may have come from releases).
TOLD = {(ESCROW, "funding"), (ESCROW, "release"), (ESCROW, "refund"), (CLIENT, "reversal"), (CLIENT, "chargeback")}


def money_events(contract: Contract, now: datetime | None = None) -> list[MoneyEvent]:
    """What happened to the client's money, oldest first, in plain words and without internal references.

    From the ledger (paid into escrow, released, refunded), the disputes
    (opened, closed) and the auto-release dates still ahead.
    """
    now = now or utcnow()
    titles = {m.id: m.title for m in contract.milestones}
    freelancer = contract.member.name
    journals: dict[int, tuple[str, datetime, list[str], int]] = {}
    for journal_id, kind, at, milestone_id, account, amount in ledger.contract_entries(contract.id):
        if (account, kind) not in TOLD:
            continue
        _, _, names, total = journals.get(journal_id, (kind, at, [], 0))
        amount = amount if kind in ("reversal", "chargeback") else abs(amount)
        journals[journal_id] = (kind, at, [*names, titles.get(milestone_id, "a milestone")], total + amount)
    events = []
    for kind, at, names, total in journals.values():
        amount, what = Money(total, contract.currency).format(), _titles(list(dict.fromkeys(names)))
        text = {"funding": f"You paid {amount} into escrow for {what}.",
                "release": f"{amount} was released to {freelancer} for {what}.",
                "refund": f"{amount} was refunded to you for {what}.",
                "reversal": f"Your payment of {amount} for {what} did not go through after all (the payment "
                            f"processor declined it): it was not taken from you.",
                "chargeback": f"Your bank gave you back {amount} for {what} (a chargeback)."}.get(kind)
        if text:
            events.append(MoneyEvent(at, text))
    from . import chargebacks, disputes  # both add to the thread: imported here, not at the top (a cycle)
    for cb in chargebacks.for_contract(contract):
        events.append(MoneyEvent(cb.opened_at, f"Your bank opened a chargeback of {cb.amount.format()}: the money "
                                               f"still in escrow for it is frozen until the bank decides."))
        if cb.status == "won" and cb.closed_at is not None:
            events.append(MoneyEvent(cb.closed_at, f"Your bank decided the chargeback of {cb.amount.format()} "
                                                   f"for {freelancer}: the money stays as it was."))
    outcomes = {"released": "the money went to " + freelancer, "refunded": "the money was refunded to you",
                "split": "the money was divided between you and " + freelancer}
    for d in disputes.for_contract(contract):
        title = titles.get(d.milestone_id, "a milestone")
        events.append(MoneyEvent(d.created_at, f"A dispute about “{title}” was opened: its money is held "
                                               f"until it is settled."))
        if d.status == "closed" and d.closed_at is not None:
            how = outcomes.get(d.outcome or "", "")
            events.append(MoneyEvent(d.closed_at, f"The dispute about “{title}” was closed" +
                                     (f": {how}." if how else ".")))
    for m in contract.milestones:
        if m.state == MilestoneState.SUBMITTED and m.auto_release_at is not None and m.auto_release_at > now:
            events.append(MoneyEvent(m.auto_release_at, f"“{m.title}” ({m.amount.format()}) will be released to "
                                     f"{freelancer} automatically unless you approve it or ask for changes "
                                     f"before then.", upcoming=True))
    return sorted(events, key=lambda e: (e.upcoming, e.at))
