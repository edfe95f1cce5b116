"""While a payment is being confirmed, nothing changes the contract under it, and both sides read
the same status: "Signed — awaiting funding", "a payment is being confirmed".
"""
import pytest

from directcontracts.models import Contract, Journal, LedgerEntry, PaymentAttempt
from directcontracts.services import client_actions, funding, ledger
from directcontracts.services.errors import InvalidTransition
from tests.conftest import race, sales
from tests.web.builders import contract, fund, sent_contract, verify


@pytest.fixture
def paying(logged_in, visitor, outbox, db):
    """A sent contract whose client's payment answer was lost: the attempt is ``unknown``."""
    cid, link = sent_contract(logged_in, outbox, amounts=("180", "500"))
    verify(visitor, link, outbox)
    assert fund(visitor, link, nonce="fake-timeout-nonce").status_code == 303
    assert db.session.scalar(db.select(PaymentAttempt.status)) == "unknown"
    return cid, link


def test_the_client_cannot_decline_or_ask_for_changes_while_paying(visitor, paying, db, runner, outbox):
    cid, link = paying
    page = visitor.get(link).text
    assert "A payment of $180.00 is being confirmed" in page
    for offer in ("Request changes", "Decline", "Accept and fund"):
        assert offer not in page
    again = fund(visitor, link, sign=False, key="second-form")
    assert again.status_code == 409 and again.text.count("being confirmed") == 1  # said once, not twice
    for kind, field in (("decline", "reason"), ("changes", "message")):
        r = visitor.post(f"{link}/{kind}", {field: "Too expensive after all."})
        assert r.status_code == 409 and "being confirmed" in r.text
    assert contract(db, cid).state == "sent"

    result = runner.invoke(args=["payments", "reconcile"])
    assert "succeeded 1" in result.output, result.output
    c = contract(db, cid)
    assert c.state == "active" and [m.state for m in c.milestones] == ["funded", "pending"]
    page = visitor.get(link).text
    assert "Decline" not in page and "$180.00" in page
    assert ledger.check() == []


def test_the_freelancer_is_not_offered_what_would_be_refused(logged_in, paying, db):
    cid, _ = paying
    page = logged_in.get(f"/contracts/{cid}").text
    assert "Carla Client's payment of $180.00 is being confirmed" in page
    assert "Edit (send a revision)" not in page and "Withdraw…" not in page
    assert "Signed — awaiting funding" in page  # signed in the same step that started the payment


def test_signed_but_not_funded_reads_signed_on_both_sides_and_in_the_filter(logged_in, visitor, outbox, db,
                                                                            gateway):
    signed_id, link = sent_contract(logged_in, outbox, amounts=("2500",))  # the sandbox declines 2,000–2,999.99
    other_id, _ = sent_contract(logged_in, outbox, amounts=("400",))
    verify(visitor, link, outbox)
    assert fund(visitor, link).status_code == 422  # declined: signed, nothing charged
    assert "Signed — awaiting funding" in visitor.get(link).text
    assert "Signed — awaiting funding" in logged_in.get(f"/contracts/{signed_id}").text
    assert '<option value="signed"' in logged_in.get("/contracts").text

    def listed(status):
        page = logged_in.get(f"/contracts?status={status}").text
        return {cid for cid in (signed_id, other_id) if f"/contracts/{cid}\"" in page}

    assert listed("signed") == {signed_id}
    assert listed("sent") == {other_id}
    assert listed("") == {signed_id, other_id}
    assert sales(gateway)[0]["status"] == "processor_declined"


@pytest.mark.corrupts_ledger
def test_ledger_check_finds_money_on_a_contract_that_no_longer_shows_it(logged_in, visitor, outbox, db, runner):
    cid, link = sent_contract(logged_in, outbox, amounts=("180",))
    verify(visitor, link, outbox)
    assert fund(visitor, link).status_code == 303
    assert ledger.check() == []
    db.session.get(Contract, cid).state = "declined"
    db.session.commit()
    bad = runner.invoke(args=["ledger", "check"])
    assert bad.exit_code == 1 and f"contract {cid} is declined but escrow holds 18000" in bad.output


def test_a_decline_racing_a_reconcile_never_strands_money(app, db, paying, concurrent):
    """The decline and the gateway's late answer at once: the decline is refused, the money stays visible."""
    cid, _ = paying
    declined, reconciled = race(
        app,
        lambda: client_actions.reply(db.session.get(Contract, cid), "decline", "No longer needed."),
        funding.reconcile)
    # Refused either way: "a payment is being confirmed" before the reconcile, "active" after it.
    assert isinstance(declined, InvalidTransition), declined
    assert reconciled["succeeded"] == 1
    db.session.expire_all()
    c = contract(db, cid)
    assert c.state == "active" and c.milestones[0].state == "funded"
    assert db.session.scalar(db.select(db.func.sum(LedgerEntry.amount_minor)).where(
        LedgerEntry.account == "escrow")) == 18000
    assert db.session.scalar(db.select(db.func.count(Journal.id))) == 1


def test_an_active_contract_cannot_be_ended_while_a_payment_is_confirmed(logged_in, visitor, outbox, db):
    cid, link = sent_contract(logged_in, outbox, amounts=("180", "500"))
    verify(visitor, link, outbox)
    assert fund(visitor, link).status_code == 303
    assert logged_in.post(f"/contracts/{cid}/milestones/{contract(db, cid).milestones[0].id}/refund",
                          {"reason": "Not needed."}).status_code == 303
    assert fund(visitor, link, sign=False, nonce="fake-timeout-nonce").status_code == 303
    page = logged_in.get(f"/contracts/{cid}").text
    assert "is being confirmed" in page and "cannot be ended" in page and "End contract…" not in page
    r = logged_in.post(f"/contracts/{cid}/end", follow_redirects=True)
    assert "being confirmed" in r.text and "still in escrow" not in r.text
    assert contract(db, cid).state == "active"
