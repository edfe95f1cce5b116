"""What the gateway tells us after the sale: webhook notifications, and chargebacks from the client's bank."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..domain.money import Money
from ..extensions import db
from .base import utcnow


class WebhookNotification(db.Model):
    """One notification as received, verified and stored raw before it is applied.

    ``digest`` (SHA-256 of the signed payload) is unique: a notification the
    gateway delivers twice is stored once and applied once. ``event`` is the
    parsed event (JSON) so that one whose applying failed can be applied again
    by ``jobs run-due`` without the signature. ``status``: ``received`` (not
    applied yet, or applying failed: ``message`` says why), ``applied``,
    ``ignored`` (nothing of ours, or a kind we do not act on).
    """

    __tablename__ = "webhook_notification"
    __table_args__ = (
        CheckConstraint("status IN ('received','applied','ignored')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(60))
    #: The sale, or the dispute, the notification is about (when it names one).
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(Text)
    #: When the gateway sent it (its own timestamp), if it says.
    sent_at: Mapped[datetime | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="received", index=True)
    tries: Mapped[int] = mapped_column(default=0)
    applied_at: Mapped[datetime | None] = mapped_column()
    message: Mapped[str] = mapped_column(Text, default="")


class Chargeback(db.Model):
    """A dispute the client's bank opened on one of our sales (Braintree: a dispute of kind chargeback …).

    While ``open`` the milestones that sale paid for are frozen: nothing is
    released or refunded. ``won``: the freeze lifts. ``lost`` / ``accepted``:
    the bank gave the client ``amount_minor`` back; one journal (kind
    ``chargeback``, ``Journal.chargeback_id``) takes it from escrow, or from
    what was released (the freelancer then owes it), see ``services.chargebacks``.
    """

    __tablename__ = "chargeback"
    __table_args__ = (
        CheckConstraint("status IN ('open','won','lost','accepted')", name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(64), unique=True)
    transaction_id: Mapped[str] = mapped_column(String(64), index=True)
    #: The payment it is about (None: a sale of no payment of ours).
    attempt_id: Mapped[str | None] = mapped_column(ForeignKey("payment_attempt.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(20), default="chargeback")
    reason: Mapped[str] = mapped_column(String(60), default="")
    reply_by: Mapped[date | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()
    #: The gateway's time of the newest notification applied (older ones arriving late change nothing).
    event_at: Mapped[datetime | None] = mapped_column()
    #: The owner sent the evidence to the bank (no more can be added).
    finalized_at: Mapped[datetime | None] = mapped_column()

    evidence: Mapped[list["ChargebackEvidence"]] = relationship(
        back_populates="chargeback", order_by="ChargebackEvidence.id", cascade="all, delete-orphan")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class ChargebackEvidence(db.Model):
    """A text the owner sent the bank through the gateway (``gateway_id``: its id there)."""

    __tablename__ = "chargeback_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    chargeback_id: Mapped[int] = mapped_column(ForeignKey("chargeback.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    gateway_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    chargeback: Mapped[Chargeback] = relationship(back_populates="evidence")
