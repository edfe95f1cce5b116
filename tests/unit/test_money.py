"""Money: parsing at the form boundary and formatting per currency."""
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from directcontracts.domain.money import Money, MoneyError, precision, total


@pytest.mark.parametrize("currency, digits", [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("GBP", 2)])
def test_precision_comes_from_iso_4217(currency, digits):
    assert precision(currency) == digits


@pytest.mark.parametrize("text, currency, minor", [
    ("1250.50", "USD", 125050), ("1,250.5", "USD", 125050), (" 30 ", "USD", 3000),
    ("1500", "JPY", 1500), ("1,500", "JPY", 1500), ("1.234", "KWD", 1234), (".5", "EUR", 50),
    ("12.", "GBP", 1200),
])
def test_parse(text, currency, minor):
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize("text, currency, message", [
    ("", "USD", "Enter an amount."),
    ("abc", "USD", "Enter the amount as a number"),
    ("-5", "USD", "more than zero"),
    ("1e5", "USD", "Enter the amount as a number"),
    ("12.345", "USD", "at most 2 decimals"),
    ("1500.5", "JPY", "JPY amounts have no decimals"),
    ("NaN", "USD", "Enter the amount as a number"),
    ("\u0661\u0660\u0660", "USD", "Enter the amount as a number"),  # Arabic-Indic 100
    ("\uff11\uff10\uff10", "USD", "Enter the amount as a number"),  # full-width 100
    ("1,0,0", "USD", "Enter the amount as a number"),
    ("1,00", "USD", "Enter the amount as a number"),
    (",100", "USD", "Enter the amount as a number"),
    ("1 000", "USD", "Enter the amount as a number"),
    ("100\n", "USD", None),
])
def test_parse_refuses(text, currency, message):
    if message is None:  # surrounding whitespace is only trimmed
        assert Money.parse(text, currency) == Money(10000, currency)
        return
    with pytest.raises(MoneyError, match=message):
        Money.parse(text, currency)


def test_parse_accepts_grouped_thousands():
    assert Money.parse("1,234,567.89", "USD") == Money(123456789, "USD")
    assert Money.parse("12,345", "JPY") == Money(12345, "JPY")


@pytest.mark.parametrize("money, shown, plain", [
    (Money(125050, "USD"), "$1,250.50", "1250.50"),
    (Money(1500, "JPY"), "¥1,500", "1500"),
    (Money(1234, "KWD"), "KWD1.234", "1.234"),
    (Money(99, "EUR"), "€0.99", "0.99"),
])
def test_format_and_plain(money, shown, plain):
    assert money.format().replace("\xa0", "") == shown
    assert money.to_plain() == plain


def test_arithmetic_refuses_mixed_currencies():
    with pytest.raises(ValueError):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]


def test_from_major_is_exact():
    assert Money.from_major(Decimal("5"), "JPY") == Money(5, "JPY")
    assert Money.from_major(Decimal("5.00"), "USD") == Money(500, "USD")
    with pytest.raises(MoneyError):
        Money.from_major(Decimal("12.5"), "JPY")


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["USD", "JPY", "KWD", "EUR"]))
def test_plain_round_trips(minor, currency):
    money = Money(minor, currency)
    assert Money.parse(money.to_plain(), currency) == money
    assert Money.parse(money.format().lstrip("$€¥KWD\xa0"), currency) == money


def test_total():
    assert total([Money(1, "USD"), Money(2, "USD")], "USD") == Money(3, "USD")
    assert total([], "JPY") == Money(0, "JPY")
