"""Braintree's vocabulary turned into ChargeResults and plain words.

Both gateways (the real Braintree adapter and the offline test gateway) speak
Braintree's language: transaction statuses, processor response codes, gateway
rejection reasons and validation error codes. This module is the one place
that maps that language onto the domain's ``ChargeResult`` and onto messages a
client understands, each with a way forward.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ..domain.money import Money
from ..domain.payments import ChargeResult

#: Transaction statuses in which the money is (being) captured. "authorized"
#: is included because a sale with submit_for_settlement passes through it.
SUCCEEDED_STATUSES = frozenset({
    "authorizing",
    "authorized",
    "submitted_for_settlement",
    "settlement_pending",
    "settling",
    "settled",
    "settlement_confirmed",
})
#: Statuses from which a sale can still be voided instead of refunded.
VOIDABLE_STATUSES = frozenset({"authorized", "submitted_for_settlement", "settlement_pending"})
#: Statuses from which Braintree accepts a refund.
REFUNDABLE_STATUSES = frozenset({"settling", "settled"})

#: Processor response texts for the codes the sandbox can return on a sale
#: (Braintree's "authorization responses" reference). Others read "Declined".
PROCESSOR_TEXTS = {
    "2000": "Do Not Honor",
    "2001": "Insufficient Funds",
    "2002": "Limit Exceeded",
    "2003": "Cardholder's Activity Limit Exceeded",
    "2004": "Expired Card",
    "2005": "Invalid Credit Card Number",
    "2006": "Invalid Expiration Date",
    "2007": "No Account",
    "2010": "Card Issuer Declined CVV",
    "2014": "Processor Declined - Fraud Suspected",
    "2015": "Transaction Not Allowed",
    "2038": "Processor Declined",
    "2044": "Declined - Call Issuer",
    "2046": "Declined",
    "2057": "Issuer or Cardholder has put a restriction on the card",
    "3000": "Processor Network Unavailable - Try Again",
}

# What a client can do about a decline, by processor code. The default covers
# the many codes that only mean "the bank said no".
_DECLINE_ADVICE = {
    "2001": "There are not enough funds on the card. Try another card or pay with PayPal.",
    "2002": "The card's limit was reached. Try another card or pay with PayPal.",
    "2003": "The card's limit was reached. Try another card or pay with PayPal.",
    "2004": "The card has expired. Try another card or pay with PayPal.",
    "2005": "The card number was not accepted. Check it, or try another card.",
    "2006": "The expiry date was not accepted. Check it, or try another card.",
    "2010": "The security code (CVV) did not match. Check the 3 or 4 digits on the card and try again.",
    "2044": "Call your bank to allow the payment, then try again, or use another card.",
}

_REJECTION_MESSAGES = {
    "fraud": "Our payment provider's fraud checks stopped this payment. Try another card or pay with PayPal.",
    "risk_threshold": "Our payment provider's fraud checks stopped this payment. Try another card or pay with PayPal.",
    "cvv": "The card's security code (CVV) did not match. Check the 3 or 4 digits on the card and try again.",
    "avs": "The billing address or postcode did not match the card. Check them and try again.",
    "avs_and_cvv": "The billing address and security code did not match the card. Check them and try again.",
    "duplicate": ("An identical payment was made moments ago. Check your email or bank statement "
                  "before paying again."),
    "three_d_secure": "Your bank could not confirm the payment (3-D Secure). Try again, or use another card.",
    "application_incomplete": ("Card payments are not fully set up on this site yet. Nothing was charged. "
                               "Please try again later or contact us."),
    "excessive_retry": "There were too many attempts with this card. Wait a while, or use another card.",
    "token_issuance": "PayPal could not complete the payment. Try again, or pay by card.",
}

# Validation error codes (Braintree's "validation errors" reference) that a
# client can act on; anything else gets a generic sentence.
_VALIDATION_MESSAGES = {
    "91564": "The payment details could not be used. Please enter them again.",
    "91565": "The payment details have expired or were not recognised. Please enter them again.",
    "93107": "These payment details were already used. Please enter them again.",
    "81715": "The card number is not valid. Check the number and try again.",
    "81716": "The card number is not valid. Check the number and try again.",
    "81736": "The security code (CVV) is not valid. Check it and try again.",
    "81709": "The expiry date is not valid. Check it and try again.",
    "81531": "The amount must be more than zero.",
    "81503": "The amount could not be read. Nothing was charged.",
    "81528": "The amount is too large for a single card payment. Nothing was charged.",
    "91577": "Payments in this currency are not set up. Nothing was charged. Please contact us.",
}

#: What a void / a refund means for the client, whether answered at once or found later.
VOIDED_MESSAGE = "The payment was cancelled before it settled: the client is not charged."
REFUNDED_MESSAGE = "The refund was sent. It can take a few days to appear on the client's statement."

#: Pseudo error code for refunding a sale that never captured money (declined,
#: rejected, failed, voided). Braintree answers 91506 there; our words differ.
NOT_CHARGED = "not_charged"

#: Refund/void refusals, by validation error code.
REFUND_ERRORS = {
    NOT_CHARGED: "This payment did not go through or was cancelled, so there is nothing to refund.",
    "91504": "This payment can no longer be cancelled.",
    "91505": "Only sales can be refunded.",
    "91506": ("This payment has not settled yet, so it can only be cancelled in full. "
              "A partial refund is possible once it settles (usually within a day)."),
    "91512": "This payment has already been refunded in full.",
    "91521": "That is more than what is left to refund on this payment.",
}


def processor_text(code: str | None, text: str | None = None) -> str:
    """The processor's short wording for ``code`` ("Do Not Honor")."""
    return text or PROCESSOR_TEXTS.get(code or "", "Declined")


def decline_message(code: str | None, text: str | None, method: str | None) -> str:
    """Plain words for a processor decline, naming the bank's reason."""
    reason = processor_text(code, text)
    if method == "paypal":
        return f"PayPal declined the payment ({reason}). Try again with another funding source, or pay by card."
    advice = _DECLINE_ADVICE.get(code or "", "Try another card or pay with PayPal.")
    return f"Your bank declined the card ({reason}). {advice}"


def rejection_message(reason: str | None) -> str:
    """Plain words for a gateway rejection (``fraud``, ``cvv``, ``duplicate``...)."""
    return _REJECTION_MESSAGES.get(
        reason or "", "The payment was refused. Nothing was charged. Try another card or pay with PayPal."
    )


def failure_message(code: str | None = None, text: str | None = None) -> str:
    """Plain words for a sale that failed without charging (processor unreachable...)."""
    if code == "3000" or (code or "").startswith("3"):
        return ("The card network did not answer (Processor Network Unavailable). Nothing was charged. "
                "Please try again in a few minutes.")
    if text:
        return f"The payment did not go through ({text}). Nothing was charged. Please try again."
    return "The payment did not go through. Nothing was charged. Please try again."


def validation_message(errors: Iterable[tuple[str, str]]) -> str:
    """Plain words for validation errors given as ``(code, gateway message)`` pairs."""
    sentences: list[str] = []
    for code, message in errors:
        sentence = _VALIDATION_MESSAGES.get(str(code))
        if sentence is None:
            detail = (message or "").rstrip(".")
            sentence = (f"The payment could not be processed ({detail}). Nothing was charged. "
                        "Please check your details and try again.") if detail else ""
        if sentence and sentence not in sentences:
            sentences.append(sentence)
    return " ".join(sentences) or "The payment could not be processed. Nothing was charged. Please try again."


def refund_message(errors: Iterable[tuple[str, str]]) -> str:
    """Plain words for a refused void or refund."""
    sentences: list[str] = []
    for code, message in errors:
        sentence = REFUND_ERRORS.get(str(code)) or f"The refund was refused ({(message or 'no reason given').rstrip('.')})."
        if sentence not in sentences:
            sentences.append(sentence)
    return " ".join(sentences) or "The refund was refused."


def charge_result(
    *,
    status: str,
    order_id: str,
    transaction_id: str | None,
    amount: Money | None,
    instrument: str | None,
    card_brand: str | None = None,
    card_last4: str | None = None,
    paypal_email: str | None = None,
    processor_code: str | None = None,
    processor_response_text: str | None = None,
    rejection_reason: str | None = None,
    created_at: datetime | None = None,
) -> ChargeResult:
    """Build the domain's ChargeResult from a Braintree-shaped transaction.

    ``status`` is Braintree's transaction status; ``instrument`` its
    ``payment_instrument_type`` ("credit_card", "paypal_account", ...).
    A voided sale maps to ``failed``: the client ends up not charged.
    """
    method = {"credit_card": "card", "paypal_account": "paypal"}.get(instrument or "", "other" if instrument else None)
    common = dict(
        order_id=order_id,
        transaction_id=transaction_id,
        amount=amount,
        method=method,
        card_brand=card_brand if method == "card" else None,
        card_last4=card_last4 if method == "card" else None,
        paypal_email=paypal_email if method == "paypal" else None,
        processor_code=processor_code,
        gateway_status=status,
        created_at=created_at,
    )
    if status in SUCCEEDED_STATUSES:
        return ChargeResult(status="succeeded", message="Payment received. Thank you.", **common)
    if status == "processor_declined":
        return ChargeResult(
            status="declined", message=decline_message(processor_code, processor_response_text, method), **common
        )
    if status == "gateway_rejected":
        return ChargeResult(status="rejected", message=rejection_message(rejection_reason), **common)
    if status == "voided":
        return ChargeResult(status="failed", message="This payment was cancelled; nothing was charged.", **common)
    return ChargeResult(status="failed", message=failure_message(processor_code, processor_response_text), **common)


def refund_plan(*, kind: str, status: str, amount_minor: int, captured_minor: int, refunded_minor: int = 0) -> str:
    """Decide how to give ``amount_minor`` back on a transaction.

    Returns ``"void"`` (unsettled sale, full amount: cancel it, no fees),
    ``"refund"``, or the Braintree error code that explains the refusal
    (see ``REFUND_ERRORS``). Braintree itself refuses a partial refund before
    settlement (91506), so the rule is the same for the test gateway.
    """
    if kind != "sale":
        return "91505"
    if status in VOIDABLE_STATUSES:
        return "void" if amount_minor == captured_minor and refunded_minor == 0 else "91506"
    if status not in REFUNDABLE_STATUSES:
        return NOT_CHARGED
    if refunded_minor >= captured_minor:
        return "91512"
    if amount_minor > captured_minor - refunded_minor:
        return "91521"
    return "refund"


def preferred_sale(sales, *, status, created):
    """Among sales sharing one order id, the one that tells what happened.

    A sale that captured money wins over declined/rejected retries; otherwise
    the most recent one. ``status`` and ``created`` are key functions.
    """
    sales = list(sales)
    if not sales:
        return None
    return max(sales, key=lambda sale: (status(sale) in SUCCEEDED_STATUSES, created(sale)))
