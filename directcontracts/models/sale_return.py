"""Gateway sales the ledger could not take, and their way back to the client."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..domain.money import Money
from ..extensions import db
from .base import utcnow


class SaleReturn(db.Model):
    """A sale the gateway took that no escrow can hold, being (or already) given back.

    Written before the void/refund is asked for: ``transaction_id`` is unique,
    so two reconcilers never give one sale back twice, and a row left
    ``returning`` (the gateway did not answer, or refused) is retried by a
    later reconciliation, backing off (``next_attempt_at``); one still
    returning after a day is reported by ``ledger.check`` for a person. ``attempt_id`` is empty for a sale with no attempt at all.
    """

    __tablename__ = "sale_return"
    __table_args__ = (
        CheckConstraint("status IN ('returning','voided','refunded')", name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)  # the sale given back
    order_id: Mapped[str | None] = mapped_column(String(64))
    attempt_id: Mapped[str | None] = mapped_column(ForeignKey("payment_attempt.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), default="returning", index=True)
    reason: Mapped[str] = mapped_column(Text, default="")  # why the ledger could not take it, in plain words
    return_transaction_id: Mapped[str | None] = mapped_column(String(64))  # the voided sale or the refund
    message: Mapped[str] = mapped_column(Text, default="")  # the gateway's last word (refusals included)
    claimed_at: Mapped[datetime | None] = mapped_column()  # a reconciler is calling the gateway for it
    #: Give-backs tried that the gateway did not answer or refused, and when the next is due (back-off).
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)
