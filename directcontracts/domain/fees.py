"""The processing fee rule: the freelancer pays it, the client never does.

The rate is held in basis points (340 = 3.4%; the default is ``rules.SHOP_DEFAULTS``) so that every computation is
integer arithmetic. Rounding is half-up on the cumulative released amount, so
the total fee of a contract is exactly ``round_half_up(rate × total released)``
whatever the split into milestones: no cent drifts.
"""
from __future__ import annotations

from decimal import Decimal

from .money import Money

BPS_DENOMINATOR = 10_000


def round_half_up_bps(amount_minor: int, fee_bps: int) -> int:
    """``round_half_up(amount × bps / 10000)`` for non-negative integers, exactly."""
    if amount_minor < 0 or fee_bps < 0:
        raise ValueError("fee arithmetic is defined for non-negative amounts and rates")
    return (2 * amount_minor * fee_bps + BPS_DENOMINATOR) // (2 * BPS_DENOMINATOR)


def fee_on(amount: Money, fee_bps: int) -> Money:
    """Fee owed on a total released amount."""
    return Money(round_half_up_bps(amount.minor, fee_bps), amount.currency)


def fee_for_release(
    releasing: Money, released_before: Money, fees_before: Money, fee_bps: int
) -> Money:
    """Fee to deduct from one release, given what was released and charged before.

    ``fee(cumulative after) − fees already charged``: the sum over all releases
    telescopes to ``fee(total released)``.
    """
    cumulative = released_before + releasing
    return fee_on(cumulative, fee_bps) - fees_before


def bps_from_percent(percent: str | Decimal) -> int:
    """"3.4" → 340. Refuses rates with more precision than a basis point."""
    value = Decimal(str(percent)) * 100
    if value != value.to_integral_value() or value < 0 or value > BPS_DENOMINATOR:
        raise ValueError("The fee must be a percentage between 0 and 100 with at most two decimals.")
    return int(value)


def percent_label(fee_bps: int) -> str:
    """340 → "3.4%"; 300 → "3%"."""
    value = (Decimal(fee_bps) / 100).normalize()
    return f"{value:f}%"
