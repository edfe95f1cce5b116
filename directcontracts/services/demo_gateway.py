"""The test payment processor panel (``/dev/gateway``): in the demo, a person plays the gateway's side.

Only with the offline ``TestGateway``. Each action changes the gateway's own record of a sale (``settle``,
``decline_settlement``, ``dispute``) and then delivers the signed notification the gateway returns through
``webhooks.receive`` — the same path as Braintree's POST to ``/webhooks/braintree`` — so what the app does
next (queued refunds issued, a funding reversed, a chargeback frozen, won or charged back) is exactly what
it does in production.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..domain.money import Money
from ..extensions import db
from ..models import Contract, PaymentAttempt, WebhookNotification
from ..payments import current_gateway
from ..payments.outcomes import SUCCEEDED_STATUSES
from . import chargebacks, webhooks
from .errors import InvalidTransition, NotFound

#: The bank's reasons the panel offers for a chargeback (Braintree's codes).
REASONS = ("fraud", "product_not_received", "product_unsatisfactory", "not_recognized", "duplicate")
#: A sale the processor can still settle, or decline to.
UNSETTLED = ("submitted_for_settlement", "settling")
#: What the bank may decide on an open chargeback.
DECISIONS = ("won", "lost", "accepted")


@dataclass(frozen=True)
class Sale:
    """One sale as the test gateway keeps it, with the contract it paid for and the dispute on it (if any)."""

    id: str
    order_id: str
    amount: Money
    status: str
    created_at: datetime
    contract: Contract | None
    dispute_status: str | None
    dispute_reason: str | None

    @property
    def actions(self) -> tuple[str, ...]:
        """What the processor could do next: ``settle``, ``decline``, ``open`` or the bank's decisions."""
        if self.dispute_status == "open":
            return DECISIONS
        found = ("settle", "decline") if self.status in UNSETTLED else ()
        if self.dispute_status is None and self.status in SUCCEEDED_STATUSES:
            found += ("open",)
        return found


def available() -> bool:
    """Whether the app's gateway is the offline test gateway (the panel exists only then)."""
    return getattr(current_gateway(), "name", None) == "test"


def sales() -> list[Sale]:
    """The test gateway's sales, newest first. Call only when ``available()``."""
    with current_gateway().store.locked() as data:
        records = [dict(r) for r in data.get("transactions", {}).values() if r["type"] == "sale"]
        disputes = {d["transaction_id"]: dict(d) for d in data.get("disputes", {}).values()}
    records.reverse()  # insertion order is creation order
    attempts = {a.id: a for a in db.session.scalars(
        db.select(PaymentAttempt).where(PaymentAttempt.id.in_([r["order_id"] for r in records])))}
    found = []
    for r in records:
        attempt, dispute = attempts.get(r["order_id"]), disputes.get(r["id"], {})
        found.append(Sale(id=r["id"], order_id=r["order_id"], amount=Money(r["minor"], r["currency"]),
                          status=r["status"], created_at=_naive(r["created_at"]),
                          contract=db.session.get(Contract, attempt.contract_id) if attempt else None,
                          dispute_status=dispute.get("status"), dispute_reason=dispute.get("reason")))
    return found


def act(sale_id: str, action: str, reason: str | None = None) -> str:
    """Do ``action`` on the sale as the processor would, deliver its notification; returns what happened.

    Raises ``NotFound`` (no such sale), ``InvalidTransition`` (not possible for this sale now).
    """
    sale = next((s for s in sales() if s.id == sale_id), None)
    if sale is None:
        raise NotFound("The test processor has no such sale.")
    if action not in sale.actions:
        raise InvalidTransition(f"The processor cannot do that to sale {sale_id} now (it is {_words(sale)}).")
    gateway = current_gateway()
    if action == "settle":
        gateway.settle(sale_id)
        done, signed = "settled", gateway.sample_webhook("transaction_settled", sale_id)
    elif action == "decline":
        gateway.decline_settlement(sale_id)
        done, signed = "declined to settle", gateway.sample_webhook("transaction_settlement_declined", sale_id)
    elif action == "open":
        if reason not in REASONS:
            raise InvalidTransition("Choose the bank's reason for the chargeback.")
        signed = gateway.dispute(sale_id, "open", reason=reason)
        done = f"opened a chargeback ({chargebacks.reason_words(reason)}) on"
    else:
        signed = gateway.dispute(sale_id, action)
        done = f"passed on the bank's decision ({action}) on the chargeback of"
    return f"The processor {done} sale {sale_id}; {_told(webhooks.receive(*signed))}"


def _told(row: WebhookNotification) -> str:
    """The notification's fate in plain words."""
    if row.status == "received":
        return f"the notification was received but applying it failed ({row.message}); jobs run-due retries it."
    detail = row.message.split(": ", 1)[-1]
    return f"the notification was {row.status}: {detail}."


def _words(sale: Sale) -> str:
    status = sale.status.replace("_", " ")
    return f"{status}, chargeback {sale.dispute_status}" if sale.dispute_status else status


def _naive(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
