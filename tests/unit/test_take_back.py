"""domain.ledger.take_back: where money the client gets back outside escrow's ways is taken from."""
import pytest

from directcontracts.domain.ledger import CLIENT, ESCROW, FEES, FREELANCER, SHOP, Paid, UnbalancedJournal, take_back


def by(entries):
    out = {}
    for e in entries:
        out[(e.account, e.milestone_id)] = out.get((e.account, e.milestone_id), 0) + e.amount_minor
    return out


def test_whole_milestones_from_escrow_when_their_money_matches():
    assert by(take_back([Paid(1, 700, 0, 0), Paid(2, 300, 0, 0)], 300)) == {(ESCROW, 2): -300, (CLIENT, 2): 300}


def test_escrow_first_then_releases_with_the_fee_in_proportion():
    got = by(take_back([Paid(1, 600, 0, 0), Paid(2, 0, 400, 14)], 1000))
    assert got == {(ESCROW, 1): -600, (CLIENT, 1): 600, (CLIENT, 2): 400, (FREELANCER, 2): -386, (FEES, 2): -14}


def test_part_of_a_release_gives_back_its_share_of_the_fee_rounded_half_up():
    assert by(take_back([Paid(1, 0, 1000, 34)], 500)) == {(CLIENT, 1): 500, (FREELANCER, 1): -483, (FEES, 1): -17}


def test_a_release_is_preferred_to_splitting_a_milestone_in_escrow():
    got = by(take_back([Paid(1, 700, 0, 0), Paid(2, 0, 300, 10)], 300))
    assert got == {(CLIENT, 2): 300, (FREELANCER, 2): -290, (FEES, 2): -10}


def test_part_of_a_milestone_only_when_nothing_else_covers_it_then_the_shop():
    assert by(take_back([Paid(1, 700, 0, 0)], 300)) == {(ESCROW, 1): -300, (CLIENT, 1): 300}
    assert by(take_back([Paid(1, 0, 0, 0)], 500)) == {(SHOP, 1): -500, (CLIENT, 1): 500}


@pytest.mark.parametrize("amount", [1, 299, 300, 301, 999, 1000, 1001, 5000])
def test_always_balanced_and_never_more_from_escrow_than_it_holds(amount):
    paid = [Paid(1, 300, 0, 0), Paid(2, 0, 500, 17), Paid(3, 200, 0, 0)]
    entries = take_back(paid, amount)
    assert sum(e.amount_minor for e in entries) == 0
    assert sum(e.amount_minor for e in entries if e.account == CLIENT) == amount
    for p in paid:
        assert -sum(e.amount_minor for e in entries if e.account == ESCROW and e.milestone_id == p.milestone_id) \
            <= p.in_escrow


def test_nothing_to_take_back_is_a_bug():
    with pytest.raises(UnbalancedJournal):
        take_back([Paid(1, 100, 0, 0)], 0)
