"""The sandbox's rules on their own (the TestGateway's tests exercise them through charges)."""
from __future__ import annotations

from decimal import Decimal

from directcontracts.payments.sandbox_rules import sandbox_outcome


def test_a_fixed_nonce_outcome_wins_over_the_amount():
    assert sandbox_outcome("fake-gateway-rejected-fraud-nonce", Decimal("2001")).status == "gateway_rejected"
    assert sandbox_outcome("fake-processor-declined-visa-nonce", Decimal("5001")).processor_code == "2000"
    assert sandbox_outcome("fake-valid-nonce", Decimal("10"), submit_for_settlement=False).status == "authorized"
