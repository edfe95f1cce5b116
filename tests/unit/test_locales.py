"""Amounts as people type them in their locale, and times in the reader's zone (issue 13, items 4 and 5)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from directcontracts.domain.locales import Display, check_locale, check_time_zone, read_amount
from directcontracts.domain.money import SUPPORTED_CURRENCIES, Money
from directcontracts.domain.terms import Limits, parse_amount

LIMITS = Limits(min_amount=Decimal("0.001"), max_amount=Decimal("10000000"))


@pytest.mark.parametrize("locale, text, currency, minor", [
    ("de_DE", "1.234,50", "EUR", 123450),
    ("de_DE", "1234,5", "EUR", 123450),
    ("de_DE", "1.234.567,89", "EUR", 123456789),
    ("de_DE", "1234.50", "EUR", 123450),  # the plain form, always
    ("fr_FR", "1 234,50", "EUR", 123450),  # an ordinary space, as typed
    ("fr_FR", "1\u202f234,50", "EUR", 123450),  # the narrow no-break space French writes
    ("fr_FR", "1\u00a0234,50", "EUR", 123450),
    ("fr_FR", "1234.50", "EUR", 123450),
    ("en_US", "1,234.50", "USD", 123450),
    ("en_US", "1,234", "USD", 123400),
    ("en_GB", "1,234.50", "GBP", 123450),
    ("es_ES", "1.234,50", "EUR", 123450),
    ("nl_NL", "1.234,50", "EUR", 123450),
    ("it_IT", "1.234,50", "EUR", 123450),
    ("pt_BR", "1.234,50", "USD", 123450),
    ("ja_JP", "1,234", "JPY", 1234),
    ("ja_JP", "150000", "JPY", 150000),
    ("en_US", "12.345", "KWD", 12345),  # three decimals: fils
    ("de_DE", "0,5", "EUR", 50),
])
def test_amounts_read_in_the_members_locale(locale, text, currency, minor):
    amount, error = parse_amount(text, currency, LIMITS, locale)
    assert error is None and amount == Money(minor, currency)


@pytest.mark.parametrize("locale, text", [
    ("de_DE", "1,234"), ("de_DE", "1.234"), ("de_DE", "12,345"), ("de_DE", "123.456"),
    ("fr_FR", "1,234"), ("es_ES", "1.500"), ("pt_BR", "2,500"),
])
def test_one_separator_and_three_digits_is_ambiguous(locale, text):
    """Comma-decimal locales: "1,234" is 1.234 there and 1234 in English; "1.234" is 1234 there and 1.234 in
    the plain form. Neither is guessed: the refusal gives both readings and how to write each."""
    amount, error = parse_amount(text, "EUR", LIMITS, locale)
    assert amount is None and "is ambiguous" in error
    whole = text.replace(",", "").replace(".", "")
    assert f"Type {whole}" in error  # the whole number, written without a separator
    assert "with the decimals" in error


def test_the_ambiguity_message_names_the_locale_and_both_readings():
    _, error = parse_amount("1,234", "EUR", LIMITS, "de_DE")
    assert error == ("“1,234” is ambiguous: in German (Germany) a comma marks decimals (1 and 234 thousandths), "
                     "in English thousands. Type 1234, or 1.234,00 with the decimals.")


def test_in_english_one_point_and_three_digits_is_decimals_and_refused_for_cents():
    """en_US and the plain form agree that "1.234" has three decimals: not ambiguous, too precise for USD."""
    assert parse_amount("1.234", "USD", LIMITS, "en_US") == (None, "USD amounts have at most 2 decimals.")
    assert parse_amount("1.234", "KWD", LIMITS, "en_US") == (Money(1234, "KWD"), None)


@pytest.mark.parametrize("locale, text, currency, message", [
    ("de_DE", "1.234,567", "EUR", "EUR amounts have at most 2 decimals."),
    ("de_DE", "1.500,5", "JPY", "JPY amounts have no decimals."),
    ("ja_JP", "1500.5", "JPY", "JPY amounts have no decimals."),
    ("en_US", "1.2345", "KWD", "KWD amounts have at most 3 decimals."),
    ("fr_FR", "12,3456", "KWD", "KWD amounts have at most 3 decimals."),
    ("en_US", "1234.500", "USD", "USD amounts have at most 2 decimals."),  # never rounded, even trailing zeros
])
def test_more_decimals_than_the_currency_has_are_refused_with_the_reason(locale, text, currency, message):
    assert parse_amount(text, currency, LIMITS, locale) == (None, message)


@pytest.mark.parametrize("locale, text, message", [
    ("de_DE", "", "Enter an amount."),
    ("de_DE", "-5", "The amount must be more than zero."),
    ("de_DE", "1,234,567", "Enter the amount as a number, like 1.234,50 or 1234.50."),  # English grouping in German
    ("en_US", "1.234,50", "Enter the amount as a number, like 1,234.50 or 1234.50."),  # German in English
    ("fr_FR", "1.234,50", "Enter the amount as a number, like 1\u202f234,50 or 1234.50."),
    ("en_US", "1e5", "Enter the amount as a number, like 1,234.50 or 1234.50."),
    ("en_US", "NaN", "Enter the amount as a number, like 1,234.50 or 1234.50."),
    ("de_DE", "\u0661\u0660\u0660", "Enter the amount as a number, like 1.234,50 or 1234.50."),  # Arabic-Indic
    ("de_DE", "\uff11\uff10\uff10", "Enter the amount as a number, like 1.234,50 or 1234.50."),  # full-width
    ("de_DE", "1.23.4", "Enter the amount as a number, like 1.234,50 or 1234.50."),
    ("en_US", "1,23", "Enter the amount as a number, like 1,234.50 or 1234.50."),
    ("de_DE", "0", "The amount must be more than zero."),
])
def test_what_cannot_be_read_is_refused_with_how_to_write_it(locale, text, message):
    assert parse_amount(text, "EUR", LIMITS, locale) == (None, message)


def test_limits_are_said_in_the_members_locale():
    limits = Limits(min_amount=Decimal("5"), max_amount=Decimal("1000000"))
    assert parse_amount("2.000.000", "EUR", limits, "de_DE") == (None, "The maximum is 1.000.000,00\xa0€.")
    assert parse_amount("2", "EUR", limits, "en_US") == (None, "The minimum is €5.00.")


def test_kwd_is_offered_with_three_decimals():
    assert "KWD" in SUPPORTED_CURRENCIES and "JPY" in SUPPORTED_CURRENCIES
    assert parse_amount("1,5", "KWD", LIMITS, "de_DE") == (Money(1500, "KWD"), None)


def test_the_default_locale_reads_what_money_parse_reads():
    for text in ("1,250.50", "30", " 7.5 ", ".5"):
        assert read_amount(text) == Decimal(text.strip().replace(",", ""))


# ---- times in the reader's zone ----------------------------------------------------------------------------

NOON_UTC = datetime(2026, 11, 27, 13, 5)  # stored naive UTC


def test_a_timestamp_is_shown_in_the_readers_zone_with_the_zone_named():
    assert Display("Europe/Paris", "en_GB").when(NOON_UTC) == "27 Nov 2026, 14:05 CET"
    assert Display("America/New_York", "en_US").when(NOON_UTC, "short") == "11/27/26, 8:05\u202fAM EST"
    assert Display("Asia/Tokyo", "ja_JP").when(NOON_UTC) == "2026/11/27 22:05 JST"
    assert Display().when(NOON_UTC) == "Nov 27, 2026, 1:05\u202fPM UTC"
    assert Display("Europe/Berlin", "de_DE").when(datetime(2026, 7, 1, 22, 30)) == "02.07.2026, 00:30 CEST"


def test_the_day_of_a_timestamp_is_the_readers_day():
    late = datetime(2026, 11, 28, 2, 0)  # 2 a.m. UTC is still the 27th in New York
    assert Display("America/New_York").when(late, "date") == "Nov 27, 2026"
    assert Display("America/New_York").when(late, "time") == "9:00\u202fPM EST"


def test_a_date_alone_is_never_shifted_across_zones():
    due = date(2026, 12, 1)
    assert Display("Pacific/Kiritimati").when(due) == Display("Pacific/Pago_Pago").when(due) == "Dec 1, 2026"
    assert Display("Europe/Berlin", "de_DE").when(due) == "01.12.2026"


def test_zones_and_locales_are_checked_against_the_lists():
    assert check_time_zone("America/New_York") is None and check_time_zone("UTC") is None
    assert "is not a time zone" in check_time_zone("Mars/Olympus_Mons")
    assert check_time_zone("") == "Choose a time zone."
    assert check_locale("de_DE") is None
    assert check_locale("xx_YY") == "Choose one of the listed languages and regions."
    assert check_locale("de") is not None  # only the listed locales, not whatever Babel knows
