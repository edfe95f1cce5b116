"""Shop limits in currencies with fewer decimals than the limits themselves."""
from decimal import Decimal

from directcontracts.domain.money import Money
from directcontracts.domain.terms import Limits, check_amount


def test_limits_with_cents_apply_inwards_in_a_currency_without_decimals():
    limits = Limits(min_amount=Decimal("4.50"), max_amount=Decimal("1000000.50"))
    assert check_amount(Money(1_000_000, "JPY"), limits) is None
    assert check_amount(Money(1_000_001, "JPY"), limits) == "The maximum is ¥1,000,000."
    assert check_amount(Money(4, "JPY"), limits) == "The minimum is ¥5."
    assert check_amount(Money(5, "JPY"), limits) is None
    assert check_amount(Money(100_000_050, "USD"), limits) is None
    assert check_amount(Money(100_000_051, "USD"), limits) == "The maximum is $1,000,000.50."
