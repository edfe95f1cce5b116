"""The Braintree sandbox's rules: what each test nonce and test amount does.

One home for them, shared by the offline ``TestGateway`` and the tests' Braintree
stand-in (tests/braintree_standin.py), so a flow behaves the same in both and
later against the real sandbox (reference: Braintree "Testing" page).

Test nonces (Braintree's, except the last three):

- ``fake-valid-nonce``: Visa ending 1881, approved.
- ``fake-valid-visa-nonce`` (Visa 1111), ``fake-valid-mastercard-nonce``
  (MasterCard 4444), ``fake-valid-amex-nonce`` (American Express 0005),
  ``fake-valid-discover-nonce`` (Discover 0009): approved.
- ``fake-paypal-one-time-nonce``, ``fake-paypal-billing-agreement-nonce``:
  PayPal, payer jane.doe@paypal.com, approved.
- ``fake-processor-declined-{visa,mastercard,amex,discover}-nonce``:
  processor declined, 2000 "Do Not Honor".
- ``fake-processor-failure-jcb-nonce``: failed, 3000.
- ``fake-gateway-rejected-fraud-nonce``: gateway rejected, "fraud";
  ``fake-gateway-rejected-risk-thresholds-nonce``: "risk_threshold".
- ``fake-luhn-invalid-nonce`` (81715), ``fake-consumed-nonce`` (93107), any
  other nonce (91565): validation error, no transaction.
- ``fake-timeout-nonce`` (ours): the sale is recorded as succeeded (whatever
  the amount), then GatewayUnavailable is raised, as when the response is
  lost after the charge went through.
- ``fake-unreachable-nonce`` (ours): GatewayUnavailable, nothing recorded.
- ``fake-late-nonce`` (ours): approved, but the sale *lands late*: GatewayUnavailable
  is raised and no look-up sees the sale until ``TestGateway.release_late()`` records it,
  as when a slow gateway records a sale minutes after the request timed out.

Test amounts (major units, whatever the currency, as in the sandbox):
2000.00–2999.99 processor declined with the amount's integer part as code;
3000.00–3000.99 failed (3000, processor network unavailable); 5001.00 gateway
rejected (application incomplete); 5001.01 processor declined (2038) for
PayPal only; anything else approved. A nonce with a fixed outcome (declined,
rejected...) wins over the amount.
"""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from decimal import Decimal

from .outcomes import processor_text

#: Our own nonce: the sale goes through but its response is lost.
TIMEOUT_NONCE = "fake-timeout-nonce"
#: Our own nonce: the gateway cannot be reached; nothing happens.
UNREACHABLE_NONCE = "fake-unreachable-nonce"
#: Our own nonce: the sale goes through, but only shows at the gateway after ``TestGateway.release_late()``.
LATE_NONCE = "fake-late-nonce"

PAYPAL_TEST_EMAIL = "jane.doe@paypal.com"


@dataclass(frozen=True)
class SandboxMethod:
    """The payment method a test nonce stands for."""

    instrument: str  # Braintree payment_instrument_type
    card_type: str | None = None
    bin: str | None = None
    last4: str | None = None
    paypal_email: str | None = None


def _card(card_type: str, bin_: str, last4: str) -> SandboxMethod:
    return SandboxMethod("credit_card", card_type=card_type, bin=bin_, last4=last4)


_PAYPAL = SandboxMethod("paypal_account", paypal_email=PAYPAL_TEST_EMAIL)
_DO_NOT_HONOR = ("processor_declined", "2000")

#: nonce -> (payment method, fixed outcome as (status, code or reason) or None)
SANDBOX_NONCES: dict[str, tuple[SandboxMethod, tuple[str, str] | None]] = {
    "fake-valid-nonce": (_card("Visa", "401288", "1881"), None),
    "fake-valid-visa-nonce": (_card("Visa", "411111", "1111"), None),
    "fake-valid-mastercard-nonce": (_card("MasterCard", "555555", "4444"), None),
    "fake-valid-amex-nonce": (_card("American Express", "378282", "0005"), None),
    "fake-valid-discover-nonce": (_card("Discover", "601100", "0009"), None),
    "fake-paypal-one-time-nonce": (_PAYPAL, None),
    "fake-paypal-billing-agreement-nonce": (_PAYPAL, None),
    "fake-processor-declined-visa-nonce": (_card("Visa", "400011", "1115"), _DO_NOT_HONOR),
    "fake-processor-declined-mastercard-nonce": (_card("MasterCard", "510510", "5100"), _DO_NOT_HONOR),
    "fake-processor-declined-amex-nonce": (_card("American Express", "378734", "1000"), _DO_NOT_HONOR),
    "fake-processor-declined-discover-nonce": (_card("Discover", "601100", "9424"), _DO_NOT_HONOR),
    "fake-processor-failure-jcb-nonce": (_card("JCB", "356600", "0505"), ("failed", "3000")),
    "fake-gateway-rejected-fraud-nonce": (_card("Visa", "400011", "1511"), ("gateway_rejected", "fraud")),
    "fake-gateway-rejected-risk-thresholds-nonce": (
        _card("Visa", "400011", "1511"), ("gateway_rejected", "risk_threshold")),
    # Ours: always approved, so the demo's "lost response" is a paid one (see testgateway.TestGateway.charge).
    TIMEOUT_NONCE: (_card("Visa", "401288", "1881"), ("approved", "1000")),
    LATE_NONCE: (_card("Visa", "401288", "1881"), ("approved", "1000")),
}

#: nonce -> validation error (code, attribute, Braintree's message)
INVALID_NONCES = {
    "fake-luhn-invalid-nonce": ("81715", "number", "Credit card number is invalid."),
    "fake-consumed-nonce": ("93107", "payment_method_nonce", "Cannot use a payment_method_nonce more than once."),
}
UNKNOWN_NONCE_ERROR = ("91565", "payment_method_nonce", "Unknown or expired payment_method_nonce.")


@dataclass(frozen=True)
class SandboxOutcome:
    """What the sandbox does with a sale: a transaction, or validation errors.

    ``status`` is the Braintree transaction status of the created sale, or
    None when validation refused it (then ``errors`` holds
    ``(code, attribute, message)`` triples and no transaction exists).
    """

    status: str | None
    method: SandboxMethod | None = None
    processor_code: str | None = None
    processor_text: str | None = None
    rejection_reason: str | None = None
    errors: tuple[tuple[str, str, str], ...] = ()


def sandbox_outcome(nonce: str, amount: Decimal, *, submit_for_settlement: bool = True) -> SandboxOutcome:
    """The sandbox's answer to a sale of ``amount`` (major units) with ``nonce``.

    Shared by the test gateway and the tests' Braintree stand-in, so the
    rules exist once.
    """
    errors = []
    if amount <= 0:
        errors.append(("81531", "amount", "Amount must be greater than zero."))
    entry = SANDBOX_NONCES.get(nonce)
    if entry is None:
        errors.append(INVALID_NONCES.get(nonce, UNKNOWN_NONCE_ERROR))
    if errors:
        return SandboxOutcome(status=None, errors=tuple(errors))

    method, fixed = entry
    if fixed is None:
        fixed = _amount_outcome(amount, method)
    if fixed is None or fixed[0] == "approved":
        status = "submitted_for_settlement" if submit_for_settlement else "authorized"
        return SandboxOutcome(status=status, method=method, processor_code="1000", processor_text="Approved")
    status, detail = fixed
    if status == "gateway_rejected":
        # Braintree rejects before asking the processor: no processor response.
        return SandboxOutcome(status=status, method=method, rejection_reason=detail)
    return SandboxOutcome(status=status, method=method, processor_code=detail, processor_text=processor_text(detail))


def _amount_outcome(amount: Decimal, method: SandboxMethod) -> tuple[str, str] | None:
    if Decimal("2000") <= amount < Decimal("3000"):
        return "processor_declined", str(int(amount))
    if Decimal("3000") <= amount < Decimal("3001"):
        return "failed", "3000"
    if amount == Decimal("5001.00"):
        return "gateway_rejected", "application_incomplete"
    if amount == Decimal("5001.01") and method.instrument == "paypal_account":
        return "processor_declined", "2038"
    return None


def new_transaction_id() -> str:
    """An id shaped like Braintree's (8 lowercase letters and digits)."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))
