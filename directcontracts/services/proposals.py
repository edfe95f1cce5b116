"""Proposals: sending a contract to the client (first or after a revision), revising, withdrawing.

Sending snapshots what the client will sign and the fee rate, issues the
client's link and emails it; each use case commits once, then delivers email.
"""
from __future__ import annotations

import json
from datetime import date

from ..domain.states import ContractAction, contract_transition
from ..extensions import db
from ..models import Contract, ContractRevision, Member, ShopSettings, utcnow
from . import activity, mailer, thread, tokens
from .contract_queries import summary_of
from .errors import InvalidTransition
from .links import client_link
from .locks import lock_without_payment


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
    return problems


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
    """Send (or re-send after a revision): snapshot, link token, email. Commits once.

    The fee rate is snapshotted from the shop settings now, so the freelancer
    is bound to the rate shown on the review page.
    """
    new_state = contract_transition(contract.state, ContractAction.SEND)
    problems = readiness(contract, today)
    if problems:
        raise InvalidTransition(" ".join(problems))
    first = contract.revision == 0
    contract.fee_bps = ShopSettings.get().fee_bps
    contract.state = new_state
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
    """Reopen a sent contract for editing; the client's link says it is being revised."""
    contract = lock_without_payment(contract.id, _CLIENT_PAYING)
    contract.state = contract_transition(contract.state, ContractAction.REVISE)
    activity.record(contract, "revising", "freelancer", "Reopened for revision.")
    db.session.commit()
    return contract


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
