"""The conversation on a contract, and disputes over a milestone's money."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..domain import rules
from ..extensions import db
from .base import utcnow

AUTHORS = "author IN ('client','freelancer','owner','system')"


class Message(db.Model):
    """One entry of a contract's thread: a message, or what a party said with an action.

    ``kind`` says which: ``message``; ``proposal_changes``, ``declined``,
    ``payment_request``, ``milestone_changes``, ``revision_sent``;
    ``dispute_opened``, ``dispute_message``, ``dispute_proposal``,
    ``dispute_decision``. ``emailed_at`` is set once the other side was told
    (several messages within minutes make one email).
    """

    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint(AUTHORS, name="author"),
        Index("ix_message_contract_created", "contract_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestone.id"))
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("dispute.id"), index=True)
    author: Mapped[str] = mapped_column(String(12))
    author_name: Mapped[str] = mapped_column(String(rules.NAME_LENGTH))
    kind: Mapped[str] = mapped_column(String(30), default="message")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    emailed_at: Mapped[datetime | None] = mapped_column(index=True)


class Dispute(db.Model):
    """A disagreement over one milestone's money: the funds stay frozen until it closes.

    At most one open dispute per milestone (a partial unique index). The
    decision (``release_minor`` to the freelancer, ``refund_minor`` back to the
    client) is written before any money moves; while the client's part is
    being refunded the dispute stays ``open`` with ``decided_at`` set, and it
    closes when that refund is posted (``services.disputes``).
    """

    __tablename__ = "dispute"
    __table_args__ = (
        Index("uq_dispute_milestone_open", "milestone_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        CheckConstraint("status IN ('open','closed')", name="status"),
        CheckConstraint("opened_by IN ('client','freelancer')", name="opened_by"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("proposal_by IS NULL OR proposal_by IN ('client','freelancer')", name="proposal_by"),
        CheckConstraint("outcome IS NULL OR outcome IN ('released','refunded','split')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestone.id"), index=True)
    status: Mapped[str] = mapped_column(String(8), default="open", index=True)
    opened_by: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(20))
    #: The amount in question, as the opener put it (at most the milestone's amount).
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    #: The milestone's state when the dispute was opened (funded or submitted).
    from_state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The other side's time to answer, and when they did; the reminder and the mediator's notice.
    respond_by: Mapped[datetime] = mapped_column()
    responded_at: Mapped[datetime | None] = mapped_column()
    reminded_at: Mapped[datetime | None] = mapped_column()
    mediator_told_at: Mapped[datetime | None] = mapped_column()
    #: An offer to split: what the freelancer would get, the rest back to the client.
    proposal_by: Mapped[str | None] = mapped_column(String(12))
    proposal_release_minor: Mapped[int | None] = mapped_column(BigInteger)
    #: The decision: by whom (client, freelancer, both — an accepted split — or owner), why, what.
    decided_by: Mapped[str | None] = mapped_column(String(12))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    release_minor: Mapped[int | None] = mapped_column(BigInteger)
    refund_minor: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str | None] = mapped_column(String(10))
    closed_at: Mapped[datetime | None] = mapped_column()

    contract = relationship("Contract")
    milestone = relationship("Milestone")
