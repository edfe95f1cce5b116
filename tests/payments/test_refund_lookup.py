"""Both gateways answer ``find_refund`` the same way, and a void or refund whose answer is lost
(dropped, slow, 5xx) or never made (gateway down) is told apart by that look-up afterwards."""
from __future__ import annotations

import pytest

from directcontracts.domain.money import Money
from directcontracts.domain.payments import GatewayUnavailable
from directcontracts.payments.testgateway import REFUND_ANSWER_LOST, REFUND_UNREACHABLE, TestGateway


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def test_a_void_is_found_by_the_sales_status(gw):
    gateway, _ = gw
    sale = gateway.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    assert gateway.find_refund(sale.transaction_id, "refund-1") is None
    assert gateway.refund(sale.transaction_id, usd("100.00"), order_id="refund-1").kind == "voided"
    found = gateway.find_refund(sale.transaction_id, "refund-1")
    assert (found.ok, found.kind, found.transaction_id) == (True, "voided", sale.transaction_id)


def test_a_refund_is_found_by_its_own_order_id_and_sale(gw):
    gateway, settle = gw
    sale = gateway.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    other = gateway.charge(order_id="order-2", amount=usd("100.00"), nonce="fake-valid-nonce")
    settle(sale.transaction_id)
    settle(other.transaction_id)
    made = gateway.refund(sale.transaction_id, usd("30.00"), order_id="refund-7")
    assert (made.ok, made.kind) == (True, "refunded")
    found = gateway.find_refund(sale.transaction_id, "refund-7")
    assert (found.ok, found.kind, found.transaction_id) == (True, "refunded", made.transaction_id)
    assert gateway.find_refund(sale.transaction_id, "refund-8") is None  # another refund of the same sale
    assert gateway.find_refund(other.transaction_id, "refund-7") is None  # the same order id on another sale
    assert gateway.find_refund("nosuchsale", "refund-7") is None


def test_offline_gateway_refund_faults():
    gateway = TestGateway()
    sale = gateway.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    gateway.refund_fault = REFUND_UNREACHABLE
    with pytest.raises(GatewayUnavailable):
        gateway.refund(sale.transaction_id, usd("100.00"), order_id="refund-1")
    assert gateway.find_refund(sale.transaction_id, "refund-1") is None
    gateway.refund_fault = REFUND_ANSWER_LOST
    with pytest.raises(GatewayUnavailable):
        gateway.refund(sale.transaction_id, usd("100.00"), order_id="refund-2")
    assert gateway.find_refund(sale.transaction_id, "refund-2").kind == "voided"


@pytest.mark.parametrize("fault", ["drop_response", "server_error", "read_timeout"])
@pytest.mark.parametrize("settled", [False, True], ids=["void", "refund"])
def test_standin_makes_the_void_or_refund_but_loses_the_answer(adapter, standin, fault, settled):
    sale = adapter.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    if settled:
        standin.settle(sale.transaction_id)
    standin.refund_fault = fault
    with pytest.raises(GatewayUnavailable):
        adapter.refund(sale.transaction_id, usd("100.00"), order_id="refund-1")
    standin.refund_fault = None
    if fault == "read_timeout":
        standin.wait_until_held()
        assert adapter.find_refund(sale.transaction_id, "refund-1") is None  # not made yet
        standin.release_held()
    found = adapter.find_refund(sale.transaction_id, "refund-1")
    assert found.kind == ("refunded" if settled else "voided")
    record = standin.transactions[found.transaction_id]
    if settled:
        assert (record["type"], record["order_id"], record["refunded_transaction_id"]) == \
            ("credit", "refund-1", sale.transaction_id)
    else:
        assert record["status"] == "voided"


def test_standin_down_makes_nothing(adapter, standin):
    sale = adapter.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    standin.refund_fault = "unavailable"
    with pytest.raises(GatewayUnavailable):
        adapter.refund(sale.transaction_id, usd("100.00"), order_id="refund-1")
    assert adapter.find_refund(sale.transaction_id, "refund-1") is None  # look-ups still work
    assert standin.transactions[sale.transaction_id]["status"] == "submitted_for_settlement"
