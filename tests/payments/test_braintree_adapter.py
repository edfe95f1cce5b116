"""BraintreeAdapter through the real braintree SDK, against the local stand-in."""
from __future__ import annotations

import base64
import json
import socket
import time

import braintree
import pytest

from directcontracts.domain.money import Money
from directcontracts.domain.payments import GatewayUnavailable, InvalidWebhook
from directcontracts.payments import make_gateway
from directcontracts.payments.braintree_adapter import BraintreeAdapter, GatewayMisconfigured


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def test_client_token_names_the_currency_merchant_account(adapter, standin):
    token = json.loads(base64.b64decode(adapter.client_token("EUR")))
    assert token["merchantAccountId"] == "eur_account"
    default = json.loads(base64.b64decode(adapter.client_token("GBP")))
    assert default["merchantAccountId"] == standin.default_merchant_account
    assert ("POST", f"/merchants/{standin.merchant_id}/client_token") in standin.requests


def test_client_token_for_an_unknown_merchant_account_is_a_misconfiguration(make_adapter):
    adapter = make_adapter(merchant_accounts={"USD": "no_such_account"})
    with pytest.raises(GatewayMisconfigured):
        adapter.client_token("USD")


def test_approved_card_sale(adapter, standin):
    result = adapter.charge(order_id="order-1", amount=usd("1250.50"), nonce="fake-valid-nonce")
    assert result.status == "succeeded"
    assert (result.method, result.card_brand, result.card_last4) == ("card", "Visa", "1881")
    assert result.amount == usd("1250.50")
    assert result.gateway_status == "submitted_for_settlement"
    stored = standin.transactions[result.transaction_id]
    assert (stored["order_id"], stored["amount"], stored["merchant_account_id"]) == ("order-1", "1250.50", "usd_account")


def test_approved_paypal_sale_in_euros(adapter, standin):
    result = adapter.charge(order_id="order-1", amount=Money.parse("80", "EUR"), nonce="fake-paypal-one-time-nonce")
    assert result.status == "succeeded"
    assert (result.method, result.paypal_email) == ("paypal", "jane.doe@paypal.com")
    assert result.amount == Money(8000, "EUR")
    assert standin.transactions[result.transaction_id]["merchant_account_id"] == "eur_account"


@pytest.mark.parametrize(
    ("nonce", "amount", "code", "text"),
    [
        ("fake-processor-declined-visa-nonce", "10.00", "2000", "Do Not Honor"),
        ("fake-valid-nonce", "2001.00", "2001", "Insufficient Funds"),
    ],
)
def test_processor_declined(adapter, nonce, amount, code, text):
    result = adapter.charge(order_id="order-1", amount=usd(amount), nonce=nonce)
    assert result.status == "declined"
    assert result.processor_code == code
    assert result.message.startswith(f"Your bank declined the card ({text}).")
    assert result.transaction_id


@pytest.mark.parametrize(
    ("nonce", "amount", "words"),
    [("fake-gateway-rejected-fraud-nonce", "10.00", "fraud checks"), ("fake-valid-nonce", "5001.00", "not fully set up")],
)
def test_gateway_rejected(adapter, nonce, amount, words):
    result = adapter.charge(order_id="order-1", amount=usd(amount), nonce=nonce)
    assert result.status == "rejected"
    assert words in result.message


def test_processor_network_failure(adapter):
    result = adapter.charge(order_id="order-1", amount=usd("3000.00"), nonce="fake-valid-nonce")
    assert (result.status, result.processor_code) == ("failed", "3000")


@pytest.mark.parametrize(
    ("nonce", "words"), [("not-a-nonce", "not recognised"), ("fake-luhn-invalid-nonce", "card number is not valid")]
)
def test_validation_errors_fail_without_a_transaction(adapter, standin, nonce, words):
    result = adapter.charge(order_id="order-1", amount=usd("10.00"), nonce=nonce)
    assert result.status == "failed"
    assert result.transaction_id is None
    assert words in result.message
    assert standin.transactions == {}


def test_find_by_order_id(adapter):
    sale = adapter.charge(order_id="order-1", amount=usd("10.00"), nonce="fake-valid-mastercard-nonce")
    adapter.charge(order_id="order-2", amount=usd("20.00"), nonce="fake-valid-nonce")
    found = adapter.find_by_order_id("order-1")
    assert found == sale
    assert adapter.find_by_order_id("order-404") is None


def test_search_by_order_id_prefers_the_sale_that_went_through(adapter):
    adapter.charge(order_id="order-1", amount=usd("10.00"), nonce="fake-processor-declined-visa-nonce")
    paid = adapter.charge(order_id="order-1", amount=usd("10.00"), nonce="fake-valid-nonce")
    adapter.charge(order_id="order-1", amount=usd("10.00"), nonce="fake-gateway-rejected-fraud-nonce")
    # The SDK's own search sees all three (one page of repeated <transaction> elements)...
    found = adapter.gateway.transaction.search(braintree.TransactionSearch.order_id == "order-1")
    assert sorted(t.status for t in found.items) == ["gateway_rejected", "processor_declined", "submitted_for_settlement"]
    # ...and the adapter picks the one that captured money.
    assert adapter.find_by_order_id("order-1").transaction_id == paid.transaction_id


def test_full_refund_before_settlement_is_a_void(adapter, standin):
    sale = adapter.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    refund = adapter.refund(sale.transaction_id, usd("100.00"))
    assert (refund.ok, refund.kind, refund.transaction_id) == (True, "voided", sale.transaction_id)
    assert standin.transactions[sale.transaction_id]["status"] == "voided"
    assert adapter.find_by_order_id("order-1").status == "failed"


def test_partial_refund_after_settlement(adapter, standin):
    sale = adapter.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    early = adapter.refund(sale.transaction_id, usd("30.00"))
    assert not early.ok and "not settled yet" in early.message
    standin.settle(sale.transaction_id)
    refund = adapter.refund(sale.transaction_id, usd("30.00"))
    assert (refund.ok, refund.kind) == (True, "refunded")
    credit = standin.transactions[refund.transaction_id]
    assert (credit["type"], credit["amount"], credit["refunded_transaction_id"]) == ("credit", "30.00", sale.transaction_id)
    too_much = adapter.refund(sale.transaction_id, usd("70.01"))
    assert not too_much.ok and "more than what is left" in too_much.message
    assert adapter.refund(sale.transaction_id, usd("70.00")).ok
    assert adapter.find_by_order_id("order-1").status == "succeeded"


def test_refund_of_an_unknown_transaction(adapter):
    assert "No payment" in adapter.refund("nosuchid", usd("1.00")).message


def test_read_timeout_leaves_the_outcome_to_a_later_search(adapter, standin):
    standin.fault = "read_timeout"
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable) as raised:
        adapter.charge(order_id="order-slow", amount=usd("10.00"), nonce="fake-valid-nonce")
    assert not isinstance(raised.value, GatewayMisconfigured)
    assert time.monotonic() - started < adapter.gateway.config.timeout[1] + 2
    standin.wait_until_held()
    # The gateway has not processed it yet: nothing to find.
    assert adapter.find_by_order_id("order-slow") is None
    standin.release_held()
    # It went through after the client gave up: reconciliation finds it.
    assert adapter.find_by_order_id("order-slow").status == "succeeded"


def test_response_lost_after_the_charge_went_through(adapter, standin):
    standin.fault = "drop_response"
    with pytest.raises(GatewayUnavailable):
        adapter.charge(order_id="order-lost", amount=usd("10.00"), nonce="fake-valid-nonce")
    standin.fault = None
    # Neither the SDK nor requests retried the POST: one sale, not two.
    assert len(standin.sales_for("order-lost")) == 1
    found = adapter.find_by_order_id("order-lost")
    assert found.status == "succeeded"
    assert found.amount == usd("10.00")


def test_test_gateway_nonces_work_against_the_standin(adapter):
    with pytest.raises(GatewayUnavailable):
        adapter.charge(order_id="order-lost", amount=usd("10.00"), nonce="fake-timeout-nonce")
    assert adapter.find_by_order_id("order-lost").status == "succeeded"
    with pytest.raises(GatewayUnavailable):
        adapter.charge(order_id="order-down", amount=usd("10.00"), nonce="fake-unreachable-nonce")
    assert adapter.find_by_order_id("order-down") is None


def test_service_unavailable(adapter, standin):
    standin.fault = "unavailable"
    with pytest.raises(GatewayUnavailable):
        adapter.charge(order_id="order-1", amount=usd("10.00"), nonce="fake-valid-nonce")
    assert standin.transactions == {}


def test_nothing_listening_is_unavailable(make_adapter):
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = make_adapter(environment=f"http://127.0.0.1:{port}")
    with pytest.raises(GatewayUnavailable):
        adapter.charge(order_id="order-1", amount=usd("10.00"), nonce="fake-valid-nonce")


@pytest.mark.parametrize("field", ["private_key", "merchant_id"])
def test_wrong_credentials_are_a_misconfiguration(make_adapter, standin, field):
    adapter = make_adapter(**{field: "wrong"})
    with pytest.raises(GatewayMisconfigured) as raised:
        adapter.charge(order_id="order-1", amount=usd("10.00"), nonce="fake-valid-nonce")
    assert isinstance(raised.value, GatewayUnavailable)  # callers leave the attempt unknown
    with pytest.raises(GatewayMisconfigured):
        adapter.find_by_order_id("order-1")
    assert standin.transactions == {}


def test_currency_without_a_merchant_account_is_refused_before_calling(adapter, standin):
    result = adapter.charge(order_id="order-1", amount=Money(1500, "JPY"), nonce="fake-valid-nonce")
    assert result.status == "failed"
    assert "JPY" in result.message
    assert not any(path.endswith("/transactions") for _method, path in standin.requests)


def test_sale_landing_in_another_currency_is_voided(make_adapter, standin):
    adapter = make_adapter(merchant_accounts={})  # default account settles in USD
    result = adapter.charge(order_id="order-1", amount=Money.parse("80", "EUR"), nonce="fake-valid-nonce")
    assert result.status == "failed"
    assert "EUR" in result.message
    assert standin.transactions[result.transaction_id]["status"] == "voided"


def test_webhook_signed_by_braintree_is_parsed(adapter):
    sale = adapter.charge(order_id="order-1", amount=usd("10.00"), nonce="fake-valid-nonce")
    sample = adapter.gateway.webhook_testing.sample_notification("transaction_settled", sale.transaction_id)
    event = adapter.parse_webhook(sample["bt_signature"], sample["bt_payload"])
    assert (event.kind, event.transaction_id) == ("transaction_settled", sale.transaction_id)
    assert event.raw["transaction_status"] == "settled"


def test_webhook_with_a_bad_signature_is_refused(adapter):
    sample = adapter.gateway.webhook_testing.sample_notification("check", "x")
    with pytest.raises(InvalidWebhook):
        adapter.parse_webhook(sample["bt_signature"].replace("|", "|0"), sample["bt_payload"])
    with pytest.raises(InvalidWebhook):
        adapter.parse_webhook("", sample["bt_payload"])


def test_make_gateway_drives_the_standin(standin):
    gateway = make_gateway({
        "BRAINTREE_MERCHANT_ID": standin.merchant_id,
        "BRAINTREE_PUBLIC_KEY": standin.public_key,
        "BRAINTREE_PRIVATE_KEY": standin.private_key,
        "BRAINTREE_ENVIRONMENT": standin.url,
        "BRAINTREE_MERCHANT_ACCOUNTS": {"USD": "usd_account"},
        "BRAINTREE_READ_TIMEOUT": 2,
    })
    try:
        assert isinstance(gateway, BraintreeAdapter) and gateway.test_mode
        assert gateway.charge(order_id="o", amount=usd("5.00"), nonce="fake-valid-amex-nonce").card_last4 == "0005"
    finally:
        gateway.close()


def test_transaction_status_follows_settlement(adapter, standin):
    sale = adapter.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    assert adapter.transaction_status(sale.transaction_id) == "submitted_for_settlement"
    standin.settle(sale.transaction_id)
    assert adapter.transaction_status(sale.transaction_id) == "settled"
    other = adapter.charge(order_id="order-2", amount=usd("10.00"), nonce="fake-valid-nonce")
    standin.decline_settlement(other.transaction_id)
    assert adapter.transaction_status(other.transaction_id) == "settlement_declined"
    assert adapter.transaction_status("nosuchid") is None
