"""The split arithmetic and the mediator's limits, in plain values, in currencies of 0, 2 and 3 decimals."""
import pytest

from directcontracts.domain.disputes import (
    DisputeRefused, decision, mediator_may, parse_in_question, parse_split,
)
from directcontracts.domain.fees import fee_for_release
from directcontracts.domain.money import Money


@pytest.mark.parametrize("currency, amount, part, release, refund, fee", [
    ("JPY", 10001, "5001", 5001, 5000, 170),       # ¥170.034 → ¥170
    ("USD", 100001, "500", 50000, 50001, 1700),
    ("KWD", 1000001, "333.333", 333333, 666668, 11333),  # 3.4% of 333.333 KWD = 11.333322 → 11.333
])
def test_a_split_divides_the_amount_exactly(currency, amount, part, release, refund, fee):
    total = Money(amount, currency)
    d = decision(amount, parse_split(part, total).minor)
    assert (d.release_minor, d.refund_minor, d.outcome) == (release, refund, "split")
    assert d.release_minor + d.refund_minor == amount
    zero = Money.zero(currency)
    assert fee_for_release(Money(d.release_minor, currency), zero, zero, 340).minor == fee


@pytest.mark.parametrize("text", ["0", "1000", "1000.01", "-5", "12.345", "abc"])
def test_a_split_gives_each_side_something(text):
    with pytest.raises(DisputeRefused):
        parse_split(text, Money(100000, "USD"))


def test_the_amount_in_question_defaults_to_the_whole_milestone():
    amount = Money(100000, "USD")
    assert parse_in_question("", amount) == amount and parse_in_question("250", amount).minor == 25000
    with pytest.raises(DisputeRefused):
        parse_in_question("1000.01", amount)


def test_all_to_one_side_is_a_release_or_a_refund():
    assert decision(500, 500).outcome == "released" and decision(500, 0).outcome == "refunded"
    with pytest.raises(DisputeRefused):
        decision(500, 501)


def test_an_owner_in_their_own_case_may_only_refund_or_accept_the_clients_offer():
    mediator_may(False, "release", 100, None)  # not their case: anything
    mediator_may(True, "refund", 0, None)
    mediator_may(True, "split", 40, 40)
    for kind, part, offer in (("release", 100, None), ("split", 50, None), ("split", 50, 40)):
        with pytest.raises(DisputeRefused, match="own contract"):
            mediator_may(True, kind, part, offer)
