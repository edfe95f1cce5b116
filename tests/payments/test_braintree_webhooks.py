"""BraintreeAdapter.parse_webhook through the real SDK: notifications signed by the stand-in as Braintree signs them."""
from __future__ import annotations

import base64
from datetime import date, datetime, timedelta, timezone

import pytest

from directcontracts.domain.money import Money
from directcontracts.domain.payments import InvalidWebhook
from tests.braintree_standin import BraintreeStandin

SENT_AT = datetime(2031, 3, 4, 5, 6, 7)  # naive UTC


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


@pytest.fixture
def sale(adapter):
    """A captured USD 250.00 sale under order ``order-7``."""
    return adapter.charge(order_id="order-7", amount=usd("250.00"), nonce="fake-valid-nonce")


def test_check_parses_with_no_transaction_or_dispute(adapter, standin):
    event = adapter.parse_webhook(*standin.webhook("check", timestamp=SENT_AT))
    assert (event.kind, event.transaction_id, event.order_id, event.dispute) == ("check", None, None, None)
    assert event.timestamp == SENT_AT


def test_transaction_settled(adapter, standin, sale):
    standin.settle(sale.transaction_id)
    event = adapter.parse_webhook(*standin.webhook("transaction_settled", transaction_id=sale.transaction_id,
                                                   timestamp=SENT_AT))
    assert (event.kind, event.transaction_id, event.order_id) == ("transaction_settled", sale.transaction_id, "order-7")
    assert event.timestamp == SENT_AT and event.dispute is None
    assert event.raw["transaction_status"] == "settled"
    assert (event.raw["amount"], event.raw["currency"]) == ("250.00", "USD")


def test_transaction_settlement_declined(adapter, standin, sale):
    standin.decline_settlement(sale.transaction_id)
    event = adapter.parse_webhook(*standin.webhook("transaction_settlement_declined",
                                                   transaction_id=sale.transaction_id))
    assert (event.kind, event.transaction_id, event.order_id) == (
        "transaction_settlement_declined", sale.transaction_id, "order-7")
    assert event.raw["transaction_status"] == "settlement_declined"


def test_timestamp_with_a_zone_comes_back_naive_utc(adapter, standin):
    sent = datetime(2031, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    assert adapter.parse_webhook(*standin.webhook("check", timestamp=sent)).timestamp == SENT_AT


def test_dispute_opened_carries_the_dispute_and_the_disputed_sale(adapter, standin, sale):
    dispute_id = standin.open_dispute(sale.transaction_id, amount="200.00", reason="product_not_received",
                                      reply_by=date(2031, 3, 11))
    event = adapter.parse_webhook(*standin.webhook("dispute_opened", dispute_id=dispute_id, timestamp=SENT_AT))
    assert (event.kind, event.transaction_id, event.order_id) == ("dispute_opened", sale.transaction_id, "order-7")
    assert event.timestamp == SENT_AT
    d = event.dispute
    assert (d.id, d.transaction_id, d.amount, d.status, d.kind, d.reason, d.reply_by) == (
        dispute_id, sale.transaction_id, usd("200.00"), "open", "chargeback", "product_not_received", date(2031, 3, 11))
    assert event.raw["dispute_id"] == dispute_id and event.raw["amount"] == "200.00"


@pytest.mark.parametrize("status", ["won", "lost", "accepted", "expired", "disputed", "under_review"])
def test_dispute_outcomes(adapter, standin, sale, status):
    dispute_id = standin.open_dispute(sale.transaction_id)  # the sale's whole amount
    standin.set_dispute_status(dispute_id, status)
    event = adapter.parse_webhook(*standin.webhook(f"dispute_{status}", dispute_id=dispute_id))
    assert (event.kind, event.transaction_id, event.order_id) == (f"dispute_{status}", sale.transaction_id, "order-7")
    assert (event.dispute.id, event.dispute.status, event.dispute.amount) == (dispute_id, status, usd("250.00"))
    assert event.dispute.reason == "fraud" and event.dispute.reply_by is not None


def test_retrieval_in_euros(adapter, standin):
    sale = adapter.charge(order_id="order-eu", amount=Money.parse("80", "EUR"), nonce="fake-valid-nonce")
    dispute_id = standin.open_dispute(sale.transaction_id, kind="retrieval", reason="retrieval")
    event = adapter.parse_webhook(*standin.webhook("dispute_opened", dispute_id=dispute_id))
    assert (event.dispute.kind, event.dispute.amount) == ("retrieval", Money(8000, "EUR"))


def test_the_sdks_own_sample_dispute_parses(adapter):
    """The SDK's sample notifications (Braintree's shape) read the same way as the stand-in's."""
    sample = adapter.gateway.webhook_testing.sample_notification("dispute_won", "my_dispute")
    event = adapter.parse_webhook(sample["bt_signature"], sample["bt_payload"])
    assert (event.dispute.id, event.dispute.status, event.dispute.amount) == ("my_dispute", "won", usd("100.00"))
    assert event.dispute.reply_by == date(2016, 2, 22)
    assert event.transaction_id == event.dispute.transaction_id != ""


def test_a_forged_signature_is_refused(adapter, standin, sale):
    _signature, payload = standin.webhook("transaction_settled", transaction_id=sale.transaction_id)
    forger = BraintreeStandin(public_key=standin.public_key, private_key="not-the-key")
    forger.transactions = standin.transactions
    forged, _ = forger.webhook("transaction_settled", transaction_id=sale.transaction_id)
    with pytest.raises(InvalidWebhook):
        adapter.parse_webhook(forged, payload)
    with pytest.raises(InvalidWebhook):
        adapter.parse_webhook(f"someone_else|{_signature.split('|')[1]}", payload)  # no matching public key


def test_a_tampered_payload_is_refused(adapter, standin, sale):
    signature, payload = standin.webhook("transaction_settled", transaction_id=sale.transaction_id)
    xml = base64.b64decode(payload).decode()
    tampered = base64.encodebytes(xml.replace("250.00", "2500.00").encode()).decode()
    with pytest.raises(InvalidWebhook):
        adapter.parse_webhook(signature, tampered)


@pytest.mark.parametrize("payload", ["", "not base64!", "AAAA"])
def test_an_unreadable_payload_is_refused(adapter, standin, payload):
    signature, _ = standin.webhook("check")
    with pytest.raises(InvalidWebhook):
        adapter.parse_webhook(signature, payload)


def test_signed_garbage_is_refused(adapter, standin):
    """Even correctly signed, a payload that is no notification is InvalidWebhook, not a crash."""
    from braintree.util.crypto import Crypto

    for body in (b"<notification>", b"<other/>"):
        payload = base64.encodebytes(body)
        signature = f"{standin.public_key}|{Crypto.sha1_hmac_hash(standin.private_key, payload)}"
        with pytest.raises(InvalidWebhook):
            adapter.parse_webhook(signature, payload.decode())
