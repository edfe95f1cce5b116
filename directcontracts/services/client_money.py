"""What the client's contract page says about their money: every payment, and every milestone's cents.

Read-only. Amounts come from the attempts (what was charged) and from the
ledger (what escrow did with it), so the page shows, per milestone,
funded = released + refunded + in escrow + charged back, and, per payment,
what the gateway took, how, its reference (the gateway's transaction id, which
is on the client's statement — never one of our internal ids) and what became
of it.

Money taken back outside escrow's own ways (``services.chargebacks``) counts
as the client sees it: a payment that did not go through (a *reversal*) never
funded anything, so it leaves "funded" (and "released", for any of it already
released); what their bank charged back shows in its own column, from escrow
or from what had been released.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy.orm import joinedload

from ..domain import ledger as rules
from ..domain.money import Money
from ..extensions import db
from ..models import Contract, Milestone, PaymentAttempt, SaleReturn
from . import chargebacks, ledger, refunds
from .funding import method_label

#: A payment's status, in the client's words: (short label, CSS/status key).
CONFIRMED, CONFIRMING, DECLINED, GIVEN_BACK = "confirmed", "confirming", "declined", "given_back"
REVERSED, CHARGED_BACK = "reversed", "charged_back"
STATUS_WORDS = {
    CONFIRMED: "Confirmed",
    CONFIRMING: "Being confirmed",
    DECLINED: "Declined",
    GIVEN_BACK: "Given back",
    REVERSED: "Did not go through",
    CHARGED_BACK: "Charged back by your bank",
}
#: What the client reads on a milestone an open chargeback freezes.
FROZEN = ("your bank is reviewing a chargeback of the payment for {them} (opened by you or by your bank). "
          "Nothing can be released or refunded until the bank decides.")
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
    """One milestone's money: funded = released + refunded + held (in escrow) + charged back."""

    milestone: Milestone
    funded: Money
    released: Money
    refunded: Money
    held: Money
    charged_back: Money | None = None  # None: nothing was (kept like this so the identity reads as before)
    frozen: bool = False  # an open chargeback freezes its money
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
    def charged_back(self) -> Money:
        return sum((m.charged_back for m in self.milestones if m.charged_back), Money(0, self.currency))

    @property
    def frozen_words(self) -> str:
        """The sentence after the frozen milestones' names."""
        return FROZEN.format(them="it" if len(self.frozen) == 1 else "them")

    @property
    def frozen(self) -> list[MilestoneLine]:
        return [m for m in self.milestones if m.frozen]

    @property
    def reversed(self) -> list[PaymentLine]:
        """Payments that did not go through after all (the processor declined settling them)."""
        return [p for p in self.payments if p.status == REVERSED]

    @property
    def refunding(self) -> Money:
        return sum((m.refunding for m in self.milestones if m.refunding and not m.queued), Money(0, self.currency))

    @property
    def queued(self) -> Money:
        """Refunds waiting for the payment to settle before they are issued."""
        return sum((m.refunding for m in self.milestones if m.refunding and m.queued), Money(0, self.currency))


def _status(attempt: PaymentAttempt, charged_back: bool = False) -> str:
    if attempt.status == "reversed":
        return REVERSED
    if attempt.status == "succeeded":
        return CHARGED_BACK if charged_back else CONFIRMED
    if attempt.status in ("pending", "unknown"):
        return CONFIRMING
    if attempt.status == "returned":
        return GIVEN_BACK
    return DECLINED


@cache
def _payments_statement():
    """A contract's payments, newest first, with their items (a few each: one query); built once (``cid``)."""
    return (db.select(PaymentAttempt).where(PaymentAttempt.contract_id == db.bindparam("cid"))
            .options(joinedload(PaymentAttempt.items))
            .order_by(PaymentAttempt.created_at.desc(), PaymentAttempt.id))


def payments(contract: Contract) -> list[PaymentLine]:
    """The client's payments for this contract, newest first, each with what it paid for."""
    attempts = db.session.scalars(_payments_statement(), {"cid": contract.id}).unique().all()
    given_back = [a.id for a in attempts if a.status == "returned"]  # only these show a return's status
    returns = dict(db.session.execute(
        db.select(SaleReturn.attempt_id, SaleReturn.status)
        .where(SaleReturn.attempt_id.in_(given_back))).all()) if given_back else {}
    milestones = {m.id: m for m in contract.milestones}  # the contract's own (loaded with it)
    disputed = {c.attempt_id: c for c in chargebacks.for_contract(contract)}  # one a sale (Braintree)
    lines = []
    for a in attempts:
        chargeback = disputed.get(a.id)
        status = _status(a, charged_back=chargeback is not None and chargeback.status in ("lost", "accepted"))
        known_method = a.method or a.card_last4 or a.paypal_email
        lines.append(PaymentLine(
            attempt_id=a.id, at=a.decided_at or a.created_at, amount=a.amount,
            method=method_label(a) if known_method else "—",
            reference=a.transaction_id or "—",
            items=[(milestones[i.milestone_id].title, Money(i.amount_minor, a.currency))
                   for i in sorted(a.items, key=lambda i: milestones[i.milestone_id].position)],
            status=status,
            detail=_detail(status, returns.get(a.id, "returning"), chargeback),
        ))
    return lines


def _detail(status: str, returned: str, chargeback) -> str:
    if status == GIVEN_BACK:
        return RETURN_WORDS.get(returned, "")
    if status in (DECLINED, REVERSED):
        return "nothing was taken"
    if status == CHARGED_BACK:
        return f"{chargeback.amount.format()} went back to you"
    if chargeback is not None and chargeback.status == "open":
        return "your bank is reviewing a chargeback of it"
    return ""


def _taken_back(contract: Contract) -> dict[tuple[int, str], int]:
    """Per (milestone, journal kind) of the take-backs: what went back to the client from escrow or from
    releases (the freelancer's part and the fee's); the shop's own money covering an earlier refund is left
    out, as it never was in this milestone's escrow."""
    out: dict[tuple[int, str], int] = {}
    for milestone_id, kind, account, total in ledger.contract_sums(contract.id):  # summed by the database
        if kind in ledger.TAKE_BACKS and account in (rules.ESCROW, rules.FREELANCER, rules.FEES):
            out[(milestone_id, kind)] = out.get((milestone_id, kind), 0) - int(total)
    return out


def milestones(contract: Contract) -> list[MilestoneLine]:
    """Per milestone, from the ledger: funded, released, refunded, in escrow, charged back, and a refund being
    confirmed; a reversed payment counts as never made."""
    money = ledger.per_milestone(contract)
    taken, frozen = _taken_back(contract), chargebacks.frozen_milestones(contract)
    refunding = refunds.in_flight_amounts(contract)
    cur = contract.currency
    lines = []
    for m in contract.milestones:
        mm = money.get(m.id, ledger.MilestoneMoney())
        reversed_, charged_back = taken.get((m.id, "reversal"), 0), taken.get((m.id, "chargeback"), 0)
        lines.append(MilestoneLine(
            milestone=m, funded=Money(mm.funded - reversed_, cur), held=Money(mm.held, cur),
            released=Money(mm.released - mm.clawed, cur),  # less what went back to the client from it
            refunded=Money(mm.refunded, cur), charged_back=Money(charged_back, cur) if charged_back else None,
            frozen=m.id in frozen,
            refunding=Money(refunding[m.id][0], cur) if m.id in refunding else None,
            queued=m.id in refunding and refunding[m.id][1] == "queued"))
    return lines


def of(contract: Contract) -> ClientMoney:
    """Everything the client's page says about their money on this contract."""
    return ClientMoney(payments=payments(contract), milestones=milestones(contract), currency=contract.currency)
