"""Fixtures for the payment adapters: the Braintree stand-in and adapters wired to it."""
from __future__ import annotations

import pytest

from directcontracts.payments.braintree_adapter import BraintreeAdapter
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
