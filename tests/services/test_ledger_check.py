"""``ledger.check`` names what is wrong, row by row, on books broken on purpose.

The database compares and returns only the wrong rows (a shop has tens of thousands of entries), so a
comparison the query leaves out would silently drop its message: each case here breaks one thing in a
funded contract (USD 1000 / 2000 / 500, all three milestones funded by one payment) and asserts the
whole list of messages.
"""
from datetime import timedelta

import pytest

from directcontracts.models import Contract, Dispute, Journal, LedgerEntry, Milestone, PaymentAttempt, utcnow
from directcontracts.services import ledger
from tests.services.conftest import fund_as_shown

pytestmark = pytest.mark.corrupts_ledger  # on purpose: every test breaks the books


@pytest.fixture
def books(app, db, accepted_contract, gateway):
    """The funded contract's ids: contract, milestones in order, the payment attempt, the funding journal."""
    attempt = fund_as_shown(app, accepted_contract, "all", key="k-all")
    assert ledger.check() == []
    ms = db.session.scalars(db.select(Milestone.id).where(Milestone.contract_id == accepted_contract)
                            .order_by(Milestone.position)).all()
    journal = db.session.scalar(db.select(Journal.id).where(Journal.payment_attempt_id == attempt.id))
    return {"contract": accepted_contract, "m": ms, "attempt": attempt.id, "journal": journal}


def change(db, model, row_id, **values):
    db.session.execute(db.update(model).where(model.id == row_id).values(**values))
    db.session.commit()


def test_a_milestone_whose_state_disagrees_with_escrow(db, books):
    m1, m2, m3 = books["m"]
    change(db, Milestone, m1, state="released")
    change(db, Milestone, m2, state="pending")
    change(db, Milestone, m3, state="split")
    assert ledger.check() == [
        f"milestone {m1} is released but the ledger released 0 and refunded 0 of 100000",
        f"milestone {m2} is pending but escrow holds 200000",
        f"milestone {m3} is split but the ledger released 0 and refunded 0 of 50000, not a split",
    ]


def test_an_amount_escrow_does_not_hold_and_a_chargeback_that_left_money(db, books):
    m1, m2, _ = books["m"]
    change(db, Milestone, m1, amount_minor=100001)
    change(db, Milestone, m2, state="charged_back")
    assert ledger.check() == [
        f"milestone {m1} is funded but escrow holds 100000, not its amount 100001",
        f"milestone {m2} is charged_back but a chargeback left 200000 in escrow: the shop owner has to settle "
        f"it by hand",
    ]


def test_money_in_escrow_of_a_contract_that_is_not_active(db, books):
    change(db, Contract, books["contract"], state="completed")
    assert ledger.check() == [f"contract {books['contract']} is completed but escrow holds 350000"]


def test_escrow_entries_gone(db, books):
    """The first milestone's escrow entry moved to the shop (money, none of it in escrow); the second's deleted
    (no entries left: no funding); the journal no longer balances and funds less than was charged."""
    m1, m2, _ = books["m"]
    entry = db.session.scalar(db.select(LedgerEntry.id).where(LedgerEntry.milestone_id == m1,
                                                               LedgerEntry.account == "escrow"))
    change(db, LedgerEntry, entry, account="shop")
    db.session.execute(db.delete(LedgerEntry).where(LedgerEntry.milestone_id == m2))
    db.session.commit()
    assert ledger.check() == [
        f"milestone {m1} is funded but escrow holds 0, not its amount 100000",
        f"milestone {m2} is funded but has no funding in the ledger",
        f"payment attempt {books['attempt']} charged 350000 but its journal funded 50000",
    ]


def test_more_released_than_funded(db, books):
    m1, _, _ = books["m"]
    journal = Journal(kind="release", contract_id=books["contract"], memo="")
    journal.entries = [LedgerEntry(contract_id=books["contract"], milestone_id=m1, account=account,
                                   amount_minor=amount, currency="USD")
                       for account, amount in (("escrow", -400000), ("freelancer", 400000))]
    db.session.add(journal)
    db.session.commit()
    assert ledger.check() == [
        f"milestone {m1}: released 400000 + refunded 0 exceed funded 100000",
        f"milestone {m1} is funded but escrow holds -300000, not its amount 100000",
        f"contract {books['contract']}: escrow balance -50000 is negative",
    ]


def test_disputes_the_milestones_and_the_ledger_disagree_with(db, books):
    m1, m2, m3 = books["m"]

    def dispute(milestone_id, status, **decision):
        row = Dispute(contract_id=books["contract"], milestone_id=milestone_id, status=status, opened_by="client",
                      reason="quality", amount_minor=1000, from_state="funded",
                      respond_by=utcnow() + timedelta(days=3), **decision)
        db.session.add(row)
        db.session.flush()
        return row.id
    opened = dispute(m1, "open")
    closed = dispute(m2, "closed", release_minor=200000, refund_minor=0)
    db.session.commit()
    change(db, Milestone, m3, state="disputed")
    assert ledger.check() == [
        f"dispute {opened} is open but milestone {m1} is funded",
        f"dispute {closed} decided 200000 released and 0 refunded, the ledger holds 0 and 0",
        f"milestone {m3} is disputed without an open dispute",
    ]


def test_a_reversed_payment_without_its_reversal(db, books):
    change(db, PaymentAttempt, books["attempt"], status="reversed")
    assert ledger.check() == [f"payment attempt {books['attempt']} is reversed but has 0 reversal journals"]


def test_a_funding_journal_of_a_payment_that_did_not_succeed(db, books):
    change(db, PaymentAttempt, books["attempt"], status="failed")
    assert ledger.check() == [f"funding journal for attempt {books['attempt']}, which has not succeeded"]


def test_a_journal_that_does_not_balance_and_one_without_entries(db, books):
    entry = db.session.scalar(db.select(LedgerEntry.id).where(LedgerEntry.journal_id == books["journal"],
                                                               LedgerEntry.account == "client")
                              .order_by(LedgerEntry.id))
    change(db, LedgerEntry, entry, amount_minor=-99999)
    empty = Journal(kind="release", contract_id=books["contract"], memo="")
    db.session.add(empty)
    db.session.commit()
    assert ledger.check() == [f"journal {books['journal']} sums to 1, not 0", f"journal {empty.id} has no entries"]
