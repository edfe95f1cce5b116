"""Money as integer minor units plus an ISO 4217 currency.

Precision comes from Babel's copy of the CLDR/ISO tables (JPY has no minor
unit, KWD has three). Parsing happens at the form boundary, formatting at the
template boundary; everything in between is integer arithmetic.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision

#: Currencies a contract may be written in (the form offers these).
SUPPORTED_CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "KWD")


class MoneyError(ValueError):
    """An amount the user typed cannot be read as money; the message says why."""


def precision(currency: str) -> int:
    """Number of decimals of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    return get_currency_precision(currency)


#: ASCII digits only (``\d`` would take Arabic-Indic or full-width digits); commas only between
#: groups of three ("1,250.50", never "1,0,0"); a decimal point with the decimals after it.
_AMOUNT_RE = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+")


def plain_decimal(text: str | None) -> Decimal:
    """A non-negative number as typed ("1,250.50", "5"), in the same ASCII format ``Money.parse`` reads.

    Raises ``MoneyError`` for anything else (other digits, stray commas, signs, exponents).
    """
    raw = (text or "").strip()
    if not _AMOUNT_RE.fullmatch(raw):
        raise MoneyError("Enter the amount as a number, like 1250.00.")
    return Decimal(raw.replace(",", ""))


@lru_cache(maxsize=8192)
def _formatted(minor: int, currency: str, locale: str) -> str:
    """Babel's form of an amount: the same text for the same three values, so kept (Babel takes ~0.1 ms a call,
    and a page shows dozens of amounts, mostly the same ones again)."""
    return format_currency(Decimal(minor).scaleb(-precision(currency)), currency, locale=locale)


@dataclass(frozen=True)
class Money:
    """An amount in minor units (cents) of one currency."""

    minor: int
    currency: str

    def __post_init__(self):
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money.minor must be an int")

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str | None, currency: str) -> "Money":
        """Read what a person typed ("1,250.50", " 30 ") into Money.

        ASCII digits, commas between groups of three and surrounding spaces are
        accepted; other digits (``١٠٠``, ``１００``), stray commas (``1,0,0``), signs,
        exponents and more decimals than the currency has are refused.
        """
        raw = (text or "").strip()
        if not raw:
            raise MoneyError("Enter an amount.")
        if raw.startswith("-"):
            raise MoneyError("The amount must be more than zero.")
        if not _AMOUNT_RE.fullmatch(raw):
            raise MoneyError("Enter the amount as a number, like 1250.00.")
        raw = raw.replace(",", "")
        digits = precision(currency)
        if "." in raw:
            decimals = raw.split(".", 1)[1]
            if len(decimals) > digits:
                if digits == 0:
                    raise MoneyError(f"{currency} amounts have no decimals.")
                raise MoneyError(f"{currency} amounts have at most {digits} decimals.")
        try:
            value = Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the regex already refuses these
            raise MoneyError("Enter the amount as a number, like 1250.00.") from None
        return cls(int(value.scaleb(digits)), currency)

    @classmethod
    def from_major(cls, major: Decimal | int | str, currency: str) -> "Money":
        """Exact conversion of a major-unit amount (e.g. Decimal("5.00"))."""
        value = Decimal(str(major)).scaleb(precision(currency))
        if value != value.to_integral_value():
            raise MoneyError(f"{major} has more decimals than {currency} allows.")
        return cls(int(value), currency)

    def as_decimal(self) -> Decimal:
        """The amount in major units, exact."""
        return Decimal(self.minor).scaleb(-precision(self.currency))

    def to_plain(self) -> str:
        """Plain decimal string with exactly the currency's decimals ("12.30", "1500").

        This is the form Braintree expects and the value put back into inputs.
        """
        digits = precision(self.currency)
        return f"{self.as_decimal():.{digits}f}"

    def format(self, locale: str = "en_US") -> str:
        """Human form with symbol and grouping, e.g. "$1,250.00" or "¥1,500"."""
        return _formatted(self.minor, self.currency, locale)

    def __str__(self) -> str:
        return self.format()

    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __lt__(self, other: "Money") -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: "Money") -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: "Money") -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: "Money") -> bool:
        self._same(other)
        return self.minor >= other.minor


def total(amounts, currency: str) -> Money:
    """Sum of Money values (or of nothing) in one currency."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
