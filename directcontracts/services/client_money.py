"""What the client's contract page says about their money: every payment, and every milestone's cents.

Read-only. Amounts come from the attempts (what was charged) and from the
ledger (what escrow did with it), so the page shows, per milestone,
funded = released + refunded + in escrow, and, per payment, what the
gateway took, how, its reference (the gateway's transaction id, which is on
the client's statement — never one of our internal ids) and what became of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import selectinload

from ..domain.money import Money
from ..extensions import db
from ..models import Contract, Milestone, PaymentAttempt, PaymentItem, Refund, SaleReturn
from . import ledger
from .funding import method_label
from .refunds import IN_FLIGHT as REFUND_IN_FLIGHT

#: A payment's status, in the client's words: (short label, CSS/status key).
CONFIRMED, CONFIRMING, DECLINED, GIVEN_BACK = "confirmed", "confirming", "declined", "given_back"
STATUS_WORDS = {
    CONFIRMED: "Confirmed",
    CONFIRMING: "Being confirmed",
    DECLINED: "Declined",
    GIVEN_BACK: "Given back",
}
#: How a given-back payment stands (SaleReturn.status), in the client's words.
RETURN_WORDS = {
    "returning": "being given back to you",
    "voided": "cancelled before it settled: you are not charged",
    "refunded": "refunded to you",
}


@dataclass
class PaymentLine:
    """One of the client's payments, as their page lists it."""

    attempt_id: str  # for the receipt link only, never shown
    at: datetime
    amount: Money
    method: str
    reference: str
    items: list[tuple[str, Money]]
    status: str
    detail: str = ""

    @property
    def status_words(self) -> str:
        return STATUS_WORDS[self.status]


@dataclass
class MilestoneLine:
    """One milestone's money: funded = released + refunded + held (in escrow)."""

    milestone: Milestone
    funded: Money
    released: Money
    refunded: Money
    held: Money
    refunding: Money | None = None  # a refund of this much is being confirmed (still in escrow meanwhile)
    queued: bool = False  # ... or waits for the payment to settle before it is issued


@dataclass
class ClientMoney:
    payments: list[PaymentLine] = field(default_factory=list)
    milestones: list[MilestoneLine] = field(default_factory=list)
    currency: str = "USD"

    def _total(self, name: str) -> Money:
        return sum((getattr(m, name) for m in self.milestones), Money(0, self.currency))

    @property
    def funded(self) -> Money:
        return self._total("funded")

    @property
    def released(self) -> Money:
        return self._total("released")

    @property
    def refunded(self) -> Money:
        return self._total("refunded")

    @property
    def held(self) -> Money:
        return self._total("held")

    @property
    def refunding(self) -> Money:
        return sum((m.refunding for m in self.milestones if m.refunding and not m.queued), Money(0, self.currency))

    @property
    def queued(self) -> Money:
        """Refunds waiting for the payment to settle before they are issued."""
        return sum((m.refunding for m in self.milestones if m.refunding and m.queued), Money(0, self.currency))


def _status(attempt: PaymentAttempt) -> str:
    if attempt.status == "succeeded":
        return CONFIRMED
    if attempt.status in ("pending", "unknown"):
        return CONFIRMING
    if attempt.status == "returned":
        return GIVEN_BACK
    return DECLINED


def payments(contract: Contract) -> list[PaymentLine]:
    """The client's payments for this contract, newest first, each with what it paid for."""
    attempts = db.session.scalars(
        db.select(PaymentAttempt).where(PaymentAttempt.contract_id == contract.id)
        .options(selectinload(PaymentAttempt.items).selectinload(PaymentItem.milestone))
        .order_by(PaymentAttempt.created_at.desc(), PaymentAttempt.id)
    ).all()
    returns = dict(db.session.execute(
        db.select(SaleReturn.attempt_id, SaleReturn.status)
        .where(SaleReturn.attempt_id.in_([a.id for a in attempts]))).all()) if attempts else {}
    lines = []
    for a in attempts:
        status = _status(a)
        known_method = a.method or a.card_last4 or a.paypal_email
        lines.append(PaymentLine(
            attempt_id=a.id, at=a.decided_at or a.created_at, amount=a.amount,
            method=method_label(a) if known_method else "—",
            reference=a.transaction_id or "—",
            items=[(i.milestone.title, Money(i.amount_minor, a.currency))
                   for i in sorted(a.items, key=lambda i: i.milestone.position)],
            status=status,
            detail=(RETURN_WORDS.get(returns.get(a.id, "returning"), "") if status == GIVEN_BACK
                    else "nothing was taken" if status == DECLINED else ""),
        ))
    return lines


def milestones(contract: Contract) -> list[MilestoneLine]:
    """Per milestone, from the ledger: funded, released, refunded, in escrow, and a refund being confirmed."""
    money = ledger.milestone_money([contract.id])
    refunding = {milestone_id: (amount, status) for milestone_id, amount, status in db.session.execute(
        db.select(Refund.milestone_id, Refund.amount_minor, Refund.status)
        .join(Milestone, Milestone.id == Refund.milestone_id)
        .where(Milestone.contract_id == contract.id, Refund.status.in_(REFUND_IN_FLIGHT)))}
    cur = contract.currency
    lines = []
    for m in contract.milestones:
        mm = money.get(m.id, ledger.MilestoneMoney())
        lines.append(MilestoneLine(
            milestone=m, funded=Money(mm.funded, cur), released=Money(mm.released, cur),
            refunded=Money(mm.refunded, cur), held=Money(mm.held, cur),
            refunding=Money(refunding[m.id][0], cur) if m.id in refunding else None,
            queued=m.id in refunding and refunding[m.id][1] == "queued"))
    return lines


def of(contract: Contract) -> ClientMoney:
    """Everything the client's page says about their money on this contract."""
    return ClientMoney(payments=payments(contract), milestones=milestones(contract), currency=contract.currency)
