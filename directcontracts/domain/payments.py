"""The payment gateway port: what the services need from Braintree (or its stand-in).

Adapters live in ``directcontracts.payments``; the domain only knows this
protocol and these plain result objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from .money import Money

ChargeStatus = Literal["succeeded", "declined", "rejected", "failed"]


@dataclass(frozen=True)
class ChargeResult:
    """The gateway's answer to a sale, or to a look-up of one by order id.

    ``succeeded``: money captured (authorized and submitted for settlement).
    ``declined``: the processor said no (``processor_code`` / ``message``).
    ``rejected``: the gateway refused it (fraud, CVV, duplicate, validation).
    ``failed``: anything else that certainly did not charge the client.
    ``message`` is in plain words, fit to show the client.
    """

    status: ChargeStatus
    order_id: str
    transaction_id: str | None = None
    amount: Money | None = None
    method: Literal["card", "paypal", "other"] | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    paypal_email: str | None = None
    processor_code: str | None = None
    message: str = ""
    gateway_status: str | None = None  # raw transaction status, e.g. "submitted_for_settlement"
    created_at: datetime | None = None  # when the gateway recorded the sale (naive UTC), if known


@dataclass(frozen=True)
class RefundResult:
    """Outcome of giving money back: ``voided`` (before settlement) or ``refunded``."""

    ok: bool
    kind: Literal["voided", "refunded"] | None = None
    transaction_id: str | None = None  # the refund transaction, or the voided sale
    message: str = ""


@dataclass(frozen=True)
class SaleRefund:
    """One refund (credit transaction) the gateway made of a sale, whatever order id it carries.

    Listed from the sale itself (Braintree: its ``refund_ids``), so a refund
    made without an order id of ours (by the release before refund order ids,
    or by hand in the control panel) is still seen.
    """

    transaction_id: str
    amount: Money
    created_at: datetime | None  # naive UTC; Braintree keeps it to the second
    order_id: str | None = None


@dataclass(frozen=True)
class GatewayDispute:
    """A dispute the client's bank opened on a sale (a *chargeback* in the product's words).

    Braintree's words: ``kind`` is ``chargeback``, ``retrieval`` (the bank asks
    for information; no money moves) or ``pre_arbitration``; ``status`` is
    ``open``, ``won``, ``lost``, ``accepted``, ``expired`` or ``disputed``;
    ``reason`` a code such as ``fraud``, ``not_recognized``,
    ``product_not_received``; ``reply_by`` the last day to send evidence.
    """

    id: str
    transaction_id: str
    amount: Money
    status: str
    kind: str = "chargeback"
    reason: str = ""
    reply_by: date | None = None


@dataclass(frozen=True)
class GatewayTransaction:
    """One transaction as the gateway's own records hold it (a search by date), for reconciliation."""

    id: str
    type: Literal["sale", "credit"]
    status: str  # Braintree's words: submitted_for_settlement, settled, voided, settlement_declined ...
    amount: Money
    order_id: str | None = None
    created_at: datetime | None = None  # naive UTC
    refunded_transaction_id: str | None = None  # a credit: the sale it gives back


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook notification.

    ``timestamp``: when the gateway sent it (naive UTC), so that events applied
    out of order can tell which is newer. ``dispute``: set for the
    ``dispute_*`` kinds (``transaction_id`` is then the disputed sale).
    """

    kind: str
    transaction_id: str | None = None
    order_id: str | None = None
    raw: dict = field(default_factory=dict)
    timestamp: datetime | None = None
    dispute: GatewayDispute | None = None


class GatewayUnavailable(Exception):
    """The gateway could not be reached or did not answer in time.

    The outcome of the call is *unknown*: the charge may or may not have gone
    through. Callers mark the attempt ``unknown`` and reconcile later.
    """


class GatewayNotReached(GatewayUnavailable):
    """The gateway could not be reached at all (connection refused, address not found, connect timeout).

    Unlike a read timeout or a dropped connection, the request was never sent, so nothing was
    charged: a payment fails at once and the client may try again.
    """


class InvalidWebhook(Exception):
    """A webhook whose signature does not verify."""


class DisputeRefused(Exception):
    """The gateway refused evidence or finalizing for a dispute (closed, past its reply-by date …).

    The message is in plain words, fit to show the shop owner.
    """


class PaymentGateway(Protocol):
    """What the services need from a payment gateway."""

    #: "braintree" or "test"
    name: str
    #: True when no real money moves (test gateway, Braintree sandbox)
    test_mode: bool

    def client_token(self, currency: str) -> str:
        """Token for the browser's Drop-in UI (test gateway: a fixed placeholder)."""

    def charge(self, *, order_id: str, amount: Money, nonce: str) -> ChargeResult:
        """Sale with submit_for_settlement; raises GatewayUnavailable on timeout/network."""

    def find_by_order_id(self, order_id: str) -> ChargeResult | None:
        """The sale made with this order id, or None if the gateway has none."""

    def search_sales(self, since: datetime, until: datetime) -> list[ChargeResult]:
        """Every sale the gateway created between ``since`` and ``until`` (naive UTC), any status.

        Reconciliation reads it to find sales that landed after their attempt
        was given up on. Raises GatewayUnavailable.
        """

    def refund(self, transaction_id: str, amount: Money, *, order_id: str | None = None) -> RefundResult:
        """Void the sale if not yet settled (only for the full amount), else refund ``amount``.

        ``order_id`` is given to the refund so that ``find_refund`` can find it
        when the answer is lost; raises GatewayUnavailable on timeout/network.
        """

    def find_refund(self, transaction_id: str, order_id: str) -> RefundResult | None:
        """The void of sale ``transaction_id``, or its refund made with ``order_id``; None if neither.

        For reconciling a refund whose answer was lost: a voided sale counts as
        the void, a refund is searched by its order id. Raises GatewayUnavailable.
        """

    def sale_refunds(self, transaction_id: str) -> list[SaleRefund]:
        """Every refund of sale ``transaction_id`` that gives money back, oldest first; [] if no such sale.

        Read from the sale (Braintree: its ``refund_ids``, each found by id),
        not searched by order id: it also lists refunds that carry no order id
        of ours. A refund voided or declined before it settled is left out.
        Raises GatewayUnavailable.
        """

    def transaction_status(self, transaction_id: str) -> str | None:
        """The transaction's status at the gateway now (Braintree's words: ``submitted_for_settlement``,
        ``settling``, ``settled``, ``settlement_declined``, ``voided`` …); None if there is no such one.

        How a charge's settlement is followed when no webhook told it. Raises GatewayUnavailable.
        """

    def search_transactions(self, since: datetime, until: datetime) -> list[GatewayTransaction]:
        """Every sale and credit (refund) the gateway created between ``since`` and ``until`` (naive UTC).

        What ``payments reconcile`` compares the books with. Raises GatewayUnavailable.
        """

    def add_dispute_evidence(self, dispute_id: str, text: str) -> str:
        """Attach text evidence to an open dispute; returns the evidence's id at the gateway.

        Raises DisputeRefused (closed, finalized, too late) or GatewayUnavailable.
        """

    def finalize_dispute(self, dispute_id: str) -> None:
        """Submit the dispute's evidence to the bank (no more can be added). Raises DisputeRefused or
        GatewayUnavailable."""

    def parse_webhook(self, signature: str, payload: str) -> WebhookEvent:
        """Verify and parse a webhook; raises InvalidWebhook."""
