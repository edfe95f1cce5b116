"""The conversation on a contract: messages of both parties, and what each said with an action.

``add`` puts an entry in the current transaction (the caller commits, with
the change it goes with); the other side is emailed later, several messages
within minutes in one email (``email_due``, run by ``jobs run-due`` and after
each post).
"""
from __future__ import annotations

from ..extensions import db
from ..models import Contract, Dispute, Message, Milestone, utcnow

#: Who each author is shown as, when the name is not given.
AUTHORS = ("client", "freelancer", "owner", "system")


def author_name(contract: Contract, author: str) -> str:
    """The name a party is shown by on this contract (the owner and the system are named by the caller)."""
    if author == "client":
        return contract.client_name
    if author == "freelancer":
        return contract.member.name
    return "Direct Contracts"


def add(contract: Contract, author: str, body: str, *, kind: str = "message", name: str | None = None,
        milestone: Milestone | None = None, dispute: Dispute | None = None) -> Message:
    """Append an entry to the contract's thread (in the current transaction)."""
    if author not in AUTHORS:
        raise ValueError(f"unknown author {author!r}")
    message = Message(contract_id=contract.id, author=author, author_name=name or author_name(contract, author),
                      kind=kind, body=body, created_at=utcnow(),
                      milestone_id=milestone.id if milestone is not None else None,
                      dispute_id=dispute.id if dispute is not None else None)
    db.session.add(message)
    contract.last_activity_at = message.created_at
    return message


def messages(contract: Contract, *, dispute: Dispute | None = None) -> list[Message]:
    """The thread, oldest first (``dispute``: that dispute's entries only)."""
    query = db.select(Message).where(Message.contract_id == contract.id)
    if dispute is not None:
        query = query.where(Message.dispute_id == dispute.id)
    return list(db.session.scalars(query.order_by(Message.created_at, Message.id)))
