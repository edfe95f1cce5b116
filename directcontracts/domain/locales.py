"""Where and how a reader sees dates, times and amounts: an IANA time zone and a locale.

A member picks both in their account (or follows the shop's defaults); a client, who has no account,
sees the shop's, with the zone written beside every time. Amounts typed by a member are read in their
locale (``read_amount``), and the plain form ``1234.50`` is always accepted too. Pure Python and Babel:
the caller passes the zone and locale in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.dates import format_date, format_datetime, format_time, get_date_format, get_datetime_format, get_time_format
from babel.numbers import NumberFormatError, format_decimal, get_decimal_symbol, get_group_symbol, parse_decimal

#: The locales a member or the shop may choose (Babel formats each); the first is the default.
SUPPORTED_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "it_IT", "pt_BR", "ja_JP")
DEFAULT_LOCALE = "en_US"
DEFAULT_TIME_ZONE = "UTC"

#: Space-like characters people type as a thousands separator where the locale groups with a space
#: (French uses a narrow no-break space, which no keyboard types directly).
_SPACES = (" ", "\u00a0", "\u202f")
#: What an amount may contain at all before Babel reads it: ASCII digits (``Decimal`` would take
#: ``١٢٣`` or ``１２３``), separators and spaces. Signs, exponents and ``NaN`` never get further.
_AMOUNT_CHARS = re.compile(r"[0-9.,\u0020\u00a0\u202f]+")
_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
#: One separator with exactly three digits after it ("1,234", "12.500"): a thousands separator in one
#: convention and a decimal mark in another.
_ONE_GROUP = re.compile(r"([1-9][0-9]{0,2})([.,])([0-9]{3})")


class AmountError(ValueError):
    """An amount the person typed cannot be read; the message says why and how to write it."""


@cache
def time_zones() -> frozenset[str]:
    """Every IANA zone name this machine's zoneinfo knows."""
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str | None:
    """Why ``name`` is not a time zone a reader can have, or None when it is one."""
    if not name:
        return "Choose a time zone."
    if name not in time_zones():
        return f"“{name[:64]}” is not a time zone. Choose one from the list, like Europe/Berlin or America/New_York."
    return None


def check_locale(name: str) -> str | None:
    """Why ``name`` is not one of the supported locales, or None when it is one."""
    if name not in SUPPORTED_LOCALES:
        return "Choose one of the listed languages and regions."
    return None


def locale_label(name: str) -> str:
    """``de_DE`` → "Deutsch (Deutschland) — German (Germany)": its own name first, then in English."""
    loc = Locale.parse(name)
    own, english = loc.get_display_name(name), loc.get_display_name("en")
    own = own[:1].upper() + own[1:]
    return english if own == english else f"{own} — {english}"


@cache
def _day_and_time(locale: str, fmt: str) -> tuple:
    """The locale, its ``fmt`` day pattern, short time pattern and the pattern joining them: Babel looks all
    four up at every call (a list page formats a timestamp a row)."""
    loc = Locale.parse(locale)
    return loc, get_date_format(fmt, loc), get_time_format("short", loc), get_datetime_format(fmt, locale=loc)


@dataclass(frozen=True)
class Display:
    """How one reader sees times and amounts: a zone, a locale, and whether to name the zone."""

    time_zone: str = DEFAULT_TIME_ZONE
    locale: str = DEFAULT_LOCALE

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local(self, value: datetime) -> datetime:
        """A stored timestamp (naive UTC, or aware) in the reader's zone."""
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        return aware.astimezone(self.zone)

    def when(self, value: datetime | date | None, fmt: str = "medium") -> str:
        """A timestamp in the reader's zone with the zone's abbreviation ("Nov 27, 2026, 2:05 PM CET").

        A date alone (a due date) is a calendar day, the same everywhere: it is formatted, never shifted.
        ``fmt`` is a Babel format name or pattern; "date" and "time" give the day and the time of day
        (with the zone) of a timestamp in the reader's zone.
        """
        return "" if value is None else _when(self, value, fmt)

    def example_amount(self) -> str:
        """1234.50 as this locale writes it ("1.234,50"), for hints and error messages."""
        return format_decimal(Decimal("1234.50"), "#,##0.00", locale=self.locale)


@lru_cache(maxsize=4096)
def _when(display: Display, value: datetime | date, fmt: str) -> str:
    """``Display.when``, kept: the same text for the same reader, timestamp and format (Babel takes ~20 µs a
    timestamp, and a list page shows one a row, the same ones at every visit)."""
    if not isinstance(value, datetime):
        return format_date(value, "medium" if fmt == "date" else fmt, locale=display.locale)
    local = display.local(value)
    if fmt == "date":
        return format_date(local.date(), "medium", locale=display.locale)
    if fmt == "time":
        return f"{format_time(local, 'short', locale=display.locale)} {local.tzname()}"
    if fmt in ("medium", "short"):  # the day as the locale writes it, the time to the minute
        loc, day, time, joined = _day_and_time(display.locale, fmt)
        # as format_date and format_time(…, "short") would, without finding the locale and patterns again
        text = (joined.replace("{1}", day.apply(local.date(), loc))
                .replace("{0}", time.apply(local.timetz(), loc, reference_date=local.date())))
    else:
        text = format_datetime(local, fmt, tzinfo=display.zone, locale=display.locale)
    return f"{text} {local.tzname()}"


def read_amount(text: str | None, locale: str = DEFAULT_LOCALE) -> Decimal:
    """A positive number as a person using ``locale`` types it, or the plain form ("1234.50").

    "1.234,50" in de_DE, "1 234,50" in fr_FR and "1,234.50" in en_US all read 1234.50. One separator
    followed by exactly three digits where the locale and the plain form disagree ("1,234" or "1.234"
    in de_DE: a decimal mark or a thousands separator?) is refused with both readings, never guessed.
    Raises ``AmountError``; the number's decimals are the caller's to check against the currency.
    """
    raw = (text or "").strip()
    example = Display(locale=locale).example_amount()
    if not raw:
        raise AmountError("Enter an amount.")
    if raw.startswith("-"):
        raise AmountError("The amount must be more than zero.")
    if not _AMOUNT_CHARS.fullmatch(raw):
        raise AmountError(f"Enter the amount as a number, like {example} or 1234.50.")
    decimal_mark, group_mark = get_decimal_symbol(locale), get_group_symbol(locale)
    if group_mark in _SPACES:
        raw = re.sub("[\u0020\u00a0\u202f]+", group_mark, raw)
    if (found := _ONE_GROUP.fullmatch(raw)) and (found[2] == group_mark == "." or found[2] == decimal_mark == ","):
        whole, part = found[1], found[3]
        language = Locale.parse(locale).get_display_name("en")
        written = format_decimal(Decimal(whole + part), "#,##0.00", locale=locale)
        if found[2] == ",":
            why = f"in {language} a comma marks decimals ({whole} and {part} thousandths), in English thousands"
        else:
            why = f"in {language} a point groups thousands, in the plain form 1234.50 it marks decimals"
        raise AmountError(f"“{raw}” is ambiguous: {why}. Type {whole}{part}, or {written} with the decimals.")
    if _PLAIN.fullmatch(raw):
        return Decimal(raw)
    try:
        return parse_decimal(raw, locale=locale, strict=True)
    except NumberFormatError:
        raise AmountError(f"Enter the amount as a number, like {example} or 1234.50.") from None
