"""Contracts, their milestones and the revisions sent to the client."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..domain import rules
from ..domain.money import Money
from ..domain.states import FINISHED, ContractState, MilestoneState
from ..extensions import db
from .base import utcnow


class Contract(db.Model):
    """A fixed-price contract between a member and a client without an account."""

    __tablename__ = "contract"
    __table_args__ = (
        CheckConstraint("kind IN ('single', 'milestones')", name="kind"),
        CheckConstraint("revision >= 0", name="revision_nonneg"),
        Index("ix_contract_member_activity", "member_id", "last_activity_at"),
        # The owner's list of every contract, newest activity first; a member's list filtered by status
        # (and its count).
        Index("ix_contract_activity", "last_activity_at", "id"),
        Index("ix_contract_member_state", "member_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    client_name: Mapped[str] = mapped_column(String(rules.CLIENT_NAME.max_length))
    client_email: Mapped[str] = mapped_column(String(rules.EMAIL_LENGTH))
    client_company: Mapped[str] = mapped_column(String(rules.CLIENT_COMPANY.max_length), default="")
    title: Mapped[str] = mapped_column(String(rules.TITLE.max_length), default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    kind: Mapped[str] = mapped_column(String(10), default="milestones")
    state: Mapped[str] = mapped_column(String(20), default=ContractState.DRAFT, index=True)
    fee_bps: Mapped[int] = mapped_column()
    revision: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When it reached a finished state (completed, ended, declined, withdrawn); its client
    #: links expire CLIENT_LINK_DAYS_AFTER_END days after (services.tokens).
    closed_at: Mapped[datetime | None] = mapped_column()
    #: Set on a *draft revision*: the builder's working copy of a sent proposal's next revision (this
    #: contract's row id). The client keeps seeing the sent contract until the freelancer sends the
    #: copy, which is applied onto it (services.proposals); it is never a contract of its own.
    draft_of_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"), unique=True)

    member = relationship("Member")

    @validates("state")
    def _stamp_closed(self, key: str, value: str) -> str:
        """Every way a contract finishes goes through its state: note when, once."""
        if value in FINISHED and self.state not in FINISHED:
            self.closed_at = utcnow()
        return value
    milestones: Mapped[list["Milestone"]] = relationship(
        back_populates="contract", order_by="Milestone.position",
        cascade="all, delete-orphan",
    )

    @property
    def live_milestones(self) -> list["Milestone"]:
        return [m for m in self.milestones if m.state != MilestoneState.CANCELLED]

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    @property
    def total(self) -> Money:
        return self.money(sum(m.amount_minor for m in self.live_milestones))


class Milestone(db.Model):
    """One funded-and-released unit of work. A single-amount contract has one."""

    __tablename__ = "milestone"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    position: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(rules.TITLE.max_length))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date | None] = mapped_column()
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default=MilestoneState.PENDING)
    #: The payment attempt that holds this milestone while its charge is in flight
    #: or unconfirmed: set atomically, so two attempts can never charge for one milestone.
    hold_attempt_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    funded_at: Mapped[datetime | None] = mapped_column()
    #: Set when added or changed after the contract became active (the client sees "new"/"changed").
    revised_at: Mapped[datetime | None] = mapped_column()
    submitted_at: Mapped[datetime | None] = mapped_column()
    submit_note: Mapped[str] = mapped_column(Text, default="")
    deliverable_url: Mapped[str] = mapped_column(String(rules.DELIVERABLE_URL.max_length), default="")
    #: When an unanswered payment request is released automatically (None: no clock running).
    auto_release_at: Mapped[datetime | None] = mapped_column(index=True)
    settled_at: Mapped[datetime | None] = mapped_column()
    #: On a draft revision's milestone: the sent contract's milestone it edits (None: one it adds).
    draft_of_id: Mapped[int | None] = mapped_column(ForeignKey("milestone.id"))

    contract: Mapped[Contract] = relationship(back_populates="milestones")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.contract.currency)


class ContractRevision(db.Model):
    """What exactly was sent to the client, each time it was sent (JSON snapshot)."""

    __tablename__ = "contract_revision"
    __table_args__ = (UniqueConstraint("contract_id", "number", name="uq_revision_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    number: Mapped[int] = mapped_column()
    snapshot: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientToken(db.Model):
    """A client link's secret, stored only as its SHA-256 hash.

    Each email that carries a link gets a fresh token, so earlier links keep
    working until the freelancer sends a new link, which revokes them all
    (``revoked_at``; the old link then says it was replaced).
    """

    __tablename__ = "client_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class Refund(db.Model):
    """Giving a milestone's money back through the gateway.

    At most one refund per milestone that is not ``failed`` (a partial unique
    index): one waiting for its payment to settle (``queued``: a partial refund
    of an unsettled sale, which the gateway cannot make yet; nothing was asked
    of it), in flight (``pending``, ``unknown``) or done (``succeeded``).
    A ``failed`` refund is kept, not deleted: its order id is how a refund
    that lands at the gateway after being declared failed is still found
    (``services.refunds``), before the milestone is refunded again and by
    reconciliation for ``RECHECK_FAILED`` after.
    """

    __tablename__ = "refund"
    __table_args__ = (
        Index("uq_refund_milestone_open", "milestone_id", unique=True,
              sqlite_where=text("status != 'failed'"), postgresql_where=text("status != 'failed'")),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("status IN ('queued','pending','unknown','succeeded','failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestone.id"), index=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("payment_attempt.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # queued, pending, unknown, succeeded, failed
    kind: Mapped[str | None] = mapped_column(String(10))  # voided or refunded
    #: The void or refund the gateway made. On a ``failed`` row: one found after the milestone was
    #: settled otherwise, which the books could not take (``ledger.check`` reports it).
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When reconciliation declared it not made.
    failed_at: Mapped[datetime | None] = mapped_column()
    #: Look-ups at the gateway that changed nothing so far, and when the next is due (back-off).
    checks: Mapped[int] = mapped_column(default=0, server_default="0")
    next_check_at: Mapped[datetime | None] = mapped_column()
    #: Set when the refund carries out a dispute's decision (all back, or the client's part of a split):
    #: posting it posts the whole decision (``services.disputes``).
    dispute_id: Mapped[int | None] = mapped_column(ForeignKey("dispute.id"))


class Reminder(db.Model):
    """A reminder that was sent, so each is sent once (unique per milestone, kind and key)."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("milestone_id", "kind", "key", name="uq_reminder_once"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestone.id"))
    kind: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
