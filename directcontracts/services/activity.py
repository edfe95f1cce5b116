"""Timeline entries and member notifications, added to the current transaction."""
from __future__ import annotations

from functools import cache

from ..extensions import db
from ..models import Contract, Notification, TimelineEvent, utcnow
from . import memo


def record(contract: Contract, kind: str, actor: str, message: str) -> TimelineEvent:
    """Append a timeline entry and bump the contract's last activity."""
    event = TimelineEvent(contract_id=contract.id, kind=kind, actor=actor, message=message,
                          created_at=utcnow())
    contract.last_activity_at = event.created_at
    db.session.add(event)
    return event


def milestones_of(contract: Contract, *titles: str) -> str:
    """“Logo” of “Website”, or just “Logo design” when the one milestone bears the contract's title
    (a single-amount contract): a notification names it once."""
    quoted = ", ".join(f"“{t}”" for t in titles)
    return quoted if list(titles) == [contract.title] else f"{quoted} of “{contract.title}”"


def notify(contract: Contract, message: str) -> Notification:
    """Notify the contract's freelancer of something they did not cause."""
    note = Notification(member_id=contract.member_id, contract_id=contract.id, message=message)
    db.session.add(note)
    return note


def notify_member(member_id: int, contract: Contract, message: str) -> Notification:
    """Notify another member about a contract that is not theirs (the mediator of its dispute)."""
    note = Notification(member_id=member_id, contract_id=contract.id, message=message)
    db.session.add(note)
    return note


@memo.per_request
def unread_count(member_id: int) -> int:
    """Unread notifications of a member, for the bell (once a request: the bell's fragment and the page around
    it both ask; a write in it asks again)."""
    return db.session.scalar(
        db.select(db.func.count(Notification.id)).where(
            Notification.member_id == member_id, Notification.read_at.is_(None)
        )
    ) or 0


def recent_notifications(member_id: int, limit: int = 100) -> list:
    """The member's newest notifications, as rows (``contract_id``, ``message``, ``created_at``, ``read_at``) with
    ``other``: the contract is another member's (the mediator's, about a dispute; the owner reads it read-only)."""
    return db.session.execute(_recent_statement(), {"member_id": member_id, "limit": limit}).all()


@cache
def _recent_statement():
    """``recent_notifications``' one statement, built once: plain rows, not models (the page shows 100)."""
    member_id = db.bindparam("member_id")
    return (db.select(Notification.contract_id, Notification.message, Notification.created_at, Notification.read_at,
                      (Contract.member_id != member_id).label("other"))
            .outerjoin(Contract, Contract.id == Notification.contract_id)
            .where(Notification.member_id == member_id)
            .order_by(Notification.id.desc()).limit(db.bindparam("limit")))


def mark_all_read(member_id: int) -> None:
    """Mark every unread notification of the member read."""
    db.session.execute(
        db.update(Notification).where(Notification.member_id == member_id,
                                      Notification.read_at.is_(None)).values(read_at=utcnow())
    )
    db.session.commit()


def timeline(contract: Contract) -> list[TimelineEvent]:
    """The contract's history, oldest first."""
    return list(db.session.scalars(
        db.select(TimelineEvent).where(TimelineEvent.contract_id == contract.id)
        .order_by(TimelineEvent.id)
    ))
