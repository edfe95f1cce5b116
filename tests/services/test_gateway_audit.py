"""The books against the gateway's own records (``gateway_audit``), on the offline test gateway: real
payments and refunds made over HTTP, then the gateway's store or the books tampered with, one kind of
mismatch at a time; ``payments reconcile`` and ``jobs run-due`` run it."""
from datetime import datetime, timedelta

import pytest

from directcontracts.domain.money import Money
from directcontracts.domain.payments import GatewayUnavailable
from directcontracts.models import PaymentAttempt, ReconciliationRun, utcnow
from directcontracts.services import gateway_audit, jobs
from tests.conftest import sales
from tests.web.builders import funded_contract
from tests.web.refund_steps import credits, settled_sale_for_a_and_b


def audit():
    now = utcnow()
    return gateway_audit.compare(now - timedelta(days=30), now + timedelta(seconds=1), now)


def one_sale(logged_in, visitor, outbox, gateway) -> dict:
    """A contract funded whole by one $800 sale; returns the gateway's record of it."""
    funded_contract(logged_in, visitor, outbox, amounts=("300", "500"), choice="all")
    [sale] = sales(gateway)
    return sale


def tamper(gateway, transaction_id, **changes):
    with gateway.store.locked() as data:
        data["transactions"][transaction_id].update(changes)


def test_a_clean_period_matches_and_the_cli_says_so(runner, logged_in, visitor, outbox, db, gateway):
    one_sale(logged_in, visitor, outbox, gateway)
    report = audit()
    assert report.ok and report.problems == [] and report.settled == []
    assert report.counts == {"sales": 1, "credits": 0, "payments": 1, "refunds": 0, "waiting": 0}
    assert report.totals == {"USD": {"gateway_charged": 80000, "ledger_funded": 80000,
                                     "gateway_refunded": 0, "ledger_refunded": 0}}
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "everything matches (1 sales and 0 refunds at the gateway, 1 payments and 0 refunds in the books)" \
        in result.output
    [run] = db.session.scalars(db.select(ReconciliationRun))
    assert run.ok and run.problems == [] and run.totals[0]["ledger_funded"] == 80000


def test_a_settlement_the_app_did_not_know_is_recorded_not_reported(logged_in, visitor, outbox, db, gateway):
    sale = one_sale(logged_in, visitor, outbox, gateway)
    gateway.settle(sale["id"])
    report = audit()
    assert report.ok, report.problems
    assert len(report.settled) == 1 and sale["id"] in report.settled[0] and "recorded as settled" in report.settled[0]
    db.session.expire_all()
    assert db.session.scalar(db.select(PaymentAttempt.settlement)) == "settled"
    assert audit().settled == []  # known now


def test_a_refund_made_through_the_app_matches_its_credit(logged_in, visitor, outbox, db, gateway):
    cid, _sale, a, _b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway)
    assert logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."}).status_code == 303
    report = audit()
    assert report.ok, report.problems
    assert report.counts["credits"] == 1 and report.counts["refunds"] == 1
    assert report.totals["USD"]["gateway_refunded"] == report.totals["USD"]["ledger_refunded"] == 30000


@pytest.mark.gateway_gap
def test_a_sale_with_no_payment_of_ours_is_reported(runner, logged_in, visitor, outbox, db, gateway):
    sale = one_sale(logged_in, visitor, outbox, gateway)
    with gateway.store.locked() as data:
        data["transactions"]["stray001"] = {**sale, "id": "stray001", "order_id": "by-hand-42", "minor": 1234}
    [problem] = audit().problems
    assert problem == ("Gateway sale stray001 ($12.34, submitted for settlement), order by-hand-42, matches no "
                       "payment of ours: a gateway transaction with no journal.")
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 1
    assert "1 mismatch(es)" in result.output and "MISMATCH Gateway sale stray001" in result.output


@pytest.mark.gateway_gap
def test_a_payment_whose_sale_the_gateway_does_not_have_is_reported(logged_in, visitor, outbox, db, gateway):
    sale = one_sale(logged_in, visitor, outbox, gateway)
    with gateway.store.locked() as data:
        del data["transactions"][sale["id"]]
    attempt = db.session.scalar(db.select(PaymentAttempt))
    [problem] = audit().problems
    assert problem == (f"Payment {attempt.id} ($800.00) is held by the books as taken by gateway sale {sale['id']}, "
                       f"which the gateway does not have: a journal with no gateway transaction.")


@pytest.mark.gateway_gap
def test_an_amount_that_differs_is_reported(logged_in, visitor, outbox, db, gateway):
    sale = one_sale(logged_in, visitor, outbox, gateway)
    tamper(gateway, sale["id"], minor=79999)
    attempt = db.session.scalar(db.select(PaymentAttempt))
    [problem] = audit().problems
    assert problem == (f"Gateway sale {sale['id']} ($799.99, submitted for settlement): the books have payment "
                       f"{attempt.id} for $800.00.")


@pytest.mark.gateway_gap
def test_a_sale_voided_at_the_gateway_but_held_in_escrow_is_reported(logged_in, visitor, outbox, db, gateway):
    sale = one_sale(logged_in, visitor, outbox, gateway)
    tamper(gateway, sale["id"], status="voided")
    attempt = db.session.scalar(db.select(PaymentAttempt))
    report = audit()
    assert report.problems == [f"Gateway sale {sale['id']} ($800.00, voided): the books still hold payment "
                               f"{attempt.id} as taken, $800.00 of it not given back by any refund."]
    assert report.totals["USD"]["gateway_refunded"] == 80000 and report.totals["USD"]["ledger_refunded"] == 0


@pytest.mark.gateway_gap
def test_a_refund_made_by_hand_at_the_gateway_is_reported(logged_in, visitor, outbox, db, gateway):
    _cid, sale_id, _a, _b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway)
    assert gateway.refund(sale_id, Money(2500, "USD"), order_id="by-hand").ok
    [credit] = credits(gateway)
    [problem] = audit().problems
    assert problem == (f"Gateway refund {credit['id']} ($25.00, submitted for settlement) of sale {sale_id} matches "
                       f"no refund of ours: a gateway transaction with no journal.")


@pytest.mark.gateway_gap
def test_a_refund_posted_with_no_credit_at_the_gateway_is_reported(logged_in, visitor, outbox, db, gateway):
    cid, _sale, a, _b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway)
    assert logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."}).status_code == 303
    [credit] = credits(gateway)
    with gateway.store.locked() as data:
        del data["transactions"][credit["id"]]
    [problem] = audit().problems
    assert problem.startswith("Refund ") and f"of milestone {a} ($300.00) is posted as gateway refund {credit['id']}" \
        in problem and problem.endswith("which the gateway does not have: a journal with no gateway transaction.")


@pytest.mark.gateway_gap
def test_a_credit_for_another_amount_than_the_refund_is_reported(logged_in, visitor, outbox, db, gateway):
    cid, _sale, a, _b, _link = settled_sale_for_a_and_b(logged_in, visitor, outbox, db, gateway)
    assert logged_in.post(f"/contracts/{cid}/milestones/{a}/refund", {"reason": "Not needed."}).status_code == 303
    [credit] = credits(gateway)
    tamper(gateway, credit["id"], minor=20000)
    [problem] = audit().problems
    assert "($200.00, submitted for settlement)" in problem and "for $300.00." in problem


@pytest.mark.gateway_gap
def test_a_void_posted_of_a_sale_the_gateway_did_not_void_is_reported(logged_in, visitor, outbox, db, gateway):
    cid, _link = funded_contract(logged_in, visitor, outbox, amounts=("300",), choice="all")
    [sale] = sales(gateway)
    from tests.web.builders import contract
    mid = contract(db, cid).milestones[0].id
    assert logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Not needed."}).status_code == 303
    assert sales(gateway)[0]["status"] == "voided"
    tamper(gateway, sale["id"], status="submitted_for_settlement")
    problems = audit().problems
    assert any(p.endswith(f"is posted as the void of sale {sale['id']}, which the gateway has as submitted for "
                          f"settlement.") for p in problems), problems


def test_an_unreachable_gateway_is_not_a_clean_run_nor_a_mismatch(runner, logged_in, visitor, outbox, db, gateway,
                                                                  monkeypatch):
    def down(since, until):
        raise GatewayUnavailable("timed out")
    monkeypatch.setattr(gateway, "search_transactions", down)
    report = audit()
    assert not report.ok and not report.reachable and "could not be reached" in report.problems[0]
    # The 5-minute reconcile does not fail for it (a payment left unknown for an hour does); the stored run
    # is not "OK", and the daily run in the jobs counts it as a failure.
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 0 and "the gateway could not be reached, nothing was compared" in result.output
    assert "MISMATCH" not in result.output
    failures = []
    gateway_audit.daily(utcnow(), failures)
    assert failures and "could not be reached" in failures[0]


@pytest.mark.gateway_gap
def test_jobs_run_the_comparison_once_a_day_and_keep_it(logged_in, visitor, outbox, db, gateway):
    sale = one_sale(logged_in, visitor, outbox, gateway)
    tamper(gateway, sale["id"], minor=1)
    today = utcnow().date()
    other = jobs.run_due(datetime(today.year, today.month, today.day, 12, 0))
    assert "gateway_mismatches" not in other.counts and db.session.scalar(db.select(ReconciliationRun)) is None
    hour, minute = gateway_audit.DAILY_AT
    later = utcnow() + timedelta(days=1)
    report = jobs.run_due(datetime(later.year, later.month, later.day, hour, minute))
    assert report.counts["gateway_mismatches"] == 1
    assert any("1 mismatch(es)" in f and "Reconciliation page" in f for f in report.failures)
    [run] = db.session.scalars(db.select(ReconciliationRun))
    assert not run.ok and "the books have payment" in run.problems[0]
