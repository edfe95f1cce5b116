"""Configuration: environment parsing and the production safety checks."""
import pytest

from directcontracts.config import ConfigError, check_production, from_environment, parse_merchant_accounts

KEYS = {"BRAINTREE_MERCHANT_ID": "m", "BRAINTREE_PUBLIC_KEY": "p", "BRAINTREE_PRIVATE_KEY": "k",
        "MAIL_SERVER": "smtp.example.com"}


def test_refuses_to_start_without_a_real_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        check_production({} | KEYS)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        check_production({"SECRET_KEY": "short"} | KEYS)
    check_production({"SECRET_KEY": "x" * 32} | KEYS)


def test_refuses_the_test_gateway_in_production_unless_allowed():
    with pytest.raises(ConfigError, match="Braintree is not configured"):
        check_production({"SECRET_KEY": "x" * 32, "MAIL_SERVER": "smtp.example.com"})
    check_production({"SECRET_KEY": "x" * 32, "MAIL_SERVER": "smtp.example.com", "ALLOW_TEST_GATEWAY": True})


def test_refuses_the_local_inbox_in_production_unless_allowed():
    """Without a mail server no client would ever get their link: a staging site must say it means it."""
    with pytest.raises(ConfigError, match="^MAIL_SERVER is not set"):
        check_production({"SECRET_KEY": "x" * 32} | KEYS | {"MAIL_SERVER": None})
    check_production({"SECRET_KEY": "x" * 32} | KEYS | {"MAIL_SERVER": None, "ALLOW_LOCAL_INBOX": True})
    assert from_environment({"ALLOW_LOCAL_INBOX": "1"}) == {"ALLOW_LOCAL_INBOX": True}


def test_a_number_that_is_not_one_is_named():
    with pytest.raises(ConfigError, match=r"^MAIL_PORT must be a whole number, not 'abc'\.$"):
        from_environment({"MAIL_PORT": "abc"})
    with pytest.raises(ConfigError, match=r"^BRAINTREE_READ_TIMEOUT must be a number of seconds"):
        from_environment({"BRAINTREE_READ_TIMEOUT": "soon"})
    assert from_environment({"BRAINTREE_READ_TIMEOUT": "12.5"}) == {"BRAINTREE_READ_TIMEOUT": "12.5"}


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
