"""Configuration: environment parsing and the production safety checks."""
import pytest

from directcontracts.config import ConfigError, check_production, from_environment, parse_merchant_accounts

KEYS = {"BRAINTREE_MERCHANT_ID": "m", "BRAINTREE_PUBLIC_KEY": "p", "BRAINTREE_PRIVATE_KEY": "k"}


def test_refuses_to_start_without_a_real_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        check_production({} | KEYS)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        check_production({"SECRET_KEY": "short"} | KEYS)
    check_production({"SECRET_KEY": "x" * 32} | KEYS)


def test_refuses_the_test_gateway_in_production_unless_allowed():
    with pytest.raises(ConfigError, match="Braintree is not configured"):
        check_production({"SECRET_KEY": "x" * 32})
    check_production({"SECRET_KEY": "x" * 32, "ALLOW_TEST_GATEWAY": True})


def test_demo_debug_and_testing_are_exempt():
    for flag in ("DEMO", "DEBUG", "TESTING"):
        check_production({flag: True})


def test_environment_parsing():
    env = {"DATABASE_URL": "postgres://u@h/db", "MAIL_PORT": "2525", "MAIL_USE_TLS": "true", "DEMO": "1",
           "MAIL_TIMEOUT": "5", "UNRELATED": "x"}
    config = from_environment(env)
    assert config == {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@h/db", "MAIL_PORT": 2525,
                      "MAIL_USE_TLS": True, "DEMO": True, "MAIL_TIMEOUT": 5}
    assert parse_merchant_accounts("usd=acct_usd, EUR=acct_eur") == {"USD": "acct_usd", "EUR": "acct_eur"}
    assert from_environment({"RATELIMIT_ENABLED": "0"}) == {"RATELIMIT_ENABLED": False}  # make load only
