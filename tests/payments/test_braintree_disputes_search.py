"""BraintreeAdapter.search_transactions, add_dispute_evidence and finalize_dispute through the real SDK."""
from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

import pytest

from directcontracts.domain.money import Money
from directcontracts.domain.payments import DisputeRefused, GatewayTransaction, GatewayUnavailable
from directcontracts.payments.braintree_adapter import GatewayMisconfigured


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def utcnow() -> datetime:
    """Now, naive UTC (as the adapter's search bounds are)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@pytest.fixture
def unreachable(make_adapter):
    """An adapter pointed at a port nothing listens on."""
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return make_adapter(environment=f"http://127.0.0.1:{port}")


# ----------------------------------------------------------------------------- search_transactions


def test_search_finds_sales_and_refunds_in_the_window(adapter, standin):
    sale = adapter.charge(order_id="order-1", amount=usd("100.00"), nonce="fake-valid-nonce")
    standin.settle(sale.transaction_id)
    refund = adapter.refund(sale.transaction_id, usd("40.00"), order_id="order-1-r1")
    declined = adapter.charge(order_id="order-2", amount=usd("10.00"), nonce="fake-processor-declined-visa-nonce")
    now = standin.transactions[sale.transaction_id]["created_at"].replace(tzinfo=None, microsecond=0)

    found = {t.id: t for t in adapter.search_transactions(now - timedelta(minutes=5), now + timedelta(minutes=5))}

    assert set(found) == {sale.transaction_id, refund.transaction_id, declined.transaction_id}
    assert found[sale.transaction_id] == GatewayTransaction(
        id=sale.transaction_id, type="sale", status="settled", amount=usd("100.00"), order_id="order-1",
        created_at=found[sale.transaction_id].created_at)
    credit = found[refund.transaction_id]
    assert (credit.type, credit.status, credit.amount, credit.order_id, credit.refunded_transaction_id) == (
        "credit", "submitted_for_settlement", usd("40.00"), "order-1-r1", sale.transaction_id)
    assert found[declined.transaction_id].status == "processor_declined"
    assert all(t.created_at is not None and t.created_at.tzinfo is None
               and abs(t.created_at - now) < timedelta(minutes=1) for t in found.values())


def test_search_leaves_out_what_lies_outside_the_window(adapter, standin):
    early = adapter.charge(order_id="order-early", amount=usd("10.00"), nonce="fake-valid-nonce")
    late = adapter.charge(order_id="order-late", amount=usd("20.00"), nonce="fake-valid-nonce")
    standin.transactions[early.transaction_id]["created_at"] -= timedelta(hours=3)
    now = standin.transactions[late.transaction_id]["created_at"].replace(tzinfo=None, microsecond=0)

    assert [t.id for t in adapter.search_transactions(now - timedelta(hours=1), now + timedelta(hours=1))] == [
        late.transaction_id]
    assert [t.id for t in adapter.search_transactions(now - timedelta(hours=4), now - timedelta(hours=2))] == [
        early.transaction_id]
    assert adapter.search_transactions(now + timedelta(hours=1), now + timedelta(hours=2)) == []


def test_search_sends_one_search_without_a_type(adapter, standin):
    now = utcnow()
    adapter.search_transactions(now - timedelta(hours=1), now)
    assert [path for _method, path in standin.requests if "advanced_search_ids" in path] == [
        f"/merchants/{standin.merchant_id}/transactions/advanced_search_ids"]


def test_search_on_a_server_error_is_unavailable(adapter, standin):
    standin.search_fault = "server_error"
    now = utcnow()
    with pytest.raises(GatewayUnavailable) as caught:
        adapter.search_transactions(now - timedelta(hours=1), now)
    assert not isinstance(caught.value, GatewayMisconfigured)


def test_search_when_unreachable_is_unavailable(unreachable):
    now = utcnow()
    with pytest.raises(GatewayUnavailable):
        unreachable.search_transactions(now - timedelta(hours=1), now)


# ----------------------------------------------------------------------------- disputes


@pytest.fixture
def dispute_id(adapter, standin):
    """An open chargeback of a settled USD 300.00 sale."""
    sale = adapter.charge(order_id="order-1", amount=usd("300.00"), nonce="fake-valid-nonce")
    standin.settle(sale.transaction_id)
    return standin.open_dispute(sale.transaction_id)


def test_evidence_reaches_braintree_and_finalize_sends_it(adapter, standin, dispute_id):
    first = adapter.add_dispute_evidence(dispute_id, "The work was delivered on 3 March; see the thread.")
    second = adapter.add_dispute_evidence(dispute_id, "The client approved the milestone.")
    stored = standin.disputes[dispute_id]["evidence"]
    assert [(e["id"], e["comments"]) for e in stored] == [
        (first, "The work was delivered on 3 March; see the thread."), (second, "The client approved the milestone.")]

    adapter.finalize_dispute(dispute_id)
    assert standin.disputes[dispute_id]["status"] == "disputed"
    found = adapter.gateway.dispute.find(dispute_id)
    assert [e.id for e in found.evidence] == [first, second]
    assert all(e.sent_to_processor_at is not None for e in found.evidence)
    assert ("PUT", f"/merchants/{standin.merchant_id}/disputes/{dispute_id}/finalize") in standin.requests


def test_after_finalize_evidence_and_finalize_are_refused(adapter, standin, dispute_id):
    adapter.add_dispute_evidence(dispute_id, "Delivered.")
    adapter.finalize_dispute(dispute_id)
    with pytest.raises(DisputeRefused, match="nothing more can be added"):
        adapter.add_dispute_evidence(dispute_id, "One more thing.")
    with pytest.raises(DisputeRefused, match="already sent to the bank"):
        adapter.finalize_dispute(dispute_id)
    assert len(standin.disputes[dispute_id]["evidence"]) == 1


@pytest.mark.parametrize("status", ["won", "lost", "accepted", "expired"])
def test_a_closed_dispute_refuses_evidence_and_finalize(adapter, standin, dispute_id, status):
    standin.set_dispute_status(dispute_id, status)
    with pytest.raises(DisputeRefused):
        adapter.add_dispute_evidence(dispute_id, "Too late.")
    with pytest.raises(DisputeRefused):
        adapter.finalize_dispute(dispute_id)
    assert standin.disputes[dispute_id]["evidence"] == []


def test_an_unknown_dispute_is_refused_not_a_misconfiguration(adapter):
    with pytest.raises(DisputeRefused, match="no such chargeback"):
        adapter.add_dispute_evidence("nosuchdispute", "Delivered.")
    with pytest.raises(DisputeRefused, match="no such chargeback"):
        adapter.finalize_dispute("nosuchdispute")


def test_blank_evidence_is_refused_before_calling(adapter, standin, dispute_id):
    with pytest.raises(DisputeRefused):
        adapter.add_dispute_evidence(dispute_id, "   ")
    assert not any("/evidence" in path for _method, path in standin.requests)


@pytest.mark.parametrize("fault", ["server_error", "unavailable"])
def test_dispute_calls_on_a_failing_gateway_are_unavailable(adapter, standin, dispute_id, fault):
    standin.dispute_fault = fault
    with pytest.raises(GatewayUnavailable) as caught:
        adapter.add_dispute_evidence(dispute_id, "Delivered.")
    assert not isinstance(caught.value, GatewayMisconfigured)
    with pytest.raises(GatewayUnavailable):
        adapter.finalize_dispute(dispute_id)
    assert standin.disputes[dispute_id]["status"] == "open"


def test_dispute_calls_when_unreachable_are_unavailable(unreachable):
    with pytest.raises(GatewayUnavailable):
        unreachable.add_dispute_evidence("somedispute", "Delivered.")
    with pytest.raises(GatewayUnavailable):
        unreachable.finalize_dispute("somedispute")
