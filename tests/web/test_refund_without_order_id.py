"""A refund whose credit carries no order id of ours (made by the release before refund order ids, and
in flight at the upgrade; or a gateway that did not keep it), over HTTP on the offline test gateway: it is
found among the sale's refunds by its amount and time, posted once, never declared failed and made twice;
a refund of the sale of another amount, or made before the row, is not taken for it."""
from datetime import timedelta

import pytest

from directcontracts.domain.money import Money
from directcontracts.models import Milestone
from directcontracts.payments.testgateway import REFUND_ANSWER_LOST_NO_ORDER_ID, REFUND_UNREACHABLE
from tests.web.builders import contract
from tests.web.refund_steps import cli, credits, escrow_held, refund_with_fault, refunds, settled_sale_for_a_and_b


def test_a_lost_refund_without_our_order_id_is_posted_not_declared_failed(runner, logged_in, visitor, outbox, db,
                                                                          gateway):
    cid, sale_id, a, b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway)
    refund_with_fault(logged_in, gateway, cid, a, REFUND_ANSWER_LOST_NO_ORDER_ID)
    [credit] = credits(gateway)
    [row] = refunds(db)
    assert row.status == "unknown" and not credit["order_id"].startswith("refund-")  # the sale's order id
    assert gateway.find_refund(sale_id, f"refund-{row.id}-{row.created_at:%Y%m%d%H%M%S%f}") is None

    code, out = cli(runner, "payments", "reconcile", when=row.created_at + timedelta(minutes=11))
    assert code == 0 and "refunds: posted 1, failed 0, still waiting 0" in out, out
    [row] = refunds(db)
    assert (row.status, row.kind, row.transaction_id) == ("succeeded", "refunded", credit["id"])
    assert db.session.get(Milestone, a).state == "refunded"
    assert escrow_held(db, cid) == {"Milestone 1": 0, "Milestone 2": 50000}
    assert not [e for e in outbox() if e.subject.startswith("Refund not made")]
    # Nothing more is made, and the next run finds nothing to do.
    code, out = cli(runner, "payments", "reconcile", when=row.created_at + timedelta(hours=1))
    assert code == 0 and "refunds: posted 0, failed 0, still waiting 0" in out, out
    assert len(credits(gateway)) == 1


def test_refunding_again_takes_a_refund_made_without_our_order_id_instead_of_a_second(runner, logged_in, visitor,
                                                                                      outbox, db, gateway):
    """A refund declared failed, then made at the gateway without our order id (landed late, or made by
    hand): refunding the milestone again posts that one and makes no second refund."""
    cid, sale_id, a, b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway)
    refund_with_fault(logged_in, gateway, cid, a, REFUND_UNREACHABLE)
    code, out = cli(runner, "payments", "reconcile", when=refunds(db)[0].created_at + timedelta(minutes=11))
    assert code == 0 and "refunds: posted 0, failed 1" in out, out
    assert gateway.refund(sale_id, Money(30000, "USD")).ok  # no order id: the credit carries the sale's
    [credit] = credits(gateway)

    r = logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed, really."})
    assert r.status_code == 303, r.text
    assert [c["id"] for c in credits(gateway)] == [credit["id"]]  # no second refund
    [row] = refunds(db)
    assert (row.status, row.transaction_id, row.reason) == ("succeeded", credit["id"], "Not needed.")
    assert escrow_held(db, cid) == {"Milestone 1": 0, "Milestone 2": 50000}


def test_a_refund_of_the_sale_of_another_amount_is_not_taken_for_it(runner, logged_in, visitor, outbox, db, gateway):
    """A's refund ($300) was never made; B's ($500) was, without our order id. Reconciled in order (A
    first, while B's refund is nobody's yet): A is declared failed, B posted with its own refund."""
    cid, sale_id, a, b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway)
    refund_with_fault(logged_in, gateway, cid, a, REFUND_UNREACHABLE)
    refund_with_fault(logged_in, gateway, cid, b, REFUND_ANSWER_LOST_NO_ORDER_ID)
    [credit] = credits(gateway)
    assert credit["minor"] == 50000
    code, out = cli(runner, "payments", "reconcile", when=refunds(db)[-1].created_at + timedelta(minutes=11))
    assert code == 0 and "refunds: posted 1, failed 1, still waiting 0" in out, out
    row_a, row_b = refunds(db)
    assert (row_a.status, row_a.transaction_id) == ("failed", None)
    assert (row_b.status, row_b.transaction_id) == ("succeeded", credit["id"])
    assert {m.id: m.state for m in contract(db, cid).milestones} == {a: "funded", b: "refunded"}
    # A is refunded again for real: B's refund is not taken for A's earlier one.
    r = logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."})
    assert r.status_code == 303, r.text
    assert sorted(c["minor"] for c in credits(gateway)) == [30000, 50000]
    assert escrow_held(db, cid) == {"Milestone 1": 0, "Milestone 2": 0}


def test_two_lost_refunds_of_one_amount_each_take_one_refund(runner, logged_in, visitor, outbox, db, gateway):
    cid, sale_id, a, b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway, amounts=("300", "300"))
    refund_with_fault(logged_in, gateway, cid, a, REFUND_ANSWER_LOST_NO_ORDER_ID)
    refund_with_fault(logged_in, gateway, cid, b, REFUND_ANSWER_LOST_NO_ORDER_ID)
    first, second = credits(gateway)
    code, out = cli(runner, "payments", "reconcile", when=refunds(db)[-1].created_at + timedelta(minutes=11))
    assert code == 0 and "refunds: posted 2, failed 0" in out, out
    assert [(r.status, r.transaction_id) for r in refunds(db)] == [("succeeded", first["id"]),
                                                                   ("succeeded", second["id"])]
    assert escrow_held(db, cid) == {"Milestone 1": 0, "Milestone 2": 0}


@pytest.mark.gateway_gap  # on purpose: $300 refunded by hand before the app's refund, not the app's to account for
def test_a_refund_of_the_sale_made_before_the_row_is_not_taken_for_it(runner, logged_in, visitor, outbox, db, gateway):
    cid, sale_id, a, b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway)
    refund_with_fault(logged_in, gateway, cid, a, REFUND_UNREACHABLE)
    [row] = refunds(db)
    assert gateway.refund(sale_id, Money(30000, "USD"), order_id="by-hand").ok
    with gateway.store.locked() as data:  # made by hand a minute before the app's refund
        [credit] = [t for t in data["transactions"].values() if t["type"] == "credit"]
        credit["created_at"] = (row.created_at - timedelta(minutes=1)).isoformat() + "+00:00"
    code, out = cli(runner, "payments", "reconcile", when=row.created_at + timedelta(minutes=11))
    assert "refunds: posted 0, failed 1" in out, out
    assert code == 1 and "MISMATCH Gateway refund" in out  # the refund by hand: no refund of the books holds it
    assert refunds(db)[0].status == "failed"
