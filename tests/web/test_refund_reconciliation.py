"""A refund whose answer is lost, over HTTP on the offline test gateway: shown as being confirmed,
nothing else offered, then reconciled to what the gateway did (posted, or failed and retried)."""
from datetime import timedelta

from directcontracts.models import Journal, Milestone, Notification, Refund, TimelineEvent
from directcontracts.payments.testgateway import REFUND_ANSWER_LOST, REFUND_UNREACHABLE
from tests.conftest import sales
from tests.web.builders import approve, contract, funded_contract, request_payment

IN_FLIGHT = "A refund of this milestone is being confirmed with the payment processor."


def refund_journals(db) -> list[Journal]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(Journal).where(Journal.kind == "refund")))


def refund_row(db) -> Refund | None:
    db.session.expire_all()
    return db.session.scalar(db.select(Refund).order_by(Refund.id))  # the first (PostgreSQL keeps no order)


def cli(runner, *args, when) -> tuple[int, str]:
    result = runner.invoke(args=[*args, "--now", when.strftime("%Y-%m-%d %H:%M:%S")])
    return result.exit_code, result.output


def submitted_then_refund_lost(logged_in, visitor, outbox, db, gateway, fault):
    """Milestone 1 ($1,000, its own sale) funded and submitted; its refund's answer never arrives."""
    cid, link = funded_contract(logged_in, visitor, outbox, choice="first")
    mid = contract(db, cid).milestones[0].id
    request_payment(logged_in, cid, mid)
    gateway.refund_fault = fault
    r = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Project cancelled."})
    gateway.refund_fault = None
    assert r.status_code == 503 and "We could not confirm the refund" in r.text
    return cid, link, mid


def test_a_lost_void_is_shown_as_being_confirmed_then_posted(runner, logged_in, visitor, outbox, db, gateway):
    cid, link, mid = submitted_then_refund_lost(logged_in, visitor, outbox, db, gateway, REFUND_ANSWER_LOST)
    assert sales(gateway)[0]["status"] == "voided"  # the gateway did it; the app does not know yet
    assert refund_row(db).status == "unknown" and contract(db, cid).milestones[0].state == "submitted"

    # The freelancer: told, no Refund button, no auto-release promise for it.
    page = logged_in.get(f"/contracts/{cid}").text
    assert IN_FLIGHT in page
    assert f"/milestones/{mid}/refund" not in page and "Released automatically on" not in page
    again = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Again."}, follow_redirects=True)
    assert "already in progress" in again.text
    # The client: told, offered neither approve nor changes, promised no auto-release; both refused anyway.
    page = visitor.get(link).text
    assert IN_FLIGHT in page
    assert "Approve and release" not in page and f"/milestones/{mid}/changes" not in page
    assert "it is released automatically on" not in page  # the per-milestone promise (guidance states the rule)
    approve(visitor, link, mid, expect=409)
    assert visitor.post(f"{link}/milestones/{mid}/changes", {"message": "More."}).status_code == 409

    # The auto-release date passes: the cron run skips it (no crash) and reconciliation posts the void.
    due = contract(db, cid).milestones[0].auto_release_at + timedelta(days=1)
    code, out = cli(runner, "jobs", "run-due", when=due)
    assert code == 0, out
    assert "auto released 0" in out and "refunds reconciled 1" in out
    m = db.session.get(Milestone, mid)
    assert m.state == "refunded" and m.auto_release_at is None
    [journal] = refund_journals(db)
    assert {e.account: e.amount_minor for e in journal.entries} == {"escrow": -100000, "client": 100000}
    assert refund_row(db).status == "succeeded" and refund_row(db).kind == "voided"
    assert [e.subject for e in outbox()].count("Refund: $1,000.00 for Milestone 1 — Website redesign") == 1
    assert any("went through" in n.message for n in db.session.scalars(db.select(Notification)))
    timeline = logged_in.get(f"/contracts/{cid}").text
    assert "The payment processor confirmed the refund of “Milestone 1”" in timeline and IN_FLIGHT not in timeline
    assert IN_FLIGHT not in visitor.get(link).text
    # Idempotent: the next run finds nothing to do.
    code, out = cli(runner, "jobs", "run-due", when=due + timedelta(minutes=5))
    assert code == 0 and "refunds reconciled 0" in out and len(refund_journals(db)) == 1


def test_a_refund_never_made_fails_after_the_grace_and_can_be_made_again(runner, logged_in, visitor, outbox, db,
                                                                         gateway):
    cid, link, mid = submitted_then_refund_lost(logged_in, visitor, outbox, db, gateway, REFUND_UNREACHABLE)
    assert sales(gateway)[0]["status"] == "submitted_for_settlement"  # nothing happened at the gateway
    started, release_at = refund_row(db).created_at, contract(db, cid).milestones[0].auto_release_at

    code, out = cli(runner, "payments", "reconcile", when=started + timedelta(minutes=5))
    assert code == 0 and "refunds: posted 0, failed 0, still waiting 1" in out  # within the grace: wait
    assert refund_row(db).status == "unknown"

    code, out = cli(runner, "payments", "reconcile", when=started + timedelta(minutes=11))
    assert code == 0 and "refunds: posted 0, failed 1, still waiting 0" in out, out
    failed_row = refund_row(db)
    assert failed_row.status == "failed" and refund_journals(db) == []  # kept: its order id may still land
    m = db.session.get(Milestone, mid)
    # Back to normal, its auto-release clock resumed with the time that was left.
    assert m.state == "submitted"
    assert abs(m.auto_release_at - (release_at + timedelta(minutes=11))) < timedelta(seconds=1)  # --now has no µs
    failed = [e for e in outbox() if e.subject == "Refund not made: Milestone 1 — Website redesign"]
    assert sorted(e.to_addr for e in failed) == ["carla@client-co.com", "fran@example.com"]
    assert "still held in escrow" in failed[0].body_text
    assert db.session.scalar(db.select(TimelineEvent).where(TimelineEvent.kind == "refund_failed")) is not None
    page = logged_in.get(f"/contracts/{cid}").text
    assert IN_FLIGHT not in page and f"/milestones/{mid}/refund" in page and "was not made" in page

    # The second refund goes through, once (the failed one was looked up first: not made).
    r = logged_in.post(f"/contracts/{cid}/milestones/{mid}/refund", {"reason": "Project cancelled."})
    assert r.status_code == 303
    assert sales(gateway)[0]["status"] == "voided" and len(refund_journals(db)) == 1
    assert db.session.get(Milestone, mid).state == "refunded"
    assert [r.status for r in db.session.scalars(db.select(Refund).order_by(Refund.id))] == ["failed", "succeeded"]


def test_a_lost_partial_refund_is_found_by_its_order_id(runner, logged_in, visitor, outbox, db, gateway):
    cid, link = funded_contract(logged_in, visitor, outbox)  # one $3,500 sale for three milestones
    [sale] = sales(gateway)
    gateway.settle(sale["id"])
    m1, m2 = (m.id for m in contract(db, cid).milestones[:2])
    gateway.refund_fault = REFUND_ANSWER_LOST
    assert logged_in.post(f"/contracts/{cid}/milestones/{m2}/refund", {"reason": "Out of scope."}).status_code == 503
    gateway.refund_fault = REFUND_UNREACHABLE
    assert logged_in.post(f"/contracts/{cid}/milestones/{m1}/refund", {"reason": "Not needed."}).status_code == 503
    gateway.refund_fault = None
    later = refund_row(db).created_at + timedelta(minutes=11)
    code, out = cli(runner, "payments", "reconcile", when=later)
    # m2's refund was made (a credit under its own order id); m1's was not, and m2's credit is not taken for it.
    assert code == 0 and "refunds: posted 1, failed 1" in out, out
    states = {m.id: m.state for m in contract(db, cid).milestones}
    assert (states[m1], states[m2]) == ("funded", "refunded")
    [journal] = refund_journals(db)
    assert {e.account: e.amount_minor for e in journal.entries} == {"escrow": -200000, "client": 200000}
    with gateway.store.locked() as data:
        [credit] = [t for t in data["transactions"].values() if t["type"] == "credit"]
    row = refund_row(db)
    assert credit["order_id"].startswith(f"refund-{row.id}-") and row.transaction_id == credit["id"]
