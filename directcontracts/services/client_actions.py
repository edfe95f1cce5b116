"""What a verified client does to a proposal: ask for changes, decline, accept."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy.exc import IntegrityError

from ..domain.rules import DECLINE_REASON, PROPOSAL_CHANGES, SIGNER_NAME, TextRule, check_text
from ..domain.states import ContractAction, ContractState, contract_transition
from ..extensions import db
from ..models import Acceptance, Contract, ContractRevision, TimelineEvent, utcnow
from . import activity, mailer, memo, presence, thread
from .errors import InvalidTransition, PageOutdated, ValidationFailed, clean_text
from .links import freelancer_link
from .locks import lock_without_payment

@dataclass(frozen=True)
class _Reply:
    action: ContractAction
    field: str
    rule: TextRule
    timeline: str
    notice: str
    subject: str
    template: str
    #: The kind of the reply's entry in the contract's thread.
    thread_kind: str


#: The client's two replies to a proposal, which differ only in their words.
REPLIES = {
    "changes": _Reply(ContractAction.REQUEST_CHANGES, "message", PROPOSAL_CHANGES,
                      "Asked for changes: {text}", "{client} asked for changes to “{title}”.",
                      "{client} asked for changes: {title}", "changes_requested", "proposal_changes"),
    "decline": _Reply(ContractAction.DECLINE, "reason", DECLINE_REASON, "Declined: {text}",
                      "{client} declined “{title}”.", "{client} declined: {title}", "declined", "declined"),
}


def reply(contract: Contract, kind: str, text: str, revision: int | None = None) -> Contract:
    """The client asks for changes to the proposal ("changes") or declines it ("decline").

    ``revision`` is the one the client read: a reply to an older one is
    refused (ValidationFailed on ``revision``). The freelancer is notified and
    emailed. Raises ValidationFailed (no text, another revision) and
    InvalidTransition (not waiting for an answer, or a payment is being confirmed).
    """
    r = REPLIES[kind]
    text = clean_text(text, r.field, r.rule)
    contract = lock_without_payment(contract.id)
    if revision is not None and revision != contract.revision:
        db.session.rollback()
        raise ValidationFailed({"revision": f"{contract.member.name} sent revision {contract.revision} of the "
                                            f"proposal since you opened revision {revision}. Read it before you reply."})
    contract.state = contract_transition(contract.state, r.action)
    words = {"client": contract.client_name, "title": contract.title, "text": text}
    activity.record(contract, r.template, "client", r.timeline.format(**words))
    activity.notify(contract, r.notice.format(**words))
    thread.add(contract, "client", text, kind=r.thread_kind, told=True)  # this reply's own email tells them
    mailer.queue(contract.member.email, r.subject.format(**words), r.template, contract=contract,
                 message=text, link=freelancer_link(contract))
    db.session.commit()
    mailer.deliver_pending()
    return contract


@memo.per_request
def current_revision(contract: Contract) -> ContractRevision | None:
    return db.session.scalar(
        db.select(ContractRevision).where(ContractRevision.contract_id == contract.id)
        .order_by(ContractRevision.number.desc()).limit(1)
    )


@cache
def _acceptance_statement():
    """The signature on the contract's newest revision (``current_revision``'s), built once (parameter ``cid``)."""
    current = (db.select(ContractRevision.id).where(ContractRevision.contract_id == db.bindparam("cid"))
               .order_by(ContractRevision.number.desc()).limit(1).scalar_subquery())
    return db.select(Acceptance).where(Acceptance.revision_id == current)


@memo.per_request
def acceptance_of_current(contract: Contract) -> Acceptance | None:
    """The client's signature on the revision they are looking at, if any."""
    return db.session.scalar(_acceptance_statement(), {"cid": contract.id})


def accept(contract: Contract, *, signer_name: str, agreed: bool, ip: str, user_agent: str,
           revision: int | None = None) -> Acceptance:
    """Record the client's signature on the current revision and commit (idempotent). Does not fund.

    Two first submits at once: the database keeps one signature per revision, and the second
    submit gets the first one's signature back (not an error).
    """
    contract_id = contract.id
    acceptance = sign(contract, revision=contract.revision if revision is None else revision,
                      signer_name=signer_name, agreed=agreed, ip=ip, user_agent=user_agent)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        first = acceptance_of_current(db.session.get(Contract, contract_id))
        if first is None:
            raise
        return first
    return acceptance


def sign(contract: Contract, *, revision: int, signer_name: str, agreed: bool, ip: str,
         user_agent: str) -> Acceptance:
    """Add the client's signature on ``revision`` — the one they read — to the session (no commit).

    Idempotent: an existing signature on the current revision is returned.
    Raises InvalidTransition (not awaiting a signature), PageOutdated (the
    client read another revision), ValidationFailed (no name, not agreed).
    """
    if contract.state != ContractState.SENT:
        raise InvalidTransition("This proposal cannot be accepted now.")
    if revision != contract.revision:
        raise PageOutdated([f"The freelancer sent revision {contract.revision} of the proposal; you opened "
                            f"revision {revision}. Read it again before you sign."])
    existing = acceptance_of_current(contract)
    if existing:
        return existing
    errors = {}
    signer_name = (signer_name or "").strip()
    if err := check_text(signer_name, SIGNER_NAME):
        errors["signer_name"] = err
    if not agreed:
        errors["agree"] = "Tick the box to agree to the terms."
    if errors:
        raise ValidationFailed(errors)
    current = current_revision(contract)
    acceptance = Acceptance(contract_id=contract.id, revision_id=current.id, signer_name=signer_name,
                            ip_address=(ip or "")[:64], user_agent=(user_agent or "")[:1000])
    db.session.add(acceptance)
    activity.record(contract, "signed", "client",
                    f"Signed revision {current.number} as “{signer_name}”.")
    return acceptance


VIEW_QUIET = timedelta(hours=1)


def record_view(contract: Contract) -> None:
    """The client opened the link: a timeline entry (at most one an hour); the first view
    of each revision also notifies the freelancer."""
    asked, last = presence.known(contract, "viewed_at")  # the page asks its other small questions with it
    if not asked:
        last = db.session.scalar(
            db.select(TimelineEvent.created_at).where(TimelineEvent.contract_id == contract.id,
                                                      TimelineEvent.kind == "viewed")
            .order_by(TimelineEvent.id.desc()).limit(1))
    now = utcnow()
    if last is not None and now - last < VIEW_QUIET:
        return
    activity.record(contract, "viewed", "client", f"The client opened the contract (revision {contract.revision}).")
    first_of_revision = last is None or (contract.sent_at is not None and last < contract.sent_at)
    if first_of_revision:
        activity.notify(contract, f"{contract.client_name} opened “{contract.title}”.")
    db.session.commit()
