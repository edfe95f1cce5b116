"""The offline TestGateway: the sandbox's nonce and amount rules, refunds, stores, webhooks."""
from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directcontracts.domain.money import Money
from directcontracts.domain.payments import GatewayUnavailable, InvalidWebhook
from directcontracts.payments import make_gateway
from directcontracts.payments.braintree_adapter import BraintreeAdapter
from directcontracts.payments.sandbox_rules import TIMEOUT_NONCE, UNREACHABLE_NONCE
from directcontracts.payments.testgateway import JsonFileStore, MemoryStore, TestGateway


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


@pytest.fixture
def gateway() -> TestGateway:
    return TestGateway()


def test_identity_and_client_token(gateway):
    assert gateway.name == "test"
    assert gateway.test_mode is True
    assert gateway.client_token("EUR") == "test-client-token"


# ----------------------------------------------------------------------------- nonces


@pytest.mark.parametrize(
    ("nonce", "brand", "last4"),
    [
        ("fake-valid-nonce", "Visa", "1881"),
        ("fake-valid-visa-nonce", "Visa", "1111"),
        ("fake-valid-mastercard-nonce", "MasterCard", "4444"),
        ("fake-valid-amex-nonce", "American Express", "0005"),
        ("fake-valid-discover-nonce", "Discover", "0009"),
    ],
)
def test_valid_card_nonces_succeed(gateway, nonce, brand, last4):
    result = gateway.charge(order_id="o-1", amount=usd("12.30"), nonce=nonce)
    assert result.status == "succeeded"
    assert (result.method, result.card_brand, result.card_last4) == ("card", brand, last4)
    assert result.amount == usd("12.30")
    assert result.gateway_status == "submitted_for_settlement"
    assert result.processor_code == "1000"
    assert result.transaction_id


@pytest.mark.parametrize("nonce", ["fake-paypal-one-time-nonce", "fake-paypal-billing-agreement-nonce"])
def test_paypal_nonces_succeed_with_payer_email(gateway, nonce):
    result = gateway.charge(order_id="o-1", amount=usd("50"), nonce=nonce)
    assert result.status == "succeeded"
    assert result.method == "paypal"
    assert result.paypal_email == "jane.doe@paypal.com"
    assert result.card_last4 is None


@pytest.mark.parametrize(
    "nonce",
    [
        "fake-processor-declined-visa-nonce",
        "fake-processor-declined-mastercard-nonce",
        "fake-processor-declined-amex-nonce",
        "fake-processor-declined-discover-nonce",
    ],
)
def test_processor_declined_nonces(gateway, nonce):
    result = gateway.charge(order_id="o-1", amount=usd("10.00"), nonce=nonce)
    assert result.status == "declined"
    assert result.processor_code == "2000"
    assert result.message == "Your bank declined the card (Do Not Honor). Try another card or pay with PayPal."
    assert result.transaction_id  # Braintree keeps declined sales too


@pytest.mark.parametrize(
    ("nonce", "words"),
    [("fake-gateway-rejected-fraud-nonce", "fraud checks"), ("fake-gateway-rejected-risk-thresholds-nonce", "fraud checks")],
)
def test_gateway_rejected_nonces(gateway, nonce, words):
    result = gateway.charge(order_id="o-1", amount=usd("10.00"), nonce=nonce)
    assert result.status == "rejected"
    assert words in result.message
    assert "Try another card" in result.message
    assert result.processor_code is None


def test_processor_failure_nonce_fails(gateway):
    result = gateway.charge(order_id="o-1", amount=usd("10.00"), nonce="fake-processor-failure-jcb-nonce")
    assert result.status == "failed"
    assert result.processor_code == "3000"
    assert "try again" in result.message.lower()


@pytest.mark.parametrize(
    ("nonce", "words"),
    [
        ("fake-luhn-invalid-nonce", "card number is not valid"),
        ("fake-consumed-nonce", "already used"),
        ("no-such-nonce", "not recognised"),
        ("", "not recognised"),
    ],
)
def test_invalid_nonces_fail_validation_without_a_transaction(gateway, nonce, words):
    result = gateway.charge(order_id="o-1", amount=usd("10.00"), nonce=nonce)
    assert result.status == "failed"
    assert result.transaction_id is None
    assert words in result.message
    assert gateway.find_by_order_id("o-1") is None


def test_zero_amount_is_a_validation_error(gateway):
    result = gateway.charge(order_id="o-1", amount=usd("0"), nonce="fake-valid-nonce")
    assert result.status == "failed"
    assert "more than zero" in result.message


# ----------------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        ("2000.00", "2000", "Do Not Honor"),
        ("2001.00", "2001", "Insufficient Funds"),
        ("2004.50", "2004", "Expired Card"),
        ("2046.00", "2046", "Declined"),
        ("2999.99", "2999", "Declined"),  # unmapped code: generic wording
    ],
)
def test_decline_amounts(gateway, amount, code, text):
    result = gateway.charge(order_id="o-1", amount=usd(amount), nonce="fake-valid-nonce")
    assert result.status == "declined"
    assert result.processor_code == code
    assert result.message.startswith(f"Your bank declined the card ({text}).")


@settings(max_examples=40, deadline=None)
@given(cents=st.integers(min_value=200000, max_value=299999))
def test_every_amount_in_the_decline_range_declines_with_its_integer_part(cents):
    result = TestGateway().charge(order_id="o", amount=Money(cents, "USD"), nonce="fake-valid-mastercard-nonce")
    assert result.status == "declined"
    assert result.processor_code == str(cents // 100)


@pytest.mark.parametrize("amount", ["3000.00", "3000.99"])
def test_processor_unavailable_amounts_fail(gateway, amount):
    result = gateway.charge(order_id="o-1", amount=usd(amount), nonce="fake-valid-nonce")
    assert result.status == "failed"
    assert result.processor_code == "3000"
    assert "Processor Network Unavailable" in result.message
    assert "Nothing was charged" in result.message


@pytest.mark.parametrize("amount", ["0.01", "1999.99", "3001.00", "4500.00", "5001.02", "5002.00"])
def test_other_amounts_succeed(gateway, amount):
    assert gateway.charge(order_id="o-1", amount=usd(amount), nonce="fake-valid-nonce").status == "succeeded"


def test_5001_is_rejected_as_application_incomplete(gateway):
    result = gateway.charge(order_id="o-1", amount=usd("5001.00"), nonce="fake-paypal-one-time-nonce")
    assert result.status == "rejected"
    assert "not fully set up" in result.message


def test_5001_01_declines_paypal_only(gateway):
    paypal = gateway.charge(order_id="o-1", amount=usd("5001.01"), nonce="fake-paypal-one-time-nonce")
    card = gateway.charge(order_id="o-2", amount=usd("5001.01"), nonce="fake-valid-nonce")
    assert (paypal.status, paypal.processor_code) == ("declined", "2038")
    assert paypal.message.startswith("PayPal declined the payment (Processor Declined).")
    assert card.status == "succeeded"


def test_amount_rules_read_major_units_whatever_the_currency(gateway):
    # As in the sandbox: 2000 yen falls in the decline range.
    result = gateway.charge(order_id="o-1", amount=Money(2000, "JPY"), nonce="fake-valid-nonce")
    assert (result.status, result.processor_code) == ("declined", "2000")
    assert gateway.charge(order_id="o-2", amount=Money(1999, "JPY"), nonce="fake-valid-nonce").status == "succeeded"


# ----------------------------------------------------------------------------- unknown outcomes


def test_timeout_nonce_charges_then_loses_the_response(gateway):
    with pytest.raises(GatewayUnavailable):
        gateway.charge(order_id="o-lost", amount=usd("75.00"), nonce=TIMEOUT_NONCE)
    found = gateway.find_by_order_id("o-lost")
    assert found.status == "succeeded"
    assert found.amount == usd("75.00")


def test_timeout_nonce_succeeds_whatever_the_amount(gateway):
    with pytest.raises(GatewayUnavailable):
        gateway.charge(order_id="o-lost", amount=usd("2500.00"), nonce=TIMEOUT_NONCE)
    assert gateway.find_by_order_id("o-lost").status == "succeeded"


def test_unreachable_nonce_records_nothing(gateway):
    with pytest.raises(GatewayUnavailable):
        gateway.charge(order_id="o-down", amount=usd("75.00"), nonce=UNREACHABLE_NONCE)
    assert gateway.find_by_order_id("o-down") is None


def test_find_by_order_id_prefers_the_sale_that_captured_money(gateway):
    declined = gateway.charge(order_id="o-1", amount=usd("10"), nonce="fake-processor-declined-visa-nonce")
    paid = gateway.charge(order_id="o-1", amount=usd("10"), nonce="fake-valid-nonce")
    gateway.charge(order_id="o-1", amount=usd("10"), nonce="fake-gateway-rejected-fraud-nonce")
    assert gateway.find_by_order_id("o-1").transaction_id == paid.transaction_id
    gateway.charge(order_id="o-2", amount=usd("10"), nonce="fake-processor-declined-visa-nonce")
    latest = gateway.charge(order_id="o-2", amount=usd("10"), nonce="fake-gateway-rejected-fraud-nonce")
    assert gateway.find_by_order_id("o-2").transaction_id == latest.transaction_id
    assert declined.transaction_id != paid.transaction_id


# ----------------------------------------------------------------------------- refunds


def test_full_refund_before_settlement_voids_the_sale(gateway):
    sale = gateway.charge(order_id="o-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    refund = gateway.refund(sale.transaction_id, usd("100.00"))
    assert (refund.ok, refund.kind, refund.transaction_id) == (True, "voided", sale.transaction_id)
    found = gateway.find_by_order_id("o-1")
    assert (found.status, found.gateway_status) == ("failed", "voided")
    again = gateway.refund(sale.transaction_id, usd("100.00"))
    assert not again.ok and "nothing to refund" in again.message
    with pytest.raises(ValueError):
        gateway.settle(sale.transaction_id)


def test_partial_refund_needs_a_settled_sale(gateway):
    sale = gateway.charge(order_id="o-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    early = gateway.refund(sale.transaction_id, usd("30.00"))
    assert not early.ok
    assert "not settled yet" in early.message


def test_refunds_after_settlement_never_exceed_the_captured_amount(gateway):
    sale = gateway.charge(order_id="o-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    gateway.settle(sale.transaction_id)
    first = gateway.refund(sale.transaction_id, usd("30.00"))
    assert (first.ok, first.kind) == (True, "refunded")
    assert first.transaction_id not in (None, sale.transaction_id)
    too_much = gateway.refund(sale.transaction_id, usd("70.01"))
    assert not too_much.ok and "more than what is left" in too_much.message
    rest = gateway.refund(sale.transaction_id, usd("70.00"))
    assert rest.ok and rest.kind == "refunded"
    done = gateway.refund(sale.transaction_id, usd("0.01"))
    assert not done.ok and "already been refunded in full" in done.message
    # A refund is not a sale: refunding it is refused, and the sale still reads as paid.
    assert not gateway.refund(first.transaction_id, usd("1.00")).ok
    assert gateway.find_by_order_id("o-1").status == "succeeded"


def test_refund_refusals(gateway):
    declined = gateway.charge(order_id="o-1", amount=usd("10"), nonce="fake-processor-declined-visa-nonce")
    paid = gateway.charge(order_id="o-2", amount=usd("10"), nonce="fake-valid-nonce")
    assert "nothing to refund" in gateway.refund(declined.transaction_id, usd("10")).message
    assert "currency" in gateway.refund(paid.transaction_id, Money(1000, "EUR")).message
    assert "more than zero" in gateway.refund(paid.transaction_id, usd("0")).message
    assert "No payment" in gateway.refund("nope", usd("10")).message


# ----------------------------------------------------------------------------- stores


def test_json_file_store_is_shared_between_gateways(tmp_path):
    path = tmp_path / "instance" / "test-gateway.json"
    one, two = TestGateway(store=JsonFileStore(path)), TestGateway(store=JsonFileStore(path))
    sale = one.charge(order_id="o-1", amount=usd("40.00"), nonce="fake-valid-amex-nonce")
    found = two.find_by_order_id("o-1")
    assert found == sale
    two.settle(sale.transaction_id)
    assert one.refund(sale.transaction_id, usd("15.00")).kind == "refunded"
    assert two.refund(sale.transaction_id, usd("25.01")).ok is False
    assert json.loads(path.read_text())["transactions"][sale.transaction_id]["refunded_minor"] == 1500


def test_json_file_store_keeps_every_concurrent_sale(tmp_path):
    path = tmp_path / "sales.json"

    def pay(worker: int) -> None:
        gateway = TestGateway(store=JsonFileStore(path))  # as another process would
        for n in range(8):
            gateway.charge(order_id=f"o-{worker}-{n}", amount=usd("1.00"), nonce="fake-valid-nonce")

    threads = [threading.Thread(target=pay, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reader = TestGateway(store=JsonFileStore(path))
    assert all(reader.find_by_order_id(f"o-{w}-{n}") for w in range(4) for n in range(8))
    assert len(json.loads(path.read_text())["transactions"]) == 32


def test_memory_store_is_per_instance():
    one, two = TestGateway(store=MemoryStore()), TestGateway()
    one.charge(order_id="o-1", amount=usd("1"), nonce="fake-valid-nonce")
    assert two.find_by_order_id("o-1") is None


# ----------------------------------------------------------------------------- webhooks


def test_signed_webhook_is_parsed_and_the_order_looked_up(gateway):
    sale = gateway.charge(order_id="o-1", amount=usd("5"), nonce="fake-valid-nonce")
    signature, payload = gateway.sample_webhook("transaction_settled", sale.transaction_id)
    event = gateway.parse_webhook(signature, payload)
    assert (event.kind, event.transaction_id, event.order_id) == ("transaction_settled", sale.transaction_id, "o-1")
    assert event.raw["kind"] == "transaction_settled"
    assert gateway.parse_webhook(signature.upper(), payload).kind == "transaction_settled"


@pytest.mark.parametrize("tamper", ["signature", "payload", "empty"])
def test_webhook_with_a_bad_signature_is_refused(gateway, tamper):
    signature, payload = gateway.sample_webhook("transaction_settled", "abc")
    if tamper == "signature":
        signature = "0" * 64
    elif tamper == "payload":
        payload = payload.replace("abc", "abd")
    else:
        signature = ""
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(signature, payload)


def test_webhook_secret_is_configurable_and_payload_must_be_an_event():
    gateway = TestGateway(webhook_secret="s3cret")
    other = TestGateway()
    signature, payload = other.sample_webhook("check")
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(signature, payload)
    for bad in ("not json", "[1, 2]", '{"no": "kind"}'):
        with pytest.raises(InvalidWebhook):
            gateway.parse_webhook(gateway.sign_webhook(bad), bad)


# ----------------------------------------------------------------------------- make_gateway


def test_make_gateway_without_credentials_gives_the_test_gateway(tmp_path, caplog):
    assert isinstance(make_gateway({}), TestGateway)
    assert not caplog.records
    partial = {"BRAINTREE_MERCHANT_ID": "m", "BRAINTREE_PUBLIC_KEY": "p", "BRAINTREE_PRIVATE_KEY": ""}
    assert isinstance(make_gateway(partial), TestGateway)
    assert "BRAINTREE_PRIVATE_KEY" in caplog.text
    shared = make_gateway({"TEST_GATEWAY_STORE": str(tmp_path / "tg.json"), "TEST_GATEWAY_WEBHOOK_SECRET": "k"})
    assert isinstance(shared.store, JsonFileStore)
    assert shared.sign_webhook("x") == TestGateway(webhook_secret="k").sign_webhook("x")


@pytest.mark.parametrize(
    ("environment", "test_mode", "base_url"),
    [
        ("sandbox", True, "https://api.sandbox.braintreegateway.com:443"),
        ("production", False, "https://api.braintreegateway.com:443"),
        ("http://127.0.0.1:8901", True, "http://127.0.0.1:8901"),
        ("https://bt.example.test", True, "https://bt.example.test:443"),
    ],
)
def test_make_gateway_with_credentials_gives_braintree(environment, test_mode, base_url):
    gateway = make_gateway({
        "BRAINTREE_MERCHANT_ID": "m",
        "BRAINTREE_PUBLIC_KEY": "p",
        "BRAINTREE_PRIVATE_KEY": "k",
        "BRAINTREE_ENVIRONMENT": environment,
        "BRAINTREE_MERCHANT_ACCOUNTS": {"eur": "eur_account"},
        "BRAINTREE_READ_TIMEOUT": "12",
    })
    assert isinstance(gateway, BraintreeAdapter)
    assert gateway.name == "braintree"
    assert gateway.test_mode is test_mode
    assert gateway.gateway.config.base_url() == base_url
    assert gateway.gateway.config.timeout == (5.0, 12.0)
    assert gateway.merchant_accounts == {"EUR": "eur_account"}


def test_make_gateway_refuses_an_unknown_environment():
    with pytest.raises(ValueError):
        make_gateway({"BRAINTREE_MERCHANT_ID": "m", "BRAINTREE_PUBLIC_KEY": "p", "BRAINTREE_PRIVATE_KEY": "k",
                      "BRAINTREE_ENVIRONMENT": "staging"})
