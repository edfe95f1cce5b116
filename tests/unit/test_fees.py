"""The fee rule: half-up on the cumulative release, no cent drifts."""
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, strategies as st

from directcontracts.domain.fees import (
    bps_from_percent, fee_for_release, fee_on, percent_label, round_half_up_bps,
)
from directcontracts.domain.money import Money


def reference(amount_minor: int, bps: int) -> int:
    """The definition, in Decimal: round_half_up(rate × amount)."""
    return int((Decimal(amount_minor) * Decimal(bps) / Decimal(10000)).quantize(Decimal(1), ROUND_HALF_UP))


@pytest.mark.parametrize("amount, bps, fee", [
    (100000, 340, 3400),  # $1,000.00 → $34.00
    (1471, 340, 50),      # 50.014 → 50
    (1475, 340, 50),      # 50.15 → 50
    (1500, 340, 51),      # 51.0 exactly
    (4412, 340, 150),     # 150.008 → 150
    (25, 200, 1),         # 0.5 rounds half up → 1
    (0, 340, 0),
])
def test_examples(amount, bps, fee):
    assert round_half_up_bps(amount, bps) == fee


@given(st.integers(min_value=0, max_value=10**13), st.integers(min_value=0, max_value=10000))
def test_integer_rule_matches_decimal_definition(amount, bps):
    assert round_half_up_bps(amount, bps) == reference(amount, bps)


@given(
    st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=50),
    st.integers(min_value=0, max_value=2000),
    st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_fees_over_any_split_sum_to_fee_of_total(parts, bps, currency):
    released, fees = Money(0, currency), Money(0, currency)
    for part in parts:
        amount = Money(part, currency)
        fee = fee_for_release(amount, released, fees, bps)
        assert 0 <= fee.minor <= part  # a release never costs more than it pays
        released, fees = released + amount, fees + fee
    assert fees == fee_on(released, bps)
    assert fees.minor == reference(sum(parts), bps)


def test_percent_helpers():
    assert bps_from_percent("3.4") == 340
    assert bps_from_percent("0") == 0
    assert percent_label(340) == "3.4%"
    assert percent_label(300) == "3%"
    for bad in ("3.456", "-1", "101"):
        with pytest.raises(ValueError):
            bps_from_percent(bad)
