"""Searching the gateway's sales by creation time: how reconciliation finds a sale that landed late.

Through the real braintree SDK against the local stand-in, and on the
offline test gateway, which must answer the same way.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from directcontracts.domain.money import Money
from directcontracts.domain.payments import GatewayUnavailable
from directcontracts.models import utcnow
from directcontracts.payments.testgateway import TestGateway


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def test_braintree_search_by_creation_time_finds_a_sale_that_landed_late(adapter, standin):
    since = utcnow() - timedelta(seconds=1)
    early = adapter.charge(order_id="order-early", amount=usd("10.00"), nonce="fake-valid-nonce")
    standin.fault = "read_timeout"
    with pytest.raises(GatewayUnavailable):
        adapter.charge(order_id="order-late", amount=usd("25.00"), nonce="fake-valid-nonce")
    standin.wait_until_held()
    # Not processed yet: neither the order-id look-up nor the date search sees it.
    assert adapter.find_by_order_id("order-late") is None
    assert [s.order_id for s in adapter.search_sales(since, utcnow() + timedelta(seconds=1))] == ["order-early"]
    standin.release_held()
    standin.fault = None
    found = {s.order_id: s for s in adapter.search_sales(since, utcnow() + timedelta(seconds=1))}
    assert set(found) == {"order-early", "order-late"}
    late = found["order-late"]
    assert (late.status, late.amount, late.gateway_status) == ("succeeded", usd("25.00"), "submitted_for_settlement")
    assert late.transaction_id == standin.sales_for("order-late")[0]["id"]
    assert since - timedelta(seconds=1) <= late.created_at <= utcnow() and late.created_at.tzinfo is None
    assert found["order-early"].transaction_id == early.transaction_id
    # The SDK sent the created_at range and the sale type (the stand-in filters on both).
    assert any(path.endswith("/transactions/advanced_search_ids") for _, path in standin.requests)


def test_braintree_search_leaves_out_refunds_and_sales_outside_the_range(adapter, standin):
    sale = adapter.charge(order_id="order-1", amount=usd("40.00"), nonce="fake-valid-nonce")
    standin.settle(sale.transaction_id)
    assert adapter.refund(sale.transaction_id, usd("40.00")).kind == "refunded"  # a credit: not a sale
    old = adapter.charge(order_id="order-old", amount=usd("5.00"), nonce="fake-valid-nonce")
    standin.transactions[old.transaction_id]["created_at"] -= timedelta(days=8)
    now = utcnow()
    found = adapter.search_sales(now - timedelta(days=7), now + timedelta(seconds=1))
    assert [(s.order_id, s.transaction_id) for s in found] == [("order-1", sale.transaction_id)]
    assert adapter.search_sales(now - timedelta(days=9), now - timedelta(days=7))[0].order_id == "order-old"


def test_test_gateway_late_nonce_lands_only_when_released():
    gateway = TestGateway()
    since = utcnow() - timedelta(seconds=1)
    with pytest.raises(GatewayUnavailable):
        gateway.charge(order_id="order-late", amount=usd("25.00"), nonce="fake-late-nonce")
    declined = gateway.charge(order_id="order-no", amount=usd("25.00"), nonce="fake-processor-declined-visa-nonce")
    assert gateway.find_by_order_id("order-late") is None
    assert [s.order_id for s in gateway.search_sales(since, utcnow())] == ["order-no"]
    [landed] = gateway.release_late()
    found = gateway.search_sales(since, utcnow())
    assert [(s.order_id, s.status) for s in found] == [("order-no", "declined"), ("order-late", "succeeded")]
    assert found[1].transaction_id == landed and found[1].amount == usd("25.00")
    assert found[0].transaction_id == declined.transaction_id
    assert gateway.search_sales(since - timedelta(days=1), since) == []
    assert gateway.release_late() == []
