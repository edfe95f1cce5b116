"""Fixtures for the payment adapters: the Braintree stand-in and adapters wired to it."""
from __future__ import annotations

import pytest

from directcontracts.payments.braintree_adapter import BraintreeAdapter
from directcontracts.payments.testgateway import TestGateway
from tests.braintree_standin import BraintreeStandin

#: Short enough to keep the timeout tests fast, long enough for a loaded CI box.
READ_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0


@pytest.fixture
def standin():
    """A fresh stand-in server per test (starting one takes a millisecond)."""
    with BraintreeStandin() as server:
        yield server


@pytest.fixture
def make_adapter(standin):
    """Build adapters against the stand-in; each is closed after the test."""
    adapters = []

    def make(**overrides) -> BraintreeAdapter:
        settings = dict(
            merchant_id=standin.merchant_id,
            public_key=standin.public_key,
            private_key=standin.private_key,
            environment=standin.url,
            merchant_accounts={"USD": "usd_account", "EUR": "eur_account"},
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
        settings.update(overrides)
        adapter = BraintreeAdapter(**settings)
        adapters.append(adapter)
        return adapter

    yield make
    for adapter in adapters:
        adapter.close()


@pytest.fixture
def adapter(make_adapter) -> BraintreeAdapter:
    """A BraintreeAdapter on the stand-in, with USD and EUR merchant accounts."""
    return make_adapter()


@pytest.fixture
def braintree_app(app, make_adapter):
    """The app's gateway is the Braintree adapter (short read timeout) for this test."""
    previous = app.extensions["gateway"]
    app.extensions["gateway"] = make_adapter()
    yield app.extensions["gateway"]
    app.extensions["gateway"] = previous


@pytest.fixture(params=["test", "braintree"])
def gw(request):
    """(gateway, settle) for the offline test gateway and for the Braintree adapter on the stand-in."""
    if request.param == "test":
        offline = TestGateway()
        return offline, offline.settle
    standin = request.getfixturevalue("standin")
    return request.getfixturevalue("adapter"), standin.settle


def reconcile(runner, when) -> str:
    """``payments reconcile`` as if it were ``when``; it must succeed."""
    result = runner.invoke(args=["payments", "reconcile", "--now", when.strftime("%Y-%m-%d %H:%M:%S")])
    assert result.exit_code == 0, result.output
    return result.output
