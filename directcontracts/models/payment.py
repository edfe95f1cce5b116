"""Payment attempts and the double-entry escrow ledger."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..domain import rules
from ..domain.money import Money
from ..extensions import db
from .base import utcnow


class PaymentAttempt(db.Model):
    """One try to charge the client, recorded before the gateway is called.

    ``id`` is the order id sent to the gateway, so reconciliation can find the
    sale; ``idempotency_key`` comes from the form, so a repeated submit finds
    this row instead of charging again.
    """

    __tablename__ = "payment_attempt"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending','succeeded','declined','rejected','failed','unknown','returned',"
                        "'reversed')",
                        name="status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: ``returned``: the gateway took the money, but the contract could no longer take it
    #: (closed, or its milestones paid meanwhile): no funding journal; see SaleReturn.
    #: ``reversed``: it succeeded, then the processor declined settling it: its funding journal is
    #: undone by one ``reversal`` journal (``services.chargebacks.reverse``).
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    method: Mapped[str | None] = mapped_column(String(10))
    card_brand: Mapped[str | None] = mapped_column(String(40))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    paypal_email: Mapped[str | None] = mapped_column(String(rules.EMAIL_LENGTH))
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    processor_code: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    #: Where a succeeded charge is in the gateway's settlement (Braintree's status): ``submitted_for_settlement``
    #: → ``settling`` → ``settled``, or ``settlement_declined`` (``voided`` once cancelled whole). None: not
    #: known yet. Kept up to date by ``funding.mark_settled`` / ``mark_settlement_declined`` (webhooks) and by
    #: the look-ups of ``funding.check_settlements`` (jobs run-due). A partial refund waits for it (queued).
    settlement: Mapped[str | None] = mapped_column(String(30))
    #: When the gateway was last asked about the settlement (look-ups are spaced out).
    settlement_checked_at: Mapped[datetime | None] = mapped_column()

    items: Mapped[list["PaymentItem"]] = relationship(back_populates="attempt", cascade="all, delete-orphan")

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class PaymentItem(db.Model):
    """The share of an attempt that funds one milestone."""

    __tablename__ = "payment_item"
    __table_args__ = (
        UniqueConstraint("attempt_id", "milestone_id", name="uq_payment_item"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("payment_attempt.id"), index=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestone.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)

    attempt: Mapped[PaymentAttempt] = relationship(back_populates="items")
    milestone = relationship("Milestone")


class Journal(db.Model):
    """A balanced set of ledger entries: one money movement."""

    __tablename__ = "journal"
    __table_args__ = (
        CheckConstraint("kind IN ('funding','release','refund','reversal','chargeback')", name="kind"),
        # one funding journal per succeeded attempt (and one reversal of it), enforced by the database
        UniqueConstraint("payment_attempt_id", "kind", name="uq_journal_payment_attempt_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    payment_attempt_id: Mapped[str | None] = mapped_column(ForeignKey("payment_attempt.id"))
    #: A ``chargeback`` journal: the lost chargeback it posts (one each).
    chargeback_id: Mapped[int | None] = mapped_column(ForeignKey("chargeback.id"), unique=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    #: When it was posted (UTC): the payouts report's month and ``LedgerDay``'s day (indexed for both).
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    entries: Mapped[list["LedgerEntry"]] = relationship(back_populates="journal", cascade="all, delete-orphan")


class LedgerEntry(db.Model):
    """One side of a journal: an amount into (+) or out of (−) an account, per milestone."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("account IN ('client','escrow','freelancer','fees','shop')", name="account"),
        CheckConstraint("amount_minor <> 0", name="amount_nonzero"),
        # A page of contracts' totals (services.ledger.contract_money) read only these columns, per contract:
        # the index answers them without the table. Its first column serves the contract_id foreign key.
        Index("ix_ledger_entry_contract_totals", "contract_id", "account", "journal_id", "currency",
              "amount_minor"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    journal_id: Mapped[int] = mapped_column(ForeignKey("journal.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"))
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestone.id"), index=True)
    account: Mapped[str] = mapped_column(String(12))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))

    journal: Mapped[Journal] = relationship(back_populates="entries")


class LedgerDay(db.Model):
    """The sum of one member's ledger entries of one closed UTC day, per currency, journal kind and account.

    Written once, by ``services.ledger_days.roll_up``, for days that ended before the rows' journals could
    still be committing; entries are never changed or removed, so a day's sums never change afterwards.
    The member's totals and the payouts report add these rows to a live sum of the entries of the days
    since (``ShopSettings.ledger_days_through``), instead of summing every entry ever posted; ``ledger
    check`` compares them with the entries.
    """

    __tablename__ = "ledger_day"
    __table_args__ = (
        UniqueConstraint("member_id", "day", "currency", "kind", "account", name="uq_ledger_day"),
        # A member's totals read these columns only, grouped in this order: the index answers them without the
        # table or a sort.
        Index("ix_ledger_day_member_totals", "member_id", "currency", "kind", "account", "day", "amount_minor"),
        Index("ix_ledger_day_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    day: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(10))  # the journal's
    account: Mapped[str] = mapped_column(String(12))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
