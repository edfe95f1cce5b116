"""The domain's rules are the one home of every length and default: the schema agrees with them."""
from decimal import Decimal

import pytest

from directcontracts.domain import rules
from directcontracts.domain.rules import TextRule, check_text
from directcontracts.domain.terms import Limits
from directcontracts.models import (
    Acceptance, Contract, Member, Milestone, OutboxEmail, PaymentAttempt, ShopSettings,
)

COLUMNS = [
    (Member.__table__.c.name, rules.MEMBER_NAME.max_length),
    (Member.__table__.c.email, rules.EMAIL_LENGTH),
    (ShopSettings.__table__.c.shop_name, rules.SHOP_NAME.max_length),
    (Contract.__table__.c.client_name, rules.CLIENT_NAME.max_length),
    (Contract.__table__.c.client_email, rules.EMAIL_LENGTH),
    (Contract.__table__.c.client_company, rules.CLIENT_COMPANY.max_length),
    (Contract.__table__.c.title, rules.TITLE.max_length),
    (Milestone.__table__.c.title, rules.TITLE.max_length),
    (Milestone.__table__.c.deliverable_url, rules.DELIVERABLE_URL.max_length),
    (Acceptance.__table__.c.signer_name, rules.SIGNER_NAME.max_length),
    (OutboxEmail.__table__.c.to_addr, rules.EMAIL_LENGTH),
    (PaymentAttempt.__table__.c.paypal_email, rules.EMAIL_LENGTH),
]


@pytest.mark.parametrize(("column", "length"), COLUMNS, ids=[str(column) for column, _ in COLUMNS])
def test_string_columns_are_as_long_as_the_rules_allow(column, length):
    assert column.type.length == length


def test_shop_defaults_are_the_columns_defaults_and_the_limits_defaults():
    table = ShopSettings.__table__.c
    for name, value in vars(rules.SHOP_DEFAULTS).items():
        assert table[name].default.arg == value, name
    assert (Limits().min_amount, Limits().max_amount) == (Decimal("5"), Decimal("1000000"))
    assert Limits().max_milestones == rules.MAX_MILESTONES == 50
    assert (Limits().max_title, Limits().max_description, Limits().max_scope) == (200, 5000, 20000)


def test_a_rule_says_what_is_missing_and_what_is_too_long():
    rule = TextRule(3, "Enter it.", "Keep it under {max} characters (it has {length}).")
    assert check_text("", rule) == "Enter it."
    assert check_text("abc", rule) is None
    assert check_text("abcd", rule) == "Keep it under 3 characters (it has 4)."
    assert check_text("", TextRule(3)) is None  # optional
    assert check_text("a", rules.SIGNER_NAME) == "Type your full name to sign."
    assert check_text("x" * 20001, rules.SCOPE) == "Keep the scope under 20,000 characters (it has 20,001)."
