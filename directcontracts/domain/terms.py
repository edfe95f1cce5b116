"""Rules for the terms of a contract: limits on amounts, milestones and text.

Validation returns field → message dicts so the web layer can show each error
beside its field; nothing here knows about forms or HTTP. The limits and
defaults themselves live in ``rules``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .fees import fee_on
from . import rules
from .locales import DEFAULT_LOCALE, AmountError, read_amount
from .money import SUPPORTED_CURRENCIES, Money, precision, total
from .rules import SHOP_DEFAULTS, check_text


@dataclass(frozen=True)
class Limits:
    """Shop limits; amounts are in major units of the contract currency.

    The text lengths are fixed (``rules``), not the shop's to change.
    """

    min_amount: Decimal = SHOP_DEFAULTS.min_amount
    max_amount: Decimal = SHOP_DEFAULTS.max_amount
    max_milestones: int = rules.MAX_MILESTONES

    @property
    def max_title(self) -> int:
        return rules.TITLE.max_length

    @property
    def max_description(self) -> int:
        return rules.DESCRIPTION.max_length

    @property
    def max_scope(self) -> int:
        return rules.SCOPE.max_length


#: What an amount column holds (a signed 64-bit BIGINT, in minor units). A
#: contract's total, and so every sum of its ledger entries, must fit in it too.
MAX_MINOR = 2**63 - 1


def largest_max_amount(max_milestones: int = Limits.max_milestones) -> Decimal:
    """The largest per-milestone maximum (major units) the database can take.

    ``max_milestones`` milestones each at that maximum must add up to at most
    ``MAX_MINOR`` minor units in every supported currency. Whole units, so the
    limit converts exactly into currencies without decimals (JPY).
    """
    scale = 10 ** max(precision(c) for c in SUPPORTED_CURRENCIES)
    return Decimal(MAX_MINOR // (max_milestones * scale))


def check_limits(min_amount: Decimal, max_amount: Decimal,
                 max_milestones: int = Limits.max_milestones) -> dict[str, str]:
    """Field → message for amount limits the shop cannot hold; empty when they are fine."""
    errors: dict[str, str] = {}
    largest = largest_max_amount(max_milestones)
    if max_amount > largest:
        errors["max_amount"] = (f"Enter a maximum of at most {largest:,}: a contract of {max_milestones} "
                                f"milestones at the maximum must fit in the database.")
    if min_amount > largest:
        errors["min_amount"] = f"Enter a minimum of at most {largest:,}."
    return errors


@dataclass
class MilestoneInput:
    """A milestone as typed, and what it parsed to."""

    title: str = ""
    amount_text: str = ""
    due_text: str = ""
    description: str = ""
    amount: Money | None = None
    due_date: date | None = None
    errors: dict[str, str] = field(default_factory=dict)


def limit_in(major: Decimal, currency: str, rounding: str) -> Money:
    """A shop limit (major units, up to 3 decimals) in a currency that may have fewer decimals.

    Rounded inwards (minimum up, maximum down), so that 1,000,000.50 allows
    ¥1,000,000 in JPY and never an amount above the owner's maximum.
    """
    minor = Decimal(str(major)).scaleb(precision(currency)).to_integral_value(rounding=rounding)
    return Money(int(minor), currency)


def check_amount(amount: Money, limits: Limits, locale: str = DEFAULT_LOCALE) -> str | None:
    """Message if ``amount`` is outside the shop's limits (written as ``locale`` writes amounts), else None."""
    low = limit_in(limits.min_amount, amount.currency, ROUND_CEILING)
    high = limit_in(limits.max_amount, amount.currency, ROUND_FLOOR)
    if amount.minor <= 0:
        return "The amount must be more than zero."
    if amount < low:
        return f"The minimum is {low.format(locale)}."
    if amount > high:
        return f"The maximum is {high.format(locale)}."
    return None


def parse_amount(text: str, currency: str, limits: Limits,
                 locale: str = DEFAULT_LOCALE) -> tuple[Money | None, str | None]:
    """Read an amount as a person using ``locale`` types it (or in the plain form "1234.50") and
    limit-check it; returns (money, error).

    More decimals than the currency has (ISO 4217: JPY none, KWD three) are refused, never rounded.
    """
    try:
        value = read_amount(text, locale)
    except AmountError as exc:
        return None, str(exc)
    digits = precision(currency)
    if value.as_tuple().exponent < -digits:
        if digits == 0:
            return None, f"{currency} amounts have no decimals."
        return None, f"{currency} amounts have at most {digits} decimals."
    amount = Money(int(value.scaleb(digits)), currency)
    error = check_amount(amount, limits, locale)
    return (None, error) if error else (amount, None)


def parse_milestone(
    *, title: str, amount_text: str, due_text: str, description: str,
    currency: str, today: date, limits: Limits, locale: str = DEFAULT_LOCALE,
) -> MilestoneInput:
    """Validate one milestone row; ``errors`` is empty when it is good."""
    m = MilestoneInput(
        title=(title or "").strip(), amount_text=(amount_text or "").strip(),
        due_text=(due_text or "").strip(), description=(description or "").strip(),
    )
    if err := check_text(m.title, rules.TITLE):
        m.errors["title"] = err
    m.amount, err = parse_amount(m.amount_text, currency, limits, locale)
    if err:
        m.errors["amount"] = err
    if m.due_text:
        try:
            m.due_date = date.fromisoformat(m.due_text)
        except ValueError:
            m.errors["due_date"] = "Enter the due date as YYYY-MM-DD."
        else:
            if m.due_date < today:
                m.errors["due_date"] = "The due date is in the past."
    if err := check_text(m.description, rules.DESCRIPTION):
        m.errors["description"] = err
    return m


@dataclass(frozen=True)
class Summary:
    """What the client pays, the fee the freelancer pays, and what they receive."""

    total: Money
    fee: Money
    net: Money
    fee_bps: int


def summarize(amounts: list[Money], currency: str, fee_bps: int) -> Summary:
    """Total of the milestones, the fee on it (paid by the freelancer) and the net."""
    gross = total(amounts, currency)
    fee = fee_on(gross, fee_bps)
    return Summary(total=gross, fee=fee, net=gross - fee, fee_bps=fee_bps)
