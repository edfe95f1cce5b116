"""``flask doctor``'s Braintree lines against the stand-in: the keys, and a merchant account per shop currency."""
from __future__ import annotations

from directcontracts.services import health
from tests.services.conftest import accepted_contract  # noqa: F401  (a fixture)


def by_item(checks) -> dict:
    return {c.item: c for c in checks}


def test_credentials_and_each_currency(app, make_adapter):
    app.extensions["gateway"] = make_adapter()  # USD and EUR accounts; the conftest's fixture puts it back
    checks = by_item(health.check_gateway())
    assert checks["Braintree"].status == "ok" and "credentials accepted" in checks["Braintree"].message
    assert checks["merchant account USD"].status == "ok" and "usd_account" in checks["merchant account USD"].message
    assert checks["merchant account EUR"].status == "ok"
    # a currency no contract uses yet: a warning, not a failure
    assert checks["merchant account GBP"].status == "warn"
    assert "GBP=<account id>" in checks["merchant account GBP"].message
    assert not health.failed(list(checks.values()))


def test_a_currency_in_use_without_an_account_fails(app, make_adapter, accepted_contract, db):  # noqa: F811
    from directcontracts.models import Contract
    db.session.get(Contract, accepted_contract).currency = "GBP"
    db.session.commit()
    app.extensions["gateway"] = make_adapter()
    checks = by_item(health.check_gateway())
    assert checks["merchant account GBP"].status == "fail" and "(some exist)" in checks["merchant account GBP"].message
    db.session.get(Contract, accepted_contract).currency = "USD"
    db.session.commit()


def test_wrong_keys_are_named(app, make_adapter):
    app.extensions["gateway"] = make_adapter(private_key="not-the-key")
    (check,) = health.check_gateway()
    assert check.status == "fail" and "BRAINTREE_PRIVATE_KEY" in check.message and "refused" in check.message


def test_an_account_braintree_does_not_know_fails(app, make_adapter):
    app.extensions["gateway"] = make_adapter(merchant_accounts={"USD": "usd_account", "EUR": "typo_account"})
    checks = by_item(health.check_gateway())
    assert checks["merchant account EUR"].status == "fail" and "typo_account refused" in checks["merchant account EUR"].message
    assert checks["merchant account USD"].status == "ok"


def test_no_accounts_at_all_fails(app, make_adapter):
    app.extensions["gateway"] = make_adapter(merchant_accounts={})
    checks = by_item(health.check_gateway())
    assert checks["merchant accounts"].status == "fail" and "BRAINTREE_MERCHANT_ACCOUNTS" in checks["merchant accounts"].message


def test_unreachable_gateway(app, make_adapter, standin):
    app.extensions["gateway"] = make_adapter()
    standin.stop()
    (check,) = health.check_gateway()
    assert check.status == "fail" and "could not" in check.message


def test_test_gateway_outside_the_demo_is_a_warning(app, monkeypatch):
    monkeypatch.setitem(app.config, "TESTING", False)
    (check,) = health.check_gateway()
    assert check.status == "warn" and "BRAINTREE_" in check.message
